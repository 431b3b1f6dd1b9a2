#include "rules/parser.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <fstream>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/protocols.h"
#include "common/text.h"
#include "common/time.h"
#include "rules/compiler.h"
#include "rules/internet.h"
#include "rules/yaml_doc.h"

namespace bulkhead::rules {
namespace {

using yaml::Node;

struct IcmpName {
  uint8_t proto;
  const char* name;
  uint8_t type;
};

constexpr IcmpName kIcmpNames[] = {
    {common::kProtoIcmp, "echo-reply", 0},
    {common::kProtoIcmp, "destination-unreachable", 3},
    {common::kProtoIcmp, "source-quench", 4},
    {common::kProtoIcmp, "redirect", 5},
    {common::kProtoIcmp, "echo-request", 8},
    {common::kProtoIcmp, "router-advertisement", 9},
    {common::kProtoIcmp, "router-solicitation", 10},
    {common::kProtoIcmp, "time-exceeded", 11},
    {common::kProtoIcmp, "parameter-problem", 12},
    {common::kProtoIcmp, "timestamp-request", 13},
    {common::kProtoIcmp, "timestamp-reply", 14},
    {common::kProtoIcmpv6, "destination-unreachable", 1},
    {common::kProtoIcmpv6, "packet-too-big", 2},
    {common::kProtoIcmpv6, "time-exceeded", 3},
    {common::kProtoIcmpv6, "parameter-problem", 4},
    {common::kProtoIcmpv6, "echo-request", 128},
    {common::kProtoIcmpv6, "echo-reply", 129},
    {common::kProtoIcmpv6, "router-solicitation", 133},
    {common::kProtoIcmpv6, "router-advertisement", 134},
    {common::kProtoIcmpv6, "neighbor-solicitation", 135},
    {common::kProtoIcmpv6, "neighbor-advertisement", 136},
    {common::kProtoIcmpv6, "redirect", 137},
};

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

template <class T>
bool parse_uint(std::string_view s, T& out, uint64_t max) {
  uint64_t v = 0;
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return false;
  out = static_cast<T>(v);
  return true;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Text from the file inside an error message: quoted, escaped, cut short.
std::string quoted(std::string_view s) { return "'" + common::escaped(s) + "'"; }

std::string at(Location l) { return std::to_string(l.line) + ":" + std::to_string(l.column); }

// The edit distance of `a` and `b` when it is at most `limit`, else
// limit + 1: only a band around the diagonal is computed, so a comparison
// costs O(length x limit) whatever the strings.
size_t bounded_distance(std::string_view a, std::string_view b, size_t limit) {
  if (a.size() > b.size() + limit || b.size() > a.size() + limit) return limit + 1;
  const size_t big = limit + 1;
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = std::min(j, big);
  for (size_t i = 1; i <= a.size(); ++i) {
    const size_t lo = i > limit ? i - limit : 1, hi = std::min(b.size(), i + limit);
    cur[0] = std::min(i, big);
    if (lo > 1) cur[lo - 1] = big;
    for (size_t j = lo; j <= hi; ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1] ? 1u : 0u), big});
    if (hi < b.size()) cur[hi + 1] = big;
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// "unknown segment 'dbs' (did you mean 'db'?)": at most three names within
// two edits, or every name when there are only a few; never a list that
// grows with the policy.
std::string unknown_segment(std::string_view name, const std::vector<std::string>& known) {
  constexpr size_t kShowAll = 8, kSuggestions = 3, kDistance = 2;
  std::string msg = "unknown segment " + quoted(name);
  if (known.empty()) return msg + " (no segments are defined)";
  if (known.size() <= kShowAll) {
    std::vector<std::string> sorted = known;
    std::sort(sorted.begin(), sorted.end());
    return msg + " (defined: " + join(sorted) + ")";
  }
  std::vector<std::pair<size_t, const std::string*>> near;
  for (const auto& k : known) {
    const size_t d = bounded_distance(name, k, kDistance);
    if (d <= kDistance) near.emplace_back(d, &k);
  }
  std::sort(near.begin(), near.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : *a.second < *b.second;
  });
  if (near.empty()) return msg + " (" + std::to_string(known.size()) + " segments are defined; none is close)";
  msg += " (did you mean ";
  for (size_t i = 0; i < near.size() && i < kSuggestions; ++i)
    msg += (i == 0 ? "'" : i + 1 == std::min(near.size(), kSuggestions) ? " or '" : ", '") + *near[i].second + "'";
  return msg + "?)";
}

class Parser {
 public:
  Parser(std::string_view text, std::string_view file, bool inventory = false)
      : text_(text), file_(file), inventory_(inventory) {}

  Result<Policy> run() {
    Result<Policy> result;
    Policy policy;
    policy.source_name = file_;
    policy.source_text = text_;
    if (text_.size() > kPolicyLimits.max_bytes) {
      error(Location{}, too_large());
      return finish(result, std::move(policy));
    }
    yaml::ReadError read_error;
    yaml::ReadLimits read_limits;
    read_limits.max_depth = kPolicyLimits.max_depth;
    doc_ = yaml::read(text_, read_error, read_limits);
    if (!doc_) {
      error(Location{read_error.mark.line + 1, read_error.mark.column + 1}, "YAML syntax: " + read_error.message);
      return finish(result, std::move(policy));
    }
    const Node root = doc_->root();
    if (!root.IsMap()) {
      error(root, inventory_ ? "an inventory is a map with the key segments"
                             : "a policy is a map with keys version, defaults, segments, rules, tenants");
      return finish(result, std::move(policy));
    }
    if (inventory_) {
      check_keys(root, {"version", "segments"}, "inventory");
      if (root["version"]) parse_version(root["version"], root, policy);
      if (!root["segments"]) error(root, "an inventory needs a 'segments:' map");
      parse_segments(root["segments"], policy);
      return finish(result, std::move(policy));
    }
    check_keys(root, {"version", "defaults", "segments", "dns", "tls", "rules", "tenants"}, "policy");
    policy.place = rules_place(root, true);
    parse_version(root["version"], root, policy);
    parse_defaults(root["defaults"], policy);
    parse_segments(root["segments"], policy);
    policy_ = &policy;
    parse_dns(root["dns"], policy.dns);
    parse_tls(root["tls"], policy.tls);
    parse_rules(root["rules"], policy.rules, "rules");
    parse_tenants(root["tenants"], policy);
    check_resolvers(policy);
    // A tenant's list ends where the next tenant starts, the last one's
    // where the key after `tenants:` does.
    for (size_t k = 0; k < policy.tenants.size(); ++k)
      if (policy.tenants[k].place.after_rules_line == 0)
        policy.tenants[k].place.after_rules_line =
            k + 1 < policy.tenants.size() ? policy.tenants[k + 1].loc.line : line_after(root, "tenants");
    return finish(result, std::move(policy));
  }

  // Where the `rules:` list of `map` (the policy, or a tenant's map) sits.
  static RuleListPlace rules_place(const Node& map, bool top_level) {
    RuleListPlace place;
    place.map_inline = map.IsFlow();
    bool found = false;
    for (const auto& kv : map) {
      if (found) {
        place.after_rules_line = loc(kv.first).line;
        break;
      }
      if (kv.first.IsScalar() && kv.first.Scalar() == "rules") {
        place.rules_line = loc(kv.first).line;
        place.key_column = loc(kv.first).column;
        place.rules_inline = kv.second.IsSequence() && kv.second.IsFlow();
        found = true;
      } else if (place.insert_after == 0) {
        place.insert_after = loc(kv.first).line;
        place.key_column = loc(kv.first).column;
      }
    }
    // The top level's `rules:`, when absent, goes at the end of the file.
    if (!found && top_level) place = RuleListPlace{};
    return place;
  }

  // The line of the key after `key` in `map` (0: none).
  static uint32_t line_after(const Node& map, const char* key) {
    bool found = false;
    for (const auto& kv : map) {
      if (found) return loc(kv.first).line;
      found = kv.first.IsScalar() && kv.first.Scalar() == key;
    }
    return 0;
  }

  static std::string too_large() {
    return "the file is larger than " + std::to_string(kPolicyLimits.max_bytes >> 20) +
           " MiB, the most a policy file may hold";
  }

 private:
  // Diagnostics in file order, at most kPolicyLimits.max_diagnostics, then
  // one saying how many more there were.
  Result<Policy>& finish(Result<Policy>& result, Policy policy) {
    std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    const bool failed = errors_ > 0;
    if (unreported_ > 0)
      diags_.push_back(Diagnostic{failed ? Diagnostic::Severity::error : Diagnostic::Severity::warning,
                                  std::string(file_), 0, 0,
                                  std::to_string(unreported_) + " more problems not shown (the first " +
                                      std::to_string(kPolicyLimits.max_diagnostics) + " are)"});
    result.diagnostics = std::move(diags_);
    if (!failed) result.value = std::move(policy);
    return result;
  }

  // False when no more diagnostics are reported: the caller may skip the
  // work of building one.
  bool reporting() const { return diags_.size() < kPolicyLimits.max_diagnostics; }

  static Location loc(const Node& n) {
    if (!n) return {};
    const auto m = n.GetMark();
    return Location{m.line + 1, m.column + 1};
  }

  void report(Diagnostic::Severity severity, Location l, std::string msg) {
    if (severity == Diagnostic::Severity::error) ++errors_;
    if (!reporting()) {
      ++unreported_;
      return;
    }
    diags_.push_back(Diagnostic{severity, std::string(file_), l.line, l.column, std::move(msg)});
  }
  void error(Location l, std::string msg) { report(Diagnostic::Severity::error, l, std::move(msg)); }
  void error(const Node& n, std::string msg) { error(loc(n), std::move(msg)); }

  // Every key of `map` is one of `allowed`, written once.
  void check_keys(const Node& map, const std::vector<std::string>& allowed, const char* what) {
    std::vector<Location> seen(allowed.size());
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) {
        error(kv.first, std::string("keys of ") + what + " must be plain names");
        continue;
      }
      const auto& key = kv.first.Scalar();
      const auto it = std::find(allowed.begin(), allowed.end(), key);
      if (it == allowed.end()) {
        error(kv.first, "unknown key " + quoted(key) + " in " + what + " (allowed: " + join(allowed) + ")");
        continue;
      }
      Location& first = seen[static_cast<size_t>(it - allowed.begin())];
      if (first.line > 0)
        error(kv.first, "duplicate key '" + key + "' in " + what + " (first at " + at(first) + ")");
      else
        first = loc(kv.first);
    }
  }

  bool scalar(const Node& n, const char* what, std::string& out) {
    if (!n.IsScalar()) {
      error(n, std::string(what) + " must be a single value");
      return false;
    }
    out = n.Scalar();
    return true;
  }

  bool boolean(const Node& n, const char* what, bool& out) {
    std::string s;
    if (!scalar(n, what, s)) return false;
    if (s == "true" || s == "yes" || s == "on") out = true;
    else if (s == "false" || s == "no" || s == "off") out = false;
    else {
      error(n, std::string(what) + " must be true or false, not " + quoted(s));
      return false;
    }
    return true;
  }

  void parse_version(const Node& n, const Node& root, Policy& p) {
    if (!n) {
      error(root, "missing 'version: 1'");
      return;
    }
    std::string s;
    if (!scalar(n, "version", s)) return;
    if (!parse_uint(s, p.version, 1000) || p.version != 1)
      error(n, "unsupported policy version " + quoted(s) + " (this release reads version 1)");
  }

  bool parse_action(const Node& n, Action& out) {
    std::string s;
    if (!scalar(n, "action", s)) return false;
    if (s == "allow") out = Action::allow;
    else if (s == "deny") out = Action::deny;
    else {
      error(n, "action must be allow or deny, not " + quoted(s));
      return false;
    }
    return true;
  }

  bool parse_mode(const Node& m, PolicyMode& out) {
    std::string s;
    if (!scalar(m, "mode", s)) return false;
    if (s == "enforce") out = PolicyMode::enforce;
    else if (s == "audit") out = PolicyMode::audit;
    else if (s == "learn") out = PolicyMode::learn;
    else {
      error(m, "mode must be enforce, audit or learn, not " + quoted(s));
      return false;
    }
    return true;
  }

  // An optional mode (of a rule or a segment).
  void optional_mode(const Node& m, std::optional<PolicyMode>& out) {
    if (!m) return;
    PolicyMode mode;
    if (parse_mode(m, mode)) out = mode;
  }

  void parse_defaults(const Node& n, Policy& p) {
    if (!n) return;
    if (!n.IsMap()) {
      error(n, "defaults must be a map like { action: deny, mode: enforce }");
      return;
    }
    check_keys(n, {"action", "mode"}, "defaults");
    if (n["action"]) parse_action(n["action"], p.default_action);
    if (const auto m = n["mode"]) parse_mode(m, p.mode);
  }

  // Counts a name pattern written in the file; false past the limit
  // (reported once).
  bool count_name(const Node& n) {
    if (++names_ <= kPolicyLimits.max_name_patterns) return true;
    if (names_ == kPolicyLimits.max_name_patterns + 1)
      error(n, "more than " + std::to_string(kPolicyLimits.max_name_patterns) +
                   " name patterns in one policy (fqdn and sni, in rules and segments)");
    return false;
  }

  // `fqdn:` or `sni:`: a name or pattern, or a list of them (rules/names.h).
  void name_patterns(const Node& n, AddressItem::Kind kind, std::vector<AddressItem>& out) {
    const char* what = kind == AddressItem::Kind::fqdn ? "fqdn" : "sni";
    auto one = [&](const Node& node) {
      std::string s, why;
      if (!scalar(node, what, s) || !count_name(node)) return;
      auto pattern = parse_name_pattern(s, why);
      if (!pattern) {
        error(node, std::string(what) + " " + quoted(s) + ": " + why);
        return;
      }
      AddressItem item;
      item.kind = kind;
      item.text = s;
      item.pattern = std::move(*pattern);
      item.loc = loc(node);
      out.push_back(std::move(item));
    };
    if (n.IsSequence()) {
      if (n.size() == 0) error(n, std::string(what) + " is an empty list; give at least one name");
      for (const auto& x : n) one(x);
    } else if (n.IsScalar() && !n.IsNull()) {
      one(n);
    } else {
      error(n, std::string(what) + " must be a name, a pattern like \"*.example.com\", or a list of these");
    }
  }

  // A whole number in [range.min, range.max].
  void setting(const Node& n, const char* what, const NameSettingRange& range, std::optional<uint32_t>& out) {
    if (!n) return;
    std::string s;
    uint32_t v = 0;
    if (!scalar(n, what, s)) return;
    if (!parse_uint(s, v, range.max) || v < range.min) {
      error(n, std::string(what) + " must be a whole number from " + std::to_string(range.min) + " to " +
                   std::to_string(range.max) + ", not " + quoted(s));
      return;
    }
    out = v;
  }

  // `dns:`: which resolvers' answers bind names, and the binding table.
  void parse_dns(const Node& n, DnsDef& dns) {
    if (!n) return;
    dns.present = true;
    dns.loc = loc(n);
    if (!n.IsMap()) {
      error(n, "dns must be a map like { trusted: [resolvers], grace: 60 }");
      return;
    }
    check_keys(n, {"trusted", "grace", "max_addresses_per_name", "max_names", "max_bindings"}, "dns");
    if (const auto t = n["trusted"]) {
      address_items(t, dns.trusted, "trusted");
      for (auto it = dns.trusted.begin(); it != dns.trusted.end();) {
        if (it->kind == AddressItem::Kind::any) {
          error(it->loc, "dns trusted: 'any' would let every host's answers bind names; name the resolvers");
          it = dns.trusted.erase(it);
        } else {
          ++it;
        }
      }
    }
    setting(n["grace"], "grace", kNameDefaults.grace, dns.grace);
    setting(n["max_addresses_per_name"], "max_addresses_per_name", kNameDefaults.max_addresses_per_name,
            dns.max_addresses_per_name);
    setting(n["max_names"], "max_names", kNameDefaults.max_names, dns.max_names);
    setting(n["max_bindings"], "max_bindings", kNameDefaults.max_bindings, dns.max_bindings);
  }

  bool fallback(const Node& n, const char* what, std::optional<SniFallback>& out) {
    if (!n) return true;
    std::string s;
    if (!scalar(n, what, s)) return false;
    if (s == "deny") out = SniFallback::deny;
    else if (s == "allow") out = SniFallback::allow;
    else {
      error(n, std::string(what) + " must be deny or allow, not " + quoted(s));
      return false;
    }
    return true;
  }

  // `tls:`: how server names are read and judged.
  void parse_tls(const Node& n, TlsDef& tls) {
    if (!n) return;
    tls.present = true;
    tls.loc = loc(n);
    if (!n.IsMap()) {
      error(n, "tls must be a map like { ports: [443], no_sni: deny }");
      return;
    }
    check_keys(n,
               {"ports", "quic_ports", "hello_packets", "hello_ms", "no_sni", "timeout", "ech", "mismatch", "reset"},
               "tls");
    for (const char* key : {"ports", "quic_ports"}) {
      const auto pn = n[key];
      if (!pn) continue;
      if (pn.IsSequence() && pn.size() == 0) {
        error(pn, std::string(key) + " is an empty list; leave it out for the default [443]");
        continue;
      }
      auto& out = key[0] == 'p' ? tls.ports : tls.quic_ports;
      out.emplace();
      port_list(pn, *out, key);
    }
    setting(n["hello_packets"], "hello_packets", kNameDefaults.hello_packets, tls.hello_packets);
    setting(n["hello_ms"], "hello_ms", kNameDefaults.hello_ms, tls.hello_ms);
    fallback(n["no_sni"], "no_sni", tls.no_sni);
    fallback(n["timeout"], "timeout", tls.timeout);
    fallback(n["ech"], "ech", tls.ech);
    fallback(n["mismatch"], "mismatch", tls.mismatch);
    if (const auto r = n["reset"]) {
      bool b = true;
      if (boolean(r, "reset", b)) tls.reset = b;
    }
  }

  // A name destination binds only through a trusted resolver's answers:
  // a rule with `fqdn` (its own or a segment's) needs `dns: trusted`.
  void check_resolvers(const Policy& p) {
    if (!p.dns.trusted.empty()) return;
    auto check = [&](const RuleDef& r) {
      for (const auto& it : r.to) {
        const bool names = it.kind == AddressItem::Kind::fqdn ||
                           (it.kind == AddressItem::Kind::segment && !segment(p, it.text).fqdn.empty());
        if (!names) continue;
        error(it.loc, "rule " + quoted(r.id) +
                          " reaches names (fqdn) but the policy trusts no resolver: add 'dns: { trusted: [...] }' "
                          "with the resolvers whose answers bind names");
        return;
      }
    };
    for (const auto& r : p.rules) check(r);
    for (const auto& t : p.tenants)
      for (const auto& r : t.rules) check(r);
  }

  const SegmentDef& segment(const Policy& p, const std::string& name) const {
    return p.segments[segment_index_.at(name)];
  }

  // Counts a CIDR written in the file; false past the limit (reported once).
  bool count_prefix(const Node& n) {
    if (++prefixes_ <= kPolicyLimits.max_prefixes) return true;
    if (prefixes_ == kPolicyLimits.max_prefixes + 1)
      error(n, "more than " + std::to_string(kPolicyLimits.max_prefixes) +
                   " CIDRs in one policy (segments' cidrs and except, and rule literals)");
    return false;
  }

  void cidr_list(const Node& n, std::vector<Prefix>& out, const char* what) {
    auto one = [&](const Node& item) {
      std::string s, err;
      if (!scalar(item, what, s) || !count_prefix(item)) return;
      if (auto p = parse_prefix(s, err)) out.push_back(*p);
      else error(item, err);
    };
    if (n.IsSequence()) {
      for (const auto& item : n) one(item);
    } else if (n.IsScalar()) {
      one(n);
    } else {
      error(n, std::string(what) + " must be a CIDR or a list of CIDRs");
    }
  }

  void parse_segments(const Node& n, Policy& p) {
    if (!n) return;
    if (!n.IsMap()) {
      error(n, "segments must be a map of name: [CIDR, ...]");
      return;
    }
    if (n.size() > kPolicyLimits.max_segments) {
      error(n, std::to_string(n.size()) + " segments; a policy holds at most " +
                   std::to_string(kPolicyLimits.max_segments));
      return;
    }
    for (const auto& kv : n) {
      SegmentDef seg;
      seg.loc = loc(kv.first);
      seg.name = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (!valid_name(seg.name) || seg.name == "any") {
        error(kv.first, "segment name " + quoted(seg.name) + " must be 1-64 letters, digits, '.', '_' or '-', and not 'any'");
        continue;
      }
      if (auto [it, fresh] = segment_index_.emplace(seg.name, p.segments.size()); !fresh) {
        error(kv.first, "duplicate segment '" + seg.name + "' (first at " + at(p.segments[it->second].loc) + ")");
        continue;
      }
      segment_names_.push_back(seg.name);
      const Node& v = kv.second;
      if (v.IsMap()) {
        // An inventory's segments are addresses alone: names and modes are
        // the policy's.
        if (inventory_) check_keys(v, {"cidrs", "except"}, "segment");
        else check_keys(v, {"cidrs", "except", "fqdn", "mode"}, "segment");
        if (!inventory_ && v["fqdn"]) {
          std::vector<AddressItem> names;
          name_patterns(v["fqdn"], AddressItem::Kind::fqdn, names);
          for (auto& it : names) seg.fqdn.push_back(std::move(it.pattern));
        }
        if (!inventory_) optional_mode(v["mode"], seg.mode);
        if (v["cidrs"]) cidr_list(v["cidrs"], seg.cidrs, "cidrs");
        else if (inventory_ || !v["fqdn"]) error(v, "segment '" + seg.name + "' needs cidrs" + (inventory_ ? "" : " or fqdn"));
        if (v["except"]) cidr_list(v["except"], seg.except, "except");
      } else if (v.IsNull()) {
        error(kv.first, "segment '" + seg.name + "' has no CIDRs");
      } else {
        cidr_list(v, seg.cidrs, "segment");
      }
      p.segments.push_back(std::move(seg));
    }
  }

  // The items of `from`, `to` or `dns: trusted`. Only `to` holds names:
  // `fqdn:` and `sni:` items, and segments with names.
  void address_items(const Node& n, std::vector<AddressItem>& out, const char* what) {
    const bool names = std::string_view(what) == "to";
    auto one = [&](const Node& node) {
      std::string s;
      if (node.IsMap()) {
        if (!names) {
          error(node, std::string("fqdn: and sni: name destinations; they go in a rule's to:, not in ") + what);
          return;
        }
        check_keys(node, {"fqdn", "sni"}, "to");
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) continue;
          const auto& key = kv.first.Scalar();
          if (key == "fqdn") name_patterns(kv.second, AddressItem::Kind::fqdn, out);
          else if (key == "sni") name_patterns(kv.second, AddressItem::Kind::sni, out);
        }
        return;
      }
      if (!scalar(node, what, s)) return;
      AddressItem item;
      item.text = s;
      item.loc = loc(node);
      if (s == "any") {
        item.kind = AddressItem::Kind::any;
      } else if (s.find('/') != std::string::npos || s.find(':') != std::string::npos ||
                 (!s.empty() && s.find_first_not_of("0123456789.") == std::string::npos)) {
        std::string err;
        auto pfx = parse_prefix(s, err);
        if (!pfx) {
          error(node, err);
          return;
        }
        if (!count_prefix(node)) return;
        item.kind = AddressItem::Kind::literal;
        item.prefix = *pfx;
      } else {
        item.kind = AddressItem::Kind::segment;
        if (!segment_index_.count(s) && s == kInternetSegment && policy_) {
          segment_index_.emplace(s, policy_->segments.size());
          policy_->segments.push_back(internet_segment());
          policy_->segments.back().loc = item.loc;
        }
        if (!segment_index_.count(s)) {
          error(node, reporting() ? unknown_segment(s, segment_names_) : std::string());
          return;
        }
        if (!names && policy_ && !policy_->segments[segment_index_.at(s)].fqdn.empty()) {
          error(node, "segment " + quoted(s) + " holds names (fqdn), which are destinations: it may stand only in a rule's to:, not in " + what);
          return;
        }
      }
      out.push_back(std::move(item));
    };
    if (n.IsSequence()) {
      if (n.size() == 0) error(n, std::string(what) + " is an empty list; write 'any' or leave it out");
      for (const auto& x : n) one(x);
    } else if (n.IsScalar() || (names && n.IsMap())) {
      one(n);
    } else {
      error(n, std::string(what) + " must be a segment name, 'any', a CIDR" + (names ? ", fqdn: or sni: names" : "") +
                   ", or a list of these");
    }
  }

  bool port_value(const Node& node, std::string_view s, uint16_t& out) {
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
      error(node, quoted(s) + " is not a port number");
      return false;
    }
    if (v > 65535) {
      error(node, "port " + common::escaped(s) + " out of range (0-65535)");
      return false;
    }
    out = static_cast<uint16_t>(v);
    return true;
  }

  void port_list(const Node& n, std::vector<PortRange>& out, const char* what) {
    auto one = [&](const Node& node) {
      std::string s;
      if (!scalar(node, what, s)) return;
      PortRange r;
      const auto dash = s.find('-');
      if (dash == std::string::npos) {
        if (!port_value(node, s, r.lo)) return;
        r.hi = r.lo;
      } else {
        if (!port_value(node, std::string_view(s).substr(0, dash), r.lo) ||
            !port_value(node, std::string_view(s).substr(dash + 1), r.hi))
          return;
        if (r.lo > r.hi) {
          error(node, "port range " + quoted(s) + " runs backwards");
          return;
        }
      }
      out.push_back(r);
    };
    if (n.IsSequence()) {
      if (n.size() == 0) error(n, std::string(what) + " is an empty list; leave it out to mean any port");
      for (const auto& x : n) one(x);
    } else if (n.IsScalar()) {
      one(n);
    } else {
      error(n, std::string(what) + " must be a port, a range \"lo-hi\", or a list of these");
    }
  }

  // The `tenants:` map: name: { endpoint: 0xHEX | vni: N, rules: [...] }.
  // Names and ids are unique; rule ids are unique across the whole policy.
  void parse_tenants(const Node& n, Policy& p) {
    if (!n) return;
    if (!n.IsMap()) {
      error(n, "tenants must be a map of name: { endpoint: 0xHEX or vni: N, rules: [...] }");
      return;
    }
    if (n.size() > kPolicyLimits.max_tenants) {
      error(n, std::to_string(n.size()) + " tenants; a policy holds at most " +
                   std::to_string(kPolicyLimits.max_tenants));
      return;
    }
    std::unordered_map<std::string, Location> names, endpoints, vnis;
    for (const auto& kv : n) {
      TenantDef t;
      t.loc = loc(kv.first);
      t.name = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (!valid_name(t.name)) {
        error(kv.first, "tenant name " + quoted(t.name) + " must be 1-64 letters, digits, '.', '_' or '-'");
        continue;
      }
      if (auto [it, fresh] = names.emplace(t.name, t.loc); !fresh) {
        error(kv.first, "duplicate tenant '" + t.name + "' (first at " + at(it->second) + ")");
        continue;
      }
      const Node& v = kv.second;
      if (!v.IsMap()) {
        error(v.IsNull() ? kv.first : v, "tenant '" + t.name + "' must be a map like { endpoint: 0x..., rules: [...] }");
        continue;
      }
      check_keys(v, {"endpoint", "vni", "rules"}, "tenant");
      const Node endpoint = v["endpoint"], vni = v["vni"];
      if (endpoint && vni) {
        error(vni, "tenant '" + t.name + "' has both an endpoint and a vni; it is one or the other");
        continue;
      }
      if (!endpoint && !vni) {
        error(kv.first, "tenant '" + t.name + "' needs an endpoint (0x and up to 16 hex digits) or a vni (0-16777215)");
        continue;
      }
      std::string s;
      t.by_endpoint = static_cast<bool>(endpoint);
      const Node& id = endpoint ? endpoint : vni;
      if (!scalar(id, t.by_endpoint ? "endpoint" : "vni", s)) continue;
      bool ok;
      if (t.by_endpoint) {
        const std::string_view hex = std::string_view(s).substr(s.size() > 2 ? 2 : s.size());
        ok = s.size() > 2 && s.size() <= 18 && (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'));
        if (ok) {
          auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), t.id, 16);
          ok = ec == std::errc() && ptr == hex.data() + hex.size();
        }
        if (!ok) error(id, "endpoint " + quoted(s) + " is not 0x and 1-16 hex digits (the GWLB endpoint id)");
      } else {
        ok = parse_uint(s, t.id, 0xffffff);
        if (!ok) error(id, "vni " + quoted(s) + " is not a number 0-16777215");
      }
      if (!ok) continue;
      auto& seen = t.by_endpoint ? endpoints : vnis;
      if (auto [it, fresh] = seen.emplace(std::to_string(t.id), loc(id)); !fresh) {
        error(id, std::string("tenant '") + t.name + "' repeats the " + (t.by_endpoint ? "endpoint" : "vni") +
                      " of the tenant at " + at(it->second));
        continue;
      }
      if (const Node rules = v["rules"]) parse_rules(rules, t.rules, "tenant rules");
      t.place = rules_place(v, false);
      p.tenants.push_back(std::move(t));
    }
  }

  // A list of rules (the shared `rules:` or a tenant's): ids are unique
  // across the policy, and the count of all of them is bounded.
  void parse_rules(const Node& n, std::vector<RuleDef>& rules, const char* what) {
    if (!n) return;
    if (!n.IsSequence()) {
      error(n, std::string(what) + " must be a list");
      return;
    }
    if (rule_count_ + n.size() > kPolicyLimits.max_rules) {
      error(n, std::to_string(rule_count_ + n.size()) + " rules; a policy holds at most " +
                   std::to_string(kPolicyLimits.max_rules));
      return;
    }
    rule_count_ += n.size();
    std::unordered_map<std::string, Location>& ids = rule_ids_;
    for (const auto& r : n) {
      if (!r.IsMap()) {
        error(r, "a rule is a map like { id: ..., from: ..., to: ..., action: allow }");
        continue;
      }
      check_keys(r, {"id", "from", "to", "proto", "ports", "sports", "icmp_types", "action", "log", "expires",
                     "description", "mode"},
                 "rule");
      RuleDef rule;
      rule.loc = loc(r);
      bool ok = true;
      if (const auto id = r["id"]) {
        if (scalar(id, "id", rule.id)) {
          if (!valid_name(rule.id)) {
            error(id, "rule id " + quoted(rule.id) + " must be 1-64 letters, digits, '.', '_' or '-'");
            ok = false;
          } else if (auto [it, fresh] = ids.emplace(rule.id, loc(id)); !fresh) {
            error(id, "duplicate rule id '" + rule.id + "' (first at line " + std::to_string(it->second.line) + ")");
            ok = false;
          }
        }
      } else {
        error(r, "rule has no id");
        ok = false;
      }
      if (const auto a = r["action"]) ok = parse_action(a, rule.action) && ok;
      else {
        error(r, "rule " + quoted(rule.id) + " has no action (allow or deny)");
        ok = false;
      }
      if (const auto f = r["from"]) address_items(f, rule.from, "from");
      if (const auto t = r["to"]) address_items(t, rule.to, "to");
      bool ports_allowed = true, icmp = false;
      if (const auto pr = r["proto"]) {
        std::string s;
        if (scalar(pr, "proto", s)) {
          rule.proto_text = s;
          if (s == "any") rule.any_proto = true;
          else {
            rule.any_proto = false;
            if (s == "tcp") rule.proto = common::kProtoTcp;
            else if (s == "udp") rule.proto = common::kProtoUdp;
            else if (s == "icmp") rule.proto = common::kProtoIcmp;
            else if (s == "icmpv6") rule.proto = common::kProtoIcmpv6;
            else if (s == "sctp") rule.proto = common::kProtoSctp;
            else if (!parse_uint(s, rule.proto, 255)) {
              error(pr, "proto must be tcp, udp, icmp, icmpv6, sctp, any or a number 0-255, not " + quoted(s));
              ok = false;
            }
            // A protocol written as a number is the raw form: its ports
            // match the lookup key literally (ClassBench rules need it).
            const bool numeric = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
            ports_allowed = numeric || rule.proto == common::kProtoTcp || rule.proto == common::kProtoUdp ||
                            rule.proto == common::kProtoSctp;
            icmp = rule.proto == common::kProtoIcmp || rule.proto == common::kProtoIcmpv6;
          }
        }
      }
      for (const char* key : {"ports", "sports"}) {
        const auto pn = r[key];
        if (!pn) continue;
        if (!ports_allowed) {
          error(pn, std::string(key) + " apply only to tcp, udp, sctp, any or a protocol number, not " +
                      quoted(rule.proto_text) + " (use icmp_types for ICMP)");
          ok = false;
          continue;
        }
        port_list(pn, key[0] == 'p' ? rule.ports : rule.sports, key);
      }
      if (const auto it = r["icmp_types"]) {
        if (!icmp) {
          error(it, "icmp_types needs proto icmp or icmpv6");
          ok = false;
        } else {
          auto one = [&](const Node& node) {
            std::string s;
            if (!scalar(node, "icmp_types", s)) return;
            uint8_t t = 0;
            if (parse_uint(s, t, 255)) {
              rule.icmp_types.push_back(t);
              return;
            }
            const int by_name = icmp_type_by_name(rule.proto, s);
            if (by_name < 0) error(node, "unknown " + rule.proto_text + " type " + quoted(s));
            else rule.icmp_types.push_back(static_cast<uint8_t>(by_name));
          };
          if (it.IsSequence()) for (const auto& x : it) one(x);
          else one(it);
        }
      }
      if (const auto l = r["log"]) boolean(l, "log", rule.log);
      if (const auto e = r["expires"]) {
        std::string s;
        // 0 is no time anyone means, and in the model it stands for "never":
        // a rule written to expire must never become permanent.
        if (scalar(e, "expires", s) && (!common::parse_time(s, rule.expires_at) || rule.expires_at == 0)) {
          rule.expires_at = 0;
          error(e, "expires must be a UTC time like 2026-11-24T10:00:00Z or unix seconds after 1970-01-01, not " +
                       quoted(s));
        }
      }
      if (const auto d = r["description"]) scalar(d, "description", rule.description);
      optional_mode(r["mode"], rule.mode);
      (void)ok;
      rules.push_back(std::move(rule));
    }
  }

  std::string_view text_;
  std::string_view file_;
  std::unique_ptr<yaml::Document> doc_;
  bool inventory_ = false;
  std::vector<Diagnostic> diags_;
  std::unordered_map<std::string, size_t> segment_index_;
  std::vector<std::string> segment_names_;  // in file order
  Policy* policy_ = nullptr;                // while its rules are read: where a built-in segment goes
  size_t prefixes_ = 0;                     // CIDRs written, against the limit
  size_t names_ = 0;                        // name patterns written, against the limit
  size_t rule_count_ = 0;                   // rules written, shared and tenants', against the limit
  std::unordered_map<std::string, Location> rule_ids_;  // every rule's, shared and tenants'
  size_t errors_ = 0;                       // reported or not
  size_t unreported_ = 0;                   // diagnostics past the limit
};

}  // namespace

int icmp_type_by_name(uint8_t proto, std::string_view name) {
  for (const auto& n : kIcmpNames)
    if (n.proto == proto && name == n.name) return n.type;
  return -1;
}

const char* icmp_type_name(uint8_t proto, uint8_t type) {
  for (const auto& n : kIcmpNames)
    if (n.proto == proto && n.type == type) return n.name;
  return nullptr;
}

Result<Policy> parse_policy(std::string_view text, std::string_view source_name) {
  return Parser(text, source_name).run();
}

Result<Policy> parse_inventory(std::string_view text, std::string_view source_name) {
  return Parser(text, source_name, true).run();
}

namespace {

// Reads at most one byte past the size limit: the parser refuses a longer
// file without the rest of it ever being held in memory.
Result<Policy> parse_file(const std::string& path, bool inventory) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Result<Policy> r;
    r.diagnostics.push_back(Diagnostic{Diagnostic::Severity::error, path, 0, 0,
                                       inventory ? "cannot open the inventory file" : "cannot open the policy file"});
    return r;
  }
  std::string text;
  char buf[65536];
  while (text.size() <= kPolicyLimits.max_bytes && in.read(buf, sizeof(buf)).gcount() > 0)
    text.append(buf, static_cast<size_t>(in.gcount()));
  return inventory ? parse_inventory(text, path) : parse_policy(text, path);
}

}  // namespace

Result<Policy> parse_policy_file(const std::string& path) { return parse_file(path, false); }

Result<Policy> parse_inventory_file(const std::string& path) { return parse_file(path, true); }

}  // namespace bulkhead::rules
