// `bulkhead policy fmt` and `bulkhead rule list|add|remove|move`: editing a
// policy file safely. Every edit is parsed, compiled and analysed as a whole
// before anything is written, and written atomically.
#include <boost/program_options.hpp>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "rules/analysis.h"
#include "common/text.h"
#include "common/time.h"
#include "rules/format.h"
#include "rules/load.h"
#include "rules/parser.h"
#include "tools/cli/cli.h"
#include "tools/cli/json_out.h"

namespace bulkhead::cli {
namespace po = boost::program_options;
namespace {

rules::Policy parse_or_throw(const std::string& text, const std::string& path) {
  auto r = rules::parse_policy(text, path);
  for (const auto& d : r.diagnostics)
    if (d.severity == rules::Diagnostic::Severity::error) std::cerr << d.str() << '\n';
  if (!r.ok()) throw UsageError("policy " + path + " has errors; nothing was changed");
  return std::move(*r.value);
}

// Where a rule command reads and writes the policy: a local file, or the
// control plane's store (its current generation) when no FILE is given.
struct Target {
  std::string file;      // local mode
  std::string endpoint;  // store mode
  std::string name;      // the policy's name in diagnostics
  std::string text;
};

// `edits`: the command writes the policy, and in store mode says why.
void add_target_options(po::options_description& o, bool edits) {
  o.add_options()("file", po::value<std::string>(),
                  "policy file (the first argument; default: the control plane's current policy, and an edit is "
                  "stored as its next generation)")("controlplane", po::value<std::string>(), kControlplaneHelp)(
      "tenant", po::value<std::string>(),
      "the rules of this tenant of the policy (default: the shared rules)");
  if (edits)
    o.add_options()("message,m", po::value<std::string>(),
                    "store mode: the message of the new generation (default: what was done, e.g. \"removed rule "
                    "ID\")");
}

// The --tenant a command works on ("": the shared rules).
std::string tenant_option(const po::variables_map& vm) {
  if (!vm.count("tenant")) return {};
  const auto& name = vm["tenant"].as<std::string>();
  if (name.empty()) throw UsageError("--tenant: give a tenant's name");
  return name;
}

// The list of rules a command works on: the shared rules, or with --tenant
// that tenant's.
const std::vector<rules::RuleDef>& rule_list(const rules::Policy& p, const std::string& tenant) {
  if (tenant.empty()) return p.rules;
  std::vector<std::string> known;
  for (const auto& t : p.tenants) {
    if (t.name == tenant) return t.rules;
    known.push_back(t.name);
  }
  throw unknown_tenant(tenant, known);
}

// " of tenant NAME" for messages about a tenant's rules.
std::string of_tenant(const std::string& tenant) { return tenant.empty() ? "" : " of tenant " + tenant; }

Target open_target(const po::variables_map& vm) {
  Target t;
  if (vm.count("file")) {
    t.file = vm["file"].as<std::string>();
    t.name = t.file;
    t.text = read_input(t.file);
    return t;
  }
  t.endpoint = controlplane_endpoint(vm.count("controlplane") ? vm["controlplane"].as<std::string>() : "");
  pb::CliRequest q;
  q.mutable_get();
  const auto r = controlplane_call(t.endpoint, q);
  if (!r.ok()) throw UsageError(r.errors_size() ? r.errors(0) : "the control plane has no policy to edit");
  t.name = r.source_name().empty() ? "generation " + std::to_string(r.generation()) : r.source_name();
  t.text = r.source_text();
  return t;
}

int commit_edit(const Target& target, const std::string& text, bool force, const std::string& done, bool json,
                const std::string& id, const po::variables_map& vm);

// Validates and analyses the edited text; writes it only when it is sound.
int commit_edit(const std::string& path, const std::string& text, bool force, const std::string& done, bool json,
                const std::string& id) {
  auto r = rules::load_policy(text, path);
  for (const auto& d : r.diagnostics) std::cerr << d.str() << '\n';
  if (!r.ok()) throw UsageError("the edited policy would not be valid; nothing was written");
  rules::AnalysisOptions opt;
  opt.now_unix = static_cast<int64_t>(std::time(nullptr));
  size_t errors = 0;
  for (const auto& f : rules::analyse(*r.value, opt)) {
    if (f.severity == rules::Finding::Severity::info) continue;
    const bool err = f.severity == rules::Finding::Severity::error;
    errors += err;
    std::cerr << f.str(path) << '\n';
  }
  if (errors > 0 && !force) {
    std::cerr << "bulkhead: the edit leaves rules shadowed by the opposite action; nothing was written (--force writes it)\n";
    return kExitNo;
  }
  write_file_atomic(path, text);
  if (json)
    std::cout << json_text({{"ok", true}, {"file", path}, {"rule", id}, {"done", done}, {"rules", r.value->rules_size()}})
              << '\n';
  else
    std::cout << done << '\n';
  return kExitOk;
}

int commit_edit(const Target& target, const std::string& text, bool force, const std::string& done, bool json,
                const std::string& id, const po::variables_map& vm) {
  if (!target.file.empty()) return commit_edit(target.file, text, force, done, json, id);
  pb::CliRequest q;
  q.mutable_apply()->set_source_name(target.name);
  q.mutable_apply()->set_source_text(text);
  q.mutable_apply()->set_message(vm.count("message") ? vm["message"].as<std::string>() : done);
  q.mutable_apply()->set_force(force);
  const auto r = controlplane_call(target.endpoint, q);
  for (const auto& e : r.errors()) std::cerr << e << '\n';
  for (const auto& w : r.warnings()) std::cerr << "warning: " << w << '\n';
  if (!r.ok()) {
    std::cerr << "bulkhead: the control plane refused the edit; nothing was stored\n";
    return kExitUsage;
  }
  if (json)
    std::cout << json_text({{"ok", true}, {"rule", id}, {"done", done}, {"generation", r.generation()}}) << '\n';
  else
    std::cout << done << ": generation " << r.generation() << '\n';
  return kExitOk;
}

// When a rule given --expires TEXT stops matching: TEXT is a duration from
// `now` or a UTC time after it. Anything else is an error, so that no typing
// slip writes a rule that never expires (or one already expired).
int64_t expiry_time(const std::string& text, int64_t now) {
  int64_t seconds = 0, at = 0;
  if (common::parse_duration(text, seconds)) return now + seconds;  // at most 100 years: no overflow
  if (!common::parse_time(text, at))
    throw UsageError("--expires: " + (text.empty() ? std::string("an empty value") : "'" + common::escaped(text) + "'") +
                     " is neither a duration (30m, 2h, 7d; at most " +
                     std::to_string(common::kMaxDurationSeconds / 86400) + "d) nor a UTC time (2026-11-24T18:00:00Z)");
  if (at <= now)
    throw UsageError("--expires: " + common::format_iso8601(at) + " has passed; give a later time or a duration");
  return at;
}

size_t index_of(const std::vector<rules::RuleDef>& list, const std::string& id, const std::string& tenant) {
  for (size_t i = 0; i < list.size(); ++i)
    if (list[i].id == id) return i;
  throw UsageError(tenant.empty() ? "no rule with id '" + id + "'"
                                  : "tenant " + tenant + " has no rule with id '" + id + "'");
}

int cmd_fmt(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string file, out;
  o.add_options()("file", po::value(&file)->required(), "the policy file (the first argument; required)")(
      "write,w", "rewrite FILE in place")(
      "output,o", po::value(&out), "write the formatted policy to this file (default: standard output)")(
      "check", "exit 1 when FILE is not formatted");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
               "usage: bulkhead policy fmt FILE [-w | -o OUT | --check]\n\nPrints the canonical form: fixed key order, "
               "one rule per line. The comment block at the top is kept; YAML keeps no other comments, so -w "
               "refuses a file that has more (-o writes a copy without them)."))
    return kExitOk;
  if (vm.count("write") + vm.count("output") + vm.count("check") > 1)
    throw UsageError("policy fmt: give one of -w, -o and --check");
  const std::string text = read_input(file);
  const auto policy = parse_or_throw(text, file);
  const std::string formatted = rules::format_policy(policy);
  if (vm.count("check")) {
    if (formatted == text) return kExitOk;
    std::cerr << file << ": not in canonical form (bulkhead policy fmt -w " << file << ")\n";
    return kExitNo;
  }
  if (vm.count("write") || !out.empty()) {
    size_t header = 0, comments = 0;
    bool in_header = true;
    std::istringstream ss(text);
    for (std::string l; std::getline(ss, l);) {
      const bool comment = l.find('#') != std::string::npos;
      if (in_header && l.rfind("#", 0) == 0) ++header;
      else in_header = false;
      if (!in_header && comment) ++comments;
    }
    if (comments > 0 && vm.count("write"))
      throw UsageError(file + " has comments below the header that formatting would drop; use -o to write a copy");
    write_file_atomic(out.empty() ? file : out, formatted);
    return kExitOk;
  }
  std::cout << formatted;
  return kExitOk;
}

int cmd_list(const std::vector<std::string>& args) {
  po::options_description o("options");
  add_target_options(o, false);
  o.add_options()("json", "machine-readable output");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
                     "usage: bulkhead rule list [FILE] [--tenant NAME] [--json] [--controlplane EP]\n\n"
                     "Lists the shared rules, or with --tenant a tenant's own (judged for it before the shared "
                     "ones)."))
    return kExitOk;
  const Target target = open_target(vm);
  const auto p = parse_or_throw(target.text, target.name);
  const std::string tenant = tenant_option(vm);
  const auto& list = rule_list(p, tenant);
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (vm.count("json")) {
    Json out = Json::array();
    for (size_t i = 0; i < list.size(); ++i)
      out.push_back({{"position", i},
                     {"id", list[i].id},
                     {"tenant", tenant.empty() ? Json() : Json(tenant)},
                     {"line", list[i].loc.line},
                     {"rule", rules::format_rule(list[i])},
                     {"expires_at", list[i].expires_at},
                     {"expired", list[i].expires_at != 0 && now >= list[i].expires_at}});
    std::cout << json_text(out) << '\n';
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& r = list[i];
    std::string exp = "-";
    if (r.expires_at != 0) {
      const int64_t left = r.expires_at - now;
      exp = left <= 0 ? "expired" : "in " + std::to_string(left / 60) + " min";
    }
    std::string from, to;
    for (const auto& x : r.from) from += (from.empty() ? "" : ",") + x.text;
    for (const auto& x : r.to)
      to += (to.empty() ? "" : ",") + (x.kind == rules::AddressItem::Kind::fqdn  ? "fqdn:" + x.pattern.text()
                                       : x.kind == rules::AddressItem::Kind::sni ? "sni:" + x.pattern.text()
                                                                                 : x.text);
    std::string ports;
    for (const auto& x : r.ports)
      ports += (ports.empty() ? "" : ",") + std::to_string(x.lo) + (x.hi != x.lo ? "-" + std::to_string(x.hi) : "");
    rows.push_back({std::to_string(i), r.id, r.action == rules::Action::allow ? "allow" : "deny",
                    from.empty() ? "any" : from, to.empty() ? "any" : to, r.any_proto ? "any" : r.proto_text,
                    ports.empty() ? "any" : ports, exp, std::to_string(r.loc.line)});
  }
  print_table(std::cout, {"pos", "id", "action", "from", "to", "proto", "ports", "expires", "line"}, rows);
  return kExitOk;
}

int cmd_add(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string id, action, proto, ports, sports, expires, description, before, after, mode;
  std::vector<std::string> from, to;
  int position = -1;
  add_target_options(o, true);
  o.add_options()("id", po::value(&id)->required(), "the new rule's id (required)")(
      "from", po::value(&from)->multitoken(), "segment, any or CIDR (repeatable; default: any)")(
      "to", po::value(&to)->multitoken(),
      "segment, any, CIDR, fqdn:NAME or sni:NAME (a name or \"*.domain\" pattern; repeatable; default: any)")(
      "proto", po::value(&proto), "tcp, udp, icmp, icmpv6, sctp, any or a number (default: any)")(
      "ports", po::value(&ports), "destination ports: 443 or 1024-2047, comma separated (default: any)")(
      "sports", po::value(&sports), "source ports, the same form (default: any)")(
      "action", po::value(&action)->default_value("allow"), "allow or deny")("log", "log what the rule decides")(
      "expires", po::value(&expires), "a just-in-time rule: a duration (30m, 2h, 1d) or a UTC time (2026-11-24T18:00:00Z) (none by default: "
      "no expiry)")(
      "description", po::value(&description), "free text kept with the rule (none by default)")(
      "mode", po::value(&mode), "the rule's own mode: enforce, audit or learn (default: its segments', else the policy's)")(
      "position", po::value(&position), "insert at this position (0 = first); default: append")(
      "before", po::value(&before), "insert before the rule with this id (none by default)")(
      "after", po::value(&after), "insert after the rule with this id (none by default)")(
      "force", "write even when the analysis finds errors")("json", "machine-readable output");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
               "usage: bulkhead rule add [FILE] [--tenant NAME] --id ID [--from X]... [--to Y]... [--proto P] [--ports LIST] "
               "[--sports LIST] [--action allow|deny] [--log] [--expires 2h|TIME] [--mode MODE] [--position N | --before ID | "
               "--after ID]\n\nAdds one rule to the shared rules (with --tenant, to that tenant's), checking the "
               "whole policy before it writes; the rest of the file, comments included, is kept as it is."))
    return kExitOk;
  const Target target = open_target(vm);
  const auto p = parse_or_throw(target.text, target.name);
  const std::string tenant = tenant_option(vm);
  const auto& rule_defs = rule_list(p, tenant);
  // Every value is one YAML scalar, so no option can add keys or items of
  // its own to the rule.
  auto scalar = [](const std::string& option, const std::string& value) {
    try {
      return rules::yaml_scalar(value);
    } catch (const std::invalid_argument&) {
      throw UsageError("--" + option + ": the value is not UTF-8");
    }
  };
  // `fqdn:NAME` and `sni:NAME` are name items (docs/egress.md), written
  // as the policy writes them; a list holding one is always bracketed.
  auto item = [&](const char* option, const std::string& v, bool& name) {
    for (const char* kind : {"fqdn:", "sni:"})
      if (v.rfind(kind, 0) == 0) {
        name = true;
        return std::string(kind) + " " + scalar(option, v.substr(std::strlen(kind)));
      }
    return scalar(option, v);
  };
  auto list = [&](const char* option, const std::vector<std::string>& v) {
    bool names = false;
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + item(option, v[i], names);
    return v.size() == 1 && !names ? s : "[" + s + "]";
  };
  auto port_list = [&](const char* option, const std::string& csv) {
    std::string s = "[";
    std::stringstream ss(csv);
    bool first = true;
    for (std::string item; std::getline(ss, item, ',');) {
      s += (first ? "" : ", ") + scalar(option, item);
      first = false;
    }
    return s + "]";
  };
  std::string line = "{ id: " + scalar("id", id);
  if (!from.empty()) line += ", from: " + list("from", from);
  if (!to.empty()) line += ", to: " + list("to", to);
  if (!proto.empty()) line += ", proto: " + scalar("proto", proto);
  if (!ports.empty()) line += ", ports: " + port_list("ports", ports);
  if (!sports.empty()) line += ", sports: " + port_list("sports", sports);
  line += ", action: " + scalar("action", action);
  if (vm.count("log")) line += ", log: true";
  if (!mode.empty()) line += ", mode: " + scalar("mode", mode);
  if (vm.count("expires"))
    line += ", expires: " + common::format_iso8601(expiry_time(expires, static_cast<int64_t>(std::time(nullptr))));
  if (!description.empty()) line += ", description: " + scalar("description", description);
  line += " }";
  size_t at = rule_defs.size();
  if (!before.empty()) at = index_of(rule_defs, before, tenant);
  else if (!after.empty()) at = index_of(rule_defs, after, tenant) + 1;
  else if (position >= 0) at = static_cast<size_t>(position);
  const auto edit = rules::insert_rule_text(p, tenant, at, line);
  if (!edit.error.empty()) throw UsageError(target.name + ": " + edit.error);
  return commit_edit(target, edit.text, vm.count("force") > 0,
                     "added rule " + id + " at position " + std::to_string(at) + of_tenant(tenant),
                     vm.count("json") > 0, id, vm);
}

int cmd_remove(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string id;
  add_target_options(o, true);
  o.add_options()("id", po::value(&id)->required(), "id of the rule to remove (required)")(
      "force", "write even when the analysis finds errors")(
      "json", "machine-readable output");
  po::variables_map vm;
  if (!parse_command(args, o, vm, "usage: bulkhead rule remove [FILE] [--tenant NAME] --id ID [--controlplane EP] [-m MESSAGE]"))
    return kExitOk;
  const Target target = open_target(vm);
  const auto p = parse_or_throw(target.text, target.name);
  const std::string tenant = tenant_option(vm);
  const auto edit = rules::remove_rule_text(p, tenant, index_of(rule_list(p, tenant), id, tenant));
  if (!edit.error.empty()) throw UsageError(target.name + ": " + edit.error);
  return commit_edit(target, edit.text, vm.count("force") > 0, "removed rule " + id + of_tenant(tenant),
                     vm.count("json") > 0, id, vm);
}

int cmd_move(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string id, before, after;
  int position = -1;
  add_target_options(o, true);
  o.add_options()("id", po::value(&id)->required(), "id of the rule to move (required)")(
      "position", po::value(&position), "new position (0 = first); this, --before or --after is required")(
      "before", po::value(&before), "move before the rule with this id (none by default)")(
      "after", po::value(&after), "move after the rule with this id (none by default)")("force", "write even when the analysis finds errors")(
      "json", "machine-readable output");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
                     "usage: bulkhead rule move [FILE] [--tenant NAME] --id ID (--position N | --before ID | --after ID) "
                     "[--controlplane EP] [-m MESSAGE]"))
    return kExitOk;
  const Target target = open_target(vm);
  const auto p = parse_or_throw(target.text, target.name);
  const std::string tenant = tenant_option(vm);
  const auto& rule_defs = rule_list(p, tenant);
  const size_t from = index_of(rule_defs, id, tenant);
  size_t to;
  if (!before.empty()) {
    to = index_of(rule_defs, before, tenant);
    if (to > from) --to;
  } else if (!after.empty()) {
    to = index_of(rule_defs, after, tenant);
    if (to < from) ++to;
  } else if (position >= 0) {
    to = static_cast<size_t>(position);
  } else {
    throw UsageError("rule move: give --position, --before or --after");
  }
  const auto edit = rules::move_rule_text(p, tenant, from, to);
  if (!edit.error.empty()) throw UsageError(target.name + ": " + edit.error);
  return commit_edit(target, edit.text, vm.count("force") > 0,
                     "moved rule " + id + " to position " + std::to_string(to) + of_tenant(tenant),
                     vm.count("json") > 0, id, vm);
}

}  // namespace

void register_rule_commands() {
  auto& r = registry();
  r.push_back({"policy", "fmt", "print or rewrite a policy in canonical form", cmd_fmt});
  r.push_back({"rule", "list", "list the rules of a policy", cmd_list});
  r.push_back({"rule", "add", "add a rule (--expires for just-in-time access)", cmd_add});
  r.push_back({"rule", "remove", "remove a rule", cmd_remove});
  r.push_back({"rule", "move", "move a rule to another position", cmd_move});
}

}  // namespace bulkhead::cli
