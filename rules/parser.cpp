#include "rules/parser.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "common/protocols.h"
#include "common/time.h"
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

class Parser {
 public:
  Parser(std::string_view text, std::string_view file, bool inventory = false)
      : text_(text), file_(file), inventory_(inventory) {}

  Result<Policy> run() {
    Result<Policy> result;
    Policy policy;
    policy.source_name = file_;
    policy.source_text = text_;
    if (!bounded(result)) return result;
    yaml::ReadError read_error;
    doc_ = yaml::read(text_, read_error);
    if (!doc_) {
      error(Location{read_error.mark.line + 1, read_error.mark.column + 1}, "YAML syntax: " + read_error.message);
      result.diagnostics = std::move(diags_);
      return result;
    }
    const Node root = doc_->root();
    if (!root.IsMap()) {
      error(root, inventory_ ? "an inventory is a map with the key segments"
                             : "a policy is a map with keys version, defaults, segments, rules");
      result.diagnostics = std::move(diags_);
      return result;
    }
    if (inventory_) {
      check_keys(root, {"version", "segments"}, "inventory");
      if (root["version"]) parse_version(root["version"], root, policy);
      if (!root["segments"]) error(root, "an inventory needs a 'segments:' map");
      parse_segments(root["segments"], policy);
      result.diagnostics = std::move(diags_);
      if (!result.has_errors()) result.value = std::move(policy);
      return result;
    }
    check_keys(root, {"version", "defaults", "segments", "rules"}, "policy");
    bool after = false;
    for (const auto& kv : root) {
      if (after) {
        policy.after_rules_line = loc(kv.first).line;
        break;
      }
      if (kv.first.IsScalar() && kv.first.Scalar() == "rules") {
        policy.rules_line = loc(kv.first).line;
        policy.rules_inline = kv.second.IsSequence() && kv.second.IsFlow();
        after = true;
      }
    }
    parse_version(root["version"], root, policy);
    parse_defaults(root["defaults"], policy);
    parse_segments(root["segments"], policy);
    parse_rules(root["rules"], policy);
    std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    result.diagnostics = std::move(diags_);
    if (!result.has_errors()) result.value = std::move(policy);
    return result;
  }

 private:
  // Policies are shallow: refuse deep nesting (a hostile file's way to make
  // any tree walk expensive) and absurd sizes before reading the YAML.
  static constexpr size_t kMaxBytes = 256u << 20;
  static constexpr int kMaxDepth = 32;

  bool bounded(Result<Policy>& result) {
    if (text_.size() > kMaxBytes) {
      error(Location{}, "policy file larger than " + std::to_string(kMaxBytes >> 20) + " MiB");
      result.diagnostics = std::move(diags_);
      return false;
    }
    int depth = 0;
    uint32_t line = 1, col = 0;
    char quote = 0;
    bool comment = false, seen_text = false;
    for (char c : text_) {
      ++col;
      if (c == '\n') {
        ++line;
        col = 0;
        comment = seen_text = false;
        continue;
      }
      // Block nesting shows as indentation deeper than any policy needs.
      if (!seen_text && c != ' ' && c != '\t') {
        seen_text = true;
        if (col > 4 * kMaxDepth) {
          error(Location{line, col}, "indentation deeper than any policy needs (" + std::to_string(col - 1) + " columns)");
          result.diagnostics = std::move(diags_);
          return false;
        }
      }
      if (comment) continue;
      if (quote) {
        if (c == quote) quote = 0;
        continue;
      }
      if (c == '"' || c == '\'') quote = c;
      else if (c == '#') comment = true;
      else if (c == '[' || c == '{') depth++;
      else if ((c == ']' || c == '}') && depth > 0) depth--;
      if (depth > kMaxDepth) {
        error(Location{line, col}, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
        result.diagnostics = std::move(diags_);
        return false;
      }
    }
    return true;
  }

  static Location loc(const Node& n) {
    if (!n) return {};
    const auto m = n.GetMark();
    return Location{m.line + 1, m.column + 1};
  }

  void error(Location l, std::string msg) {
    diags_.push_back(Diagnostic{Diagnostic::Severity::error, std::string(file_), l.line, l.column, std::move(msg)});
  }
  void error(const Node& n, std::string msg) { error(loc(n), std::move(msg)); }
  void warning(const Node& n, std::string msg) {
    const Location l = loc(n);
    diags_.push_back(Diagnostic{Diagnostic::Severity::warning, std::string(file_), l.line, l.column, std::move(msg)});
  }

  void check_keys(const Node& map, const std::vector<std::string>& allowed, const char* what) {
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) {
        error(kv.first, std::string("keys of ") + what + " must be plain names");
        continue;
      }
      const auto key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
        error(kv.first, "unknown key '" + key + "' in " + what + " (allowed: " + join(allowed) + ")");
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
      error(n, std::string(what) + " must be true or false, not '" + s + "'");
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
      error(n, "unsupported policy version '" + s + "' (this release reads version 1)");
  }

  bool parse_action(const Node& n, Action& out) {
    std::string s;
    if (!scalar(n, "action", s)) return false;
    if (s == "allow") out = Action::allow;
    else if (s == "deny") out = Action::deny;
    else {
      error(n, "action must be allow or deny, not '" + s + "'");
      return false;
    }
    return true;
  }

  void parse_defaults(const Node& n, Policy& p) {
    if (!n) return;
    if (!n.IsMap()) {
      error(n, "defaults must be a map like { action: deny, mode: enforce }");
      return;
    }
    check_keys(n, {"action", "mode"}, "defaults");
    if (n["action"]) parse_action(n["action"], p.default_action);
    if (const auto m = n["mode"]) {
      std::string s;
      if (scalar(m, "mode", s)) {
        if (s == "enforce") p.mode = PolicyMode::enforce;
        else if (s == "audit") p.mode = PolicyMode::audit;
        else if (s == "learn") p.mode = PolicyMode::learn;
        else error(m, "mode must be enforce, audit or learn, not '" + s + "'");
      }
    }
  }

  void cidr_list(const Node& n, std::vector<Prefix>& out, const char* what) {
    auto one = [&](const Node& item) {
      std::string s, err;
      if (!scalar(item, what, s)) return;
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
    for (const auto& kv : n) {
      SegmentDef seg;
      seg.loc = loc(kv.first);
      seg.name = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (!valid_name(seg.name) || seg.name == "any") {
        error(kv.first, "segment name '" + seg.name + "' must be 1-64 letters, digits, '.', '_' or '-', and not 'any'");
        continue;
      }
      if (!segment_index_.emplace(seg.name, p.segments.size()).second) {
        error(kv.first, "duplicate segment '" + seg.name + "'");
        continue;
      }
      const Node& v = kv.second;
      if (v.IsMap()) {
        check_keys(v, {"cidrs", "except"}, "segment");
        if (v["cidrs"]) cidr_list(v["cidrs"], seg.cidrs, "cidrs");
        else error(v, "segment '" + seg.name + "' needs cidrs");
        if (v["except"]) cidr_list(v["except"], seg.except, "except");
      } else if (v.IsNull()) {
        error(kv.first, "segment '" + seg.name + "' has no CIDRs");
      } else {
        cidr_list(v, seg.cidrs, "segment");
      }
      p.segments.push_back(std::move(seg));
    }
  }

  void address_items(const Node& n, std::vector<AddressItem>& out, const char* what) {
    auto one = [&](const Node& node) {
      std::string s;
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
        item.kind = AddressItem::Kind::literal;
        item.prefix = *pfx;
      } else {
        item.kind = AddressItem::Kind::segment;
        if (!segment_index_.count(s)) {
          std::vector<std::string> known;
          for (const auto& [name, idx] : segment_index_) known.push_back(name);
          std::sort(known.begin(), known.end());
          error(node, "unknown segment '" + s + "'" +
                          (known.empty() ? std::string(" (no segments are defined)")
                                         : " (defined: " + join(known) + ")"));
          return;
        }
      }
      out.push_back(std::move(item));
    };
    if (n.IsSequence()) {
      if (n.size() == 0) error(n, std::string(what) + " is an empty list; write 'any' or leave it out");
      for (const auto& x : n) one(x);
    } else if (n.IsScalar()) {
      one(n);
    } else {
      error(n, std::string(what) + " must be a segment name, 'any', a CIDR, or a list of these");
    }
  }

  bool port_value(const Node& node, std::string_view s, uint16_t& out) {
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
      error(node, "'" + std::string(s) + "' is not a port number");
      return false;
    }
    if (v > 65535) {
      error(node, "port " + std::string(s) + " out of range (0-65535)");
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
          error(node, "port range '" + s + "' runs backwards");
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

  void parse_rules(const Node& n, Policy& p) {
    if (!n) return;
    if (!n.IsSequence()) {
      error(n, "rules must be a list");
      return;
    }
    std::unordered_map<std::string, Location> ids;
    for (const auto& r : n) {
      if (!r.IsMap()) {
        error(r, "a rule is a map like { id: ..., from: ..., to: ..., action: allow }");
        continue;
      }
      check_keys(r, {"id", "from", "to", "proto", "ports", "sports", "icmp_types", "action", "log", "expires",
                     "description"},
                 "rule");
      RuleDef rule;
      rule.loc = loc(r);
      bool ok = true;
      if (const auto id = r["id"]) {
        if (scalar(id, "id", rule.id)) {
          if (!valid_name(rule.id)) {
            error(id, "rule id '" + rule.id + "' must be 1-64 letters, digits, '.', '_' or '-'");
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
        error(r, "rule '" + rule.id + "' has no action (allow or deny)");
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
              error(pr, "proto must be tcp, udp, icmp, icmpv6, sctp, any or a number 0-255, not '" + s + "'");
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
          error(pn, std::string(key) + " apply only to tcp, udp, sctp, any or a protocol number, not '" +
                      rule.proto_text + "' (use icmp_types for ICMP)");
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
            if (by_name < 0) error(node, "unknown " + rule.proto_text + " type '" + s + "'");
            else rule.icmp_types.push_back(static_cast<uint8_t>(by_name));
          };
          if (it.IsSequence()) for (const auto& x : it) one(x);
          else one(it);
        }
      }
      if (const auto l = r["log"]) boolean(l, "log", rule.log);
      if (const auto e = r["expires"]) {
        std::string s;
        if (scalar(e, "expires", s) && !common::parse_time(s, rule.expires_at))
          error(e, "expires must be a UTC time like 2026-11-24T10:00:00Z or unix seconds, not '" + s + "'");
      }
      if (const auto d = r["description"]) scalar(d, "description", rule.description);
      (void)ok;
      p.rules.push_back(std::move(rule));
    }
  }

  std::string_view text_;
  std::string_view file_;
  std::unique_ptr<yaml::Document> doc_;
  bool inventory_ = false;
  std::vector<Diagnostic> diags_;
  std::unordered_map<std::string, size_t> segment_index_;
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

Result<Policy> parse_file(const std::string& path, bool inventory) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Result<Policy> r;
    r.diagnostics.push_back(Diagnostic{Diagnostic::Severity::error, path, 0, 0,
                                       inventory ? "cannot open the inventory file" : "cannot open the policy file"});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return inventory ? parse_inventory(ss.str(), path) : parse_policy(ss.str(), path);
}

}  // namespace

Result<Policy> parse_policy_file(const std::string& path) { return parse_file(path, false); }

Result<Policy> parse_inventory_file(const std::string& path) { return parse_file(path, true); }

}  // namespace bulkhead::rules
