// Commands over observed flows: `flows` (what the network did), `learn
// propose|diff|accept` (a least-privilege policy from it) and `simulate`
// (what a candidate policy would do to it). Flows come from the control
// plane's flow store, or from captures (--pcap) through the same store
// and learner in this process, with no daemon.
#include <algorithm>

#include <boost/program_options.hpp>
#include <chrono>
#include <iostream>
#include <map>

#include "controlplane/flows/flow_store.h"
#include "common/time.h"
#include "controlplane/flows/pcap_flows.h"
#include "tools/cli/capture_bindings.h"
#include "controlplane/flows/record.h"
#include "controlplane/learn/learner.h"
#include "controlplane/store.h"
#include "dataplane/names/policy_names.h"
#include "proto/bulkhead.pb.h"
#include "rules/load.h"
#include "rules/match.h"
#include "rules/parser.h"
#include "tools/cli/classifier.h"
#include "tools/cli/cli.h"

namespace bulkhead::cli {
namespace po = boost::program_options;
namespace {

// Where flows come from, and which: options every command here shares.
// A moment given as a duration back from now ("2h", "7d") or as a time
// ("2026-11-24T10:00:00Z", unix seconds); unix ms.
int64_t moment(const std::string& text, const char* option) {
  int64_t v = 0;
  if (common::parse_duration(text, v)) return common::now_unix_ms() - v * 1000;
  if (common::parse_time(text, v)) return v * 1000;
  throw UsageError(std::string("--") + option + ": '" + text +
                   "' is neither a duration (1h, 24h, 7d) nor a time (2026-11-24T10:00:00Z)");
}

struct FlowSource {
  std::vector<std::string> pcaps;
  std::string since = "24h";
  std::string until;
  std::string controlplane;

  void add_options(po::options_description& o, const char* default_since) {
    since = default_since;
    o.add_options()("pcap", po::value(&pcaps)->multitoken(),
                    "read flows from these captures instead of the control plane (pcap or pcapng, plain or gzip; "
                    "Ethernet, raw IP, Linux cooked, BSD loopback; none by default)")(
        "since", po::value(&since)->default_value(default_since),
        "flows seen since then: a duration back (1h, 24h, 7d) or a time (not with --pcap)")(
        "until", po::value(&until), "and not after then (default: now), the same forms")(
        "controlplane", po::value(&controlplane), kControlplaneHelp);
  }

  std::string note;  // what the flows came from, for people

  // With `policy` (a rule set's names), a capture's connections are named
  // as that policy's dataplane would have bound them: answers from its
  // trusted resolvers, alive for their TTL plus its grace; without, by the
  // latest answer from any resolver.
  std::vector<pb::FlowAggregate> load(controlplane::flows::FlowQuery q, const po::variables_map& vm,
                                      const dataplane::names::PolicyNames* policy = nullptr) {
    if (!pcaps.empty()) {
      for (const char* name : {"since", "until"})
        if (vm.count(name) && !vm[name].defaulted())
          throw UsageError(std::string("--") + name + ": not with --pcap (a capture is read whole)");
      controlplane::flows::FlowStoreOptions opt;
      opt.capacity = 50'000'000;
      opt.retention_ms = INT64_MAX / 4;
      controlplane::flows::FlowStore store(opt);
      controlplane::flows::PcapStats stats;
      std::string error;
      // The capture's own DNS answers say which name each connection was
      // for: the question of the latest answer that gave its client the
      // destination before the connection began (with `policy`: the latest
      // alive, preferring one whose name the policy mentions); and its
      // ClientHello (same client, server and ports), which server name.
      CaptureBindings bindings;
      CaptureHellos hellos;
      const auto trusted = policy ? CaptureBindings::trusted_by(*policy) : nullptr;
      NameFinder finder([&](const DnsSeen& d) { bindings.add(d, trusted); }, [&](const SniSeen& h) { hellos.add(h); });
      if (!finder.feed_files(pcaps, error)) throw UsageError(error);
      auto name = [&](pb::FlowRecord& r) {
        const int64_t start_us = (r.start_ms() != 0 ? r.start_ms() : r.time_ms()) * 1000 + 999;
        if (policy == nullptr) {
          if (const auto* a = bindings.latest(r.src(), r.dst(), start_us)) r.set_dns_name(a->qname);
        } else {
          std::string found;
          bindings.alive(r.src(), r.dst(), start_us, policy->grace_seconds(), [&](const CaptureBindings::Answer& a) {
            if (found.empty()) found = a.qname;
            for (const auto* n : {&a.name, &a.qname})
              if (policy->mentions(*n)) {
                found = *n;
                return false;
              }
            return true;
          });
          if (!found.empty()) r.set_dns_name(found);
        }
        const auto* h = hellos.find(r.src(), static_cast<uint16_t>(r.src_port()), r.dst(), static_cast<uint16_t>(r.dst_port()));
        if (h != nullptr && h->sni && controlplane::flows::plausible_name(*h->sni)) r.set_sni(*h->sni);
      };
      if (!controlplane::flows::read_pcaps(pcaps,
                                           [&](std::vector<pb::FlowRecord>& batch) {
                                             for (auto& r : batch) {
                                               name(r);
                                               store.ingest(r);
                                             }
                                           },
                                           stats, error))
        throw UsageError(error);
      note = std::to_string(stats.files) + (stats.files == 1 ? " capture (" : " captures (") +
             std::to_string(stats.packets) + " packets, " + std::to_string(stats.connections) + " connections" +
             (stats.truncated ? ", " + std::to_string(stats.truncated) + " cut by the snapshot length" : "") +
             (stats.headers_cut ? ", " + std::to_string(stats.headers_cut) + " cut inside their headers and skipped" : "") +
             (stats.malformed ? ", " + std::to_string(stats.malformed) + " malformed packets skipped" : "") + ")";
      q.since_ms = 0;
      return store.query(q);
    }
    q.since_ms = moment(since, "since");
    q.until_ms = until.empty() ? 0 : moment(until, "until");
    if (q.until_ms != 0 && q.until_ms < q.since_ms) throw UsageError("--until is before --since");
    pb::CliRequest req;
    auto* f = req.mutable_flows();
    f->set_since_ms(q.since_ms);
    f->set_until_ms(q.until_ms);
    f->set_denied_only(q.denied_only);
    f->set_host(q.host);
    f->set_segment(q.segment);
    f->set_port(q.port);
    f->set_top(q.top);
    auto resp = controlplane_call(controlplane_endpoint(controlplane), req);
    if (!resp.ok()) {
      std::string why;
      for (const auto& e : resp.errors()) why += (why.empty() ? "" : "; ") + e;
      throw UsageError(why);
    }
    note = "the flow store, since " + since + (until.empty() ? "" : " until " + until);
    return {resp.flows().begin(), resp.flows().end()};
  }
};

std::string service(const pb::FlowAggregate& a) {
  const std::string p = rules::proto_name(static_cast<uint8_t>(a.protocol()));
  if (a.protocol() == 1 || a.protocol() == 58) return p + " type " + std::to_string(a.src_port());
  if (a.protocol() == 6 || a.protocol() == 17 || a.protocol() == 132) return p + "/" + std::to_string(a.dst_port());
  return p;
}

int cmd_flows(const std::vector<std::string>& args) {
  po::options_description o("options");
  FlowSource src;
  src.add_options(o, "1h");
  std::string host;
  controlplane::flows::FlowQuery q;
  o.add_options()("denied", "only flows denied (or that would be, in audit and learn mode)")(
      "host", po::value(&host), "only flows from or to this address (default: any)")(
      "segment", po::value(&q.segment), "only flows from or to this segment (default: any)")(
      "port", po::value(&q.port), "only flows to this service port (default: any)")("top", po::value(&q.top)->default_value(50),
                                                                      "the N flows with most connections (0: all)")(
      "json", "one JSON object per line (for a SIEM or jq)");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
                     "usage: bulkhead flows [--since 1h] [--denied] [--host IP] [--segment S] [--port P] [--top N] "
                     "[--json] [--pcap FILE...]\n\nThe flows the dataplanes observed, aggregated by source, "
                     "destination, protocol and service port; busiest first."))
    return kExitOk;
  q.denied_only = vm.count("denied") > 0;
  if (!host.empty() && !controlplane::flows::parse_address(host, q.host)) throw UsageError("--host: '" + host + "' is not an address");
  auto list = src.load(q, vm);
  if (vm.count("json")) {
    for (const auto& a : list) std::cout << controlplane::flows::to_json(a) << '\n';
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : list) {
    std::string verdicts;
    if (a.allowed()) verdicts += std::to_string(a.allowed()) + " allowed";
    if (a.would_deny()) verdicts += std::string(verdicts.empty() ? "" : ", ") + std::to_string(a.would_deny()) + " would-deny";
    if (a.denied()) verdicts += std::string(verdicts.empty() ? "" : ", ") + std::to_string(a.denied()) + " denied";
    // The names the destination was answered for (DNS) or asked by (SNI), the latest last.
    std::vector<std::string> seen;
    std::string names;
    for (const auto* list : {&a.dns_names(), &a.server_names()})
      for (const auto& n : *list)
        if (std::find(seen.begin(), seen.end(), n) == seen.end()) {
          names += (seen.empty() ? "" : ", ") + n;
          seen.push_back(n);
        }
    rows.push_back({controlplane::flows::format_address(a.src()) + (a.src_segment().empty() ? "" : " (" + a.src_segment() + ")"),
                    controlplane::flows::format_address(a.dst()) + (a.dst_segment().empty() ? "" : " (" + a.dst_segment() + ")") +
                        (names.empty() ? "" : " [" + names + "]"),
                    service(a), std::to_string(a.flows()), verdicts, std::to_string(a.bytes()), format_time(a.first_ms() / 1000),
                    format_time(a.last_ms() / 1000)});
  }
  print_table(std::cout, {"source", "destination", "service", "connections", "verdicts", "bytes", "first seen", "last seen"},
              rows);
  std::cerr << list.size() << (list.size() == 1 ? " flow" : " flows") << " from " << src.note << '\n';
  return kExitOk;
}

// Options of `learn propose|diff|accept`.
struct LearnArgs {
  FlowSource source;
  controlplane::learn::LearnOptions opt;
  std::string inventory, out, report_file;

  void add_options(po::options_description& o) {
    source.add_options(o, "24h");
    o.add_options()("inventory", po::value(&inventory), "segments from this file, a policy's segments: map (none by default: segments inferred from the flows)")(
        "min-flows", po::value(&opt.min_flows)->default_value(opt.min_flows), "connections a service needs to become a rule")(
        "scan-targets", po::value(&opt.scan_targets)->default_value(opt.scan_targets),
        "a source trying this many targets, most unanswered, is scan-like")(
        "public-peers", po::value(&opt.public_peers)->default_value(opt.public_peers),
        "this many public addresses on one service make that side `internet`")(
        "exact-hosts", "never widen an inferred segment to its subnet")(
        "mode", po::value(&opt.mode)->default_value("enforce"), "mode of the proposed policy: enforce, audit or learn")(
        "report", po::value(&report_file), "write the report to FILE (default: standard error)");
  }

  controlplane::learn::Proposal run(const po::variables_map& vm) {
    if (opt.mode != "enforce" && opt.mode != "audit" && opt.mode != "learn")
      throw UsageError("--mode: '" + opt.mode + "' is not enforce, audit or learn");
    if (opt.min_flows == 0) throw UsageError("--min-flows: at least 1");
    opt.subnets = vm.count("exact-hosts") == 0;
    std::optional<pb::CompiledRuleSet> inv;
    if (!inventory.empty()) {
      auto r = rules::load_inventory_file(inventory);
      for (const auto& d : r.diagnostics)
        if (d.severity == rules::Diagnostic::Severity::error) std::cerr << d.str() << '\n';
      if (!r.ok()) throw UsageError("inventory " + inventory + " has errors");
      inv = std::move(*r.value);
    }
    const auto flows = source.load({}, vm);
    opt.source_note = source.note;
    auto p = controlplane::learn::propose(flows, inv ? &*inv : nullptr, opt);
    const std::string report = controlplane::learn::format_report(p);
    if (report_file.empty()) std::cerr << report;
    else write_file_atomic(report_file, report);
    return p;
  }
};

int cmd_propose(const std::vector<std::string>& args) {
  po::options_description o("options");
  LearnArgs la;
  la.add_options(o);
  o.add_options()("output,o", po::value(&la.out), "write the policy to FILE (default: standard output)");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
                     "usage: bulkhead learn propose [--since 24h | --pcap FILE...] [--inventory FILE] [--min-flows N] "
                     "[-o FILE]\n\nA least-privilege policy (default deny) from the observed flows, each rule with its "
                     "evidence; the report of how it decided goes to standard error."))
    return kExitOk;
  const auto p = la.run(vm);
  if (la.out.empty()) std::cout << p.policy;
  else write_file_atomic(la.out, p.policy);
  return kExitOk;
}

pb::StoredGeneration as_generation(const std::string& name, const std::string& text) {
  auto r = rules::load_policy(text, name);
  if (!r.ok()) throw UsageError(name + " does not compile");
  pb::StoredGeneration g;
  g.set_source_name(name);
  g.set_source_text(text);
  *g.mutable_compiled() = std::move(*r.value);
  return g;
}

// The control plane's current policy source, or nullopt when it has none.
std::optional<pb::CliResponse> current_source(const std::string& controlplane) {
  pb::CliRequest req;
  req.mutable_get();
  auto r = controlplane_call(controlplane_endpoint(controlplane), req);
  if (!r.ok()) return std::nullopt;
  return r;
}

int cmd_learn_diff(const std::vector<std::string>& args) {
  po::options_description o("options");
  LearnArgs la;
  la.add_options(o);
  po::variables_map vm;
  if (!parse_command(args, o, vm,
                     "usage: bulkhead learn diff [learn propose options]\n\nWhat the proposal changes against the "
                     "control plane's current generation. Exit 0 no change, 1 changes."))
    return kExitOk;
  const auto p = la.run(vm);
  const auto cur = current_source(la.source.controlplane);
  const auto proposed = as_generation("proposal", p.policy);
  const auto running = cur ? as_generation(cur->source_name(), cur->source_text()) : as_generation("(none)", "version: 1\n");
  const auto d = controlplane::diff_policies(running, proposed);
  const std::string text = d.text();
  std::cout << "generation " << (cur ? std::to_string(cur->generation()) : std::string("(none)")) << " -> proposal\n" << text;
  return d.added.empty() && d.removed.empty() && d.changed.empty() && !d.defaults_changed && d.segments_changed.empty()
             ? kExitOk
             : kExitNo;
}

int cmd_accept(const std::vector<std::string>& args) {
  po::options_description o("options");
  LearnArgs la;
  la.add_options(o);
  std::string message;
  double wait = 10;
  o.add_options()("message,m", po::value(&message), "why (default: what it was learned from)")(
      "wait", po::value(&wait)->default_value(10), "seconds to wait for every connected dataplane to enforce it")(
      "json", "machine-readable output");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
                     "usage: bulkhead learn accept [learn propose options] [-m MESSAGE] [--wait S]\n\nProposes and "
                     "applies the policy through the control plane's normal apply path (validation, analysis, "
                     "audit log)."))
    return kExitOk;
  const auto p = la.run(vm);
  if (message.empty()) message = "learned from " + la.source.note;
  return apply_source(controlplane_endpoint(la.source.controlplane), "learned.yaml", p.policy, message, false, wait,
                      vm.count("json") > 0);
}

rules::Tuple tuple_of(const pb::FlowAggregate& a) {
  rules::Tuple t;
  t.family = a.src().size() == 16 ? 6 : 4;
  std::copy(a.src().begin(), a.src().end(), t.src.begin());
  std::copy(a.dst().begin(), a.dst().end(), t.dst.begin());
  t.proto = static_cast<uint8_t>(a.protocol());
  t.sport = static_cast<uint16_t>(a.src_port());
  t.dport = static_cast<uint16_t>(a.dst_port());
  return t;
}

dataplane::FlowTuple flow_tuple(const rules::Tuple& t) {
  dataplane::FlowTuple f{};
  std::copy(t.src.begin(), t.src.end(), f.src);
  std::copy(t.dst.begin(), t.dst.end(), f.dst);
  f.family = t.family;
  f.proto = t.proto;
  f.sport = t.sport;
  f.dport = t.dport;
  return f;
}

int cmd_simulate(const std::vector<std::string>& args) {
  po::options_description o("options");
  FlowSource src;
  src.add_options(o, "24h");
  std::string file, against;
  size_t list = 20;
  o.add_options()("file", po::value(&file)->required(), "the candidate policy file (the first argument; required)")(
      "against", po::value(&against), "compare with this policy file (default: the control plane's current generation)")(
      "list", po::value(&list)->default_value(20), "flows to list of each change (0: all)")("json", "machine-readable output");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
                     "usage: bulkhead simulate POLICY [--since 24h | --pcap FILE...] [--against FILE] [--json]\n\n"
                     "Replays the observed flows against POLICY with the dataplane's compiler and classifier: per "
                     "rule, the connections it would allow or deny, and the flows newly blocked or newly allowed "
                     "compared with the running generation. Exit 0 nothing newly blocked, 1 some."))
    return kExitOk;
  const auto candidate = load_policy_or_throw(file, true);
  std::optional<pb::CompiledRuleSet> running;
  std::string running_name;
  if (!against.empty()) {
    running = load_policy_or_throw(against, true);
    running_name = against;
  } else {
    try {
      if (auto cur = current_source(src.controlplane)) {
        auto r = rules::load_policy(cur->source_text(), cur->source_name());
        if (r.ok()) {
          running = std::move(*r.value);
          running_name = "generation " + std::to_string(cur->generation());
        }
      }
    } catch (const UsageError& e) {
      if (src.pcaps.empty()) throw;
      std::cerr << "bulkhead: no comparison: " << e.what() << '\n';
    }
  }
  auto cand_cls = build_classifier(candidate);
  const auto flows = src.load({}, vm, cand_cls->names());
  std::unique_ptr<dataplane::RuleSet> run_cls;
  if (running) run_cls = build_classifier(*running);

  struct PerRule {
    uint64_t allowed = 0, denied = 0, flows = 0;
  };
  // A flow as a rule set judges it: its first packet as the dataplane
  // decides it, with the names the aggregate's connections were answered
  // for and the server names of their ClientHellos (none: a name condition
  // fails, as it does on a dataplane that saw no answer); `reason` says
  // which name decided, when one did.
  struct Judged {
    uint32_t rule = dataplane::kNoRule;
    std::string reason;
  };
  auto judge = [](const dataplane::RuleSet& rs, const pb::FlowAggregate& a, const dataplane::FlowTuple& t) {
    const std::vector<std::string> names(a.dns_names().begin(), a.dns_names().end());
    const std::vector<std::string> server_names(a.server_names().begin(), a.server_names().end());
    const auto d = decide_with_names(rs, t, 0, names, server_names);
    return Judged{d.rule, name_reason(rs, d, names, server_names)};
  };
  struct Listed {
    const pb::FlowAggregate* flow;
    std::string rule;    // the candidate's deciding rule
    std::string reason;  // the candidate's name_reason
    bool allow;
  };
  std::vector<PerRule> per_rule(static_cast<size_t>(candidate.rules_size()) + 1);  // last: the default
  std::vector<Listed> blocked, opened, named;
  uint64_t blocked_conns = 0, opened_conns = 0, total = 0;
  for (const auto& a : flows) {
    const auto t = flow_tuple(tuple_of(a));
    const auto judged = judge(*cand_cls, a, t);
    const uint32_t rule = judged.rule;
    const bool allow = cand_cls->allows(rule);
    PerRule& pr = per_rule[rule == dataplane::kNoRule ? per_rule.size() - 1 : rule];
    (allow ? pr.allowed : pr.denied) += a.flows();
    ++pr.flows;
    total += a.flows();
    const std::string by = rule == dataplane::kNoRule ? "default" : candidate.rules(static_cast<int>(rule)).id();
    if (!judged.reason.empty()) named.push_back({&a, by, judged.reason, allow});
    if (!run_cls) continue;
    const bool was = run_cls->allows(judge(*run_cls, a, t).rule);
    if (was && !allow) {
      blocked.push_back({&a, by, judged.reason, allow});
      blocked_conns += a.flows();
    } else if (!was && allow) {
      opened.push_back({&a, by, judged.reason, allow});
      opened_conns += a.flows();
    }
  }
  auto by_flows = [](const Listed& x, const Listed& y) { return x.flow->flows() > y.flow->flows(); };
  for (auto* v : {&blocked, &opened, &named}) std::stable_sort(v->begin(), v->end(), by_flows);
  auto describe = [](const pb::FlowAggregate& a) {
    return controlplane::flows::format_address(a.src()) + " -> " + controlplane::flows::format_address(a.dst()) + " " + service(a);
  };
  if (vm.count("json")) {
    nlohmann::ordered_json out;
    out["flows"] = flows.size();
    out["connections"] = total;
    out["rules"] = nlohmann::ordered_json::array();
    for (size_t i = 0; i < per_rule.size(); ++i) {
      const std::string id = i + 1 == per_rule.size() ? "(default)" : candidate.rules(static_cast<int>(i)).id();
      out["rules"].push_back(
          {{"id", id}, {"allowed", per_rule[i].allowed}, {"denied", per_rule[i].denied}, {"flows", per_rule[i].flows}});
    }
    out["compared_with"] = running_name;
    out["newly_blocked"] = blocked_conns;
    out["newly_allowed"] = opened_conns;
    for (const auto& [key, v] :
         {std::pair{"blocked", &blocked}, std::pair{"allowed", &opened}, std::pair{"decided_by_names", &named}}) {
      out[key] = nlohmann::ordered_json::array();
      for (size_t i = 0; i < v->size() && (list == 0 || i < list); ++i) {
        const Listed& l = (*v)[i];
        auto j = controlplane::flows::json_object(*l.flow);
        j["verdict"] = l.allow ? "allow" : "deny";
        j["rule"] = l.rule;
        if (!l.reason.empty()) j["name_reason"] = l.reason;
        out[key].push_back(std::move(j));
      }
    }
    std::cout << controlplane::flows::dump(out) << '\n';
    return blocked.empty() ? kExitOk : kExitNo;
  }
  std::cout << flows.size() << " flows (" << total << " connections) from " << src.note << " against " << file << "\n";
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < per_rule.size(); ++i) {
    const bool def = i + 1 == per_rule.size();
    const std::string id = def ? "(default " + std::string(candidate.default_action() == pb::ACTION_ALLOW ? "allow" : "deny") + ")"
                               : candidate.rules(static_cast<int>(i)).id();
    rows.push_back({id, std::to_string(per_rule[i].allowed), std::to_string(per_rule[i].denied), std::to_string(per_rule[i].flows)});
  }
  print_table(std::cout, {"rule", "allowed", "denied", "flows"}, rows);
  if (!named.empty()) {
    std::cout << "\ndecided by names:\n";
    for (size_t i = 0; i < named.size() && (list == 0 || i < list); ++i)
      std::cout << "  " << describe(*named[i].flow) << "  " << (named[i].allow ? "allow" : "deny") << " by "
                << named[i].rule << ": " << named[i].reason << " (" << named[i].flow->flows() << " connections)\n";
    if (list != 0 && named.size() > list) std::cout << "  ... and " << named.size() - list << " more\n";
  }
  if (!run_cls) {
    std::cout << "no running generation to compare with\n";
    return kExitOk;
  }
  std::cout << "\ncompared with " << running_name << ": " << blocked_conns << " connections newly blocked, "
            << opened_conns << " newly allowed\n";
  auto show = [&](const char* what, const auto& v) {
    if (v.empty()) return;
    std::cout << what << ":\n";
    for (size_t i = 0; i < v.size() && (list == 0 || i < list); ++i)
      std::cout << "  " << describe(*v[i].flow) << "  (" << v[i].flow->flows() << " connections; " << v[i].rule
                << (v[i].reason.empty() ? "" : ": " + v[i].reason) << ")\n";
    if (list != 0 && v.size() > list) std::cout << "  ... and " << v.size() - list << " more\n";
  };
  show("newly blocked", blocked);
  show("newly allowed", opened);
  return blocked.empty() ? kExitOk : kExitNo;
}

}  // namespace

void register_learn_commands() {
  auto& r = registry();
  r.push_back({"flows", "", "the flows observed: who talked to whom, on which service, with what verdict", cmd_flows});
  r.push_back({"learn", "propose", "a least-privilege policy learned from the observed flows", cmd_propose});
  r.push_back({"learn", "diff", "what the learned policy changes against the current generation", cmd_learn_diff});
  r.push_back({"learn", "accept", "apply the learned policy through the control plane", cmd_accept});
  r.push_back({"simulate", "", "what a candidate policy would allow and deny of the observed flows", cmd_simulate});
}

}  // namespace bulkhead::cli
