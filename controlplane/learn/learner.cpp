// The learner's output: an Inference (inference.h) written as a policy
// (a rules::Policy, printed by rules::format_policy like `bulkhead policy
// fmt` prints any policy) and as a report for people.
#include "controlplane/learn/learner.h"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "common/protocols.h"
#include "common/time.h"
#include "controlplane/learn/inference.h"
#include "rules/compiler.h"
#include "rules/format.h"
#include "rules/load.h"
#include "rules/names.h"
#include "rules/match.h"
#include "rules/policy.h"

namespace bulkhead::controlplane::learn {
namespace {

std::string iso_time(int64_t ms) { return common::format_iso8601(ms / 1000); }

std::string with_commas(uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// A rule side's label in a rule id: a segment name as it is, addresses as "hosts".
std::string id_part(const InferredSide& side) {
  if (!side.name.empty()) return safe_name(side.name);
  return side.segment.empty() ? "hosts" : safe_name(side.segment);
}

std::vector<rules::AddressItem> address_items(const InferredSide& side) {
  std::vector<rules::AddressItem> items;
  if (!side.name.empty()) {
    std::string error;
    auto pattern = rules::parse_name_pattern(side.name, error);
    if (!pattern) throw std::logic_error("the learner was given a name it cannot write: " + side.name);
    rules::AddressItem it;
    it.kind = rules::AddressItem::Kind::fqdn;
    it.pattern = *pattern;
    it.text = pattern->text();
    items.push_back(std::move(it));
    return items;
  }
  if (!side.segment.empty()) {
    rules::AddressItem it;
    it.kind = rules::AddressItem::Kind::segment;
    it.text = side.segment;
    items.push_back(std::move(it));
    return items;
  }
  for (const auto& p : side.addresses) {
    rules::AddressItem it;
    it.kind = rules::AddressItem::Kind::literal;
    it.prefix = p;
    it.text = rules::format_prefix(p);
    items.push_back(std::move(it));
  }
  return items;
}

// Contiguous ports as one range; never wider than what was seen.
std::vector<rules::PortRange> port_ranges(const std::set<uint16_t>& ports) {
  std::vector<rules::PortRange> runs;
  for (uint16_t p : ports) {
    if (!runs.empty() && runs.back().hi + 1 == p) runs.back().hi = p;
    else runs.push_back({p, p});
  }
  return runs;
}

std::string evidence(const InferredRule& r) {
  return with_commas(r.flows) + " connections, " + plural(r.clients, "client", "clients") + ", " +
         plural(r.servers, "server", "servers") + ", first " + iso_time(r.first_ms) + ", last " + iso_time(r.last_ms);
}

// The comment block at the top: what it was learned from, and why each
// inferred segment holds its hosts (format_policy keeps a leading comment).
std::string header(const Inference& in, uint64_t flows_used, const LearnOptions& opt) {
  std::string h = "# Proposed by bulkhead learn";
  if (!opt.source_note.empty()) h += " from " + opt.source_note;
  h += ".\n# " + with_commas(in.flows_total) + " connections observed";
  if (in.first_ms != 0) h += ", " + iso_time(in.first_ms) + " to " + iso_time(in.last_ms);
  h += "; " + with_commas(flows_used) + " behind the rules below.\n";
  h += "# Segments: " + std::string(in.from_inventory ? "from the inventory" : "inferred from the traffic") +
       ". Review, then apply with `bulkhead learn accept` or `bulkhead apply`.\n";
  for (const auto& s : in.segments)
    if (s.why != "inventory") h += "#   " + s.name + ": " + (s.hosts > 0 ? plural(s.hosts, "host", "hosts") + ": " : "") + s.why + "\n";
  h += "# Each rule's evidence is in its description.\n";
  return h;
}

// A policy holds at most kMaxFqdnRules rules with names (one classifier bit
// each). Past that, name rules of the same clients, protocol and ports
// become one rule listing their names (busiest first); if there are still
// too many, the busiest are kept and the rest go to `left_out`, with their
// connections no longer behind the policy.
struct NameRule {
  rules::RuleDef def;
  uint64_t flows = 0;
  int64_t first_ms = 0, last_ms = 0;
  size_t names = 1;
};

void fit_name_rules(std::vector<NameRule>& named, uint64_t& flows_used, std::vector<std::string>& left_out) {
  auto key = [](const rules::RuleDef& d) {
    std::string k = std::to_string(d.proto) + "|";
    for (const auto& f : d.from) k += f.text + ",";
    k += "|";
    for (const auto& r : d.ports) k += std::to_string(r.lo) + "-" + std::to_string(r.hi) + ",";
    return k;
  };
  std::vector<NameRule> merged;
  std::map<std::string, size_t> at;
  for (auto& r : named) {
    auto [it, fresh] = at.emplace(key(r.def), merged.size());
    if (fresh) {
      merged.push_back(std::move(r));
      continue;
    }
    NameRule& m = merged[it->second];
    for (auto& t : r.def.to) m.def.to.push_back(std::move(t));
    m.flows += r.flows;
    m.first_ms = std::min(m.first_ms, r.first_ms);
    m.last_ms = std::max(m.last_ms, r.last_ms);
    ++m.names;
  }
  for (auto& m : merged)
    if (m.names > 1)
      m.def.description = "learned: " + with_commas(m.flows) + " connections to " + std::to_string(m.names) +
                          " names, first " + iso_time(m.first_ms) + ", last " + iso_time(m.last_ms) +
                          " (one rule for them: a policy holds at most " + std::to_string(rules::kMaxFqdnRules) +
                          " rules with names)";
  std::stable_sort(merged.begin(), merged.end(), [](const NameRule& a, const NameRule& b) { return a.flows > b.flows; });
  while (merged.size() > rules::kMaxFqdnRules) {
    const NameRule& r = merged.back();
    std::string names;
    for (const auto& t : r.def.to) names += (names.empty() ? "" : ", ") + t.text;
    left_out.push_back(with_commas(r.flows) + " connections to " + names + " (" + r.def.proto_text +
                       "): no room for another rule with names (at most " + std::to_string(rules::kMaxFqdnRules) +
                       ")");
    flows_used -= std::min(flows_used, r.flows);  // may count a connection of another kept rule out too
    merged.pop_back();
  }
  named = std::move(merged);
}

rules::Policy as_policy(const Inference& in, const LearnOptions& opt, uint64_t& flows_used,
                        std::vector<std::string>& left_out) {
  rules::Policy p;
  p.default_action = rules::Action::deny;
  p.mode = opt.mode == "audit" ? rules::PolicyMode::audit : opt.mode == "learn" ? rules::PolicyMode::learn
                                                                                : rules::PolicyMode::enforce;
  for (const auto& s : in.segments) {
    rules::SegmentDef d;
    d.name = s.name;
    d.cidrs = s.cidrs;
    d.except = s.except;
    p.segments.push_back(std::move(d));
  }
  // Rules by name trust the resolvers their clients were answered by.
  for (const auto& r : in.resolvers) {
    rules::AddressItem it;
    it.kind = rules::AddressItem::Kind::literal;
    it.prefix = r;
    it.text = rules::format_prefix(r);
    p.dns.trusted.push_back(std::move(it));
  }
  p.dns.present = !p.dns.trusted.empty();
  std::set<std::string> ids;
  flows_used = in.flows_used;
  std::vector<NameRule> named;
  for (const auto& r : in.rules) {
    rules::RuleDef d;
    std::string id = id_part(r.from) + "-to-" + id_part(r.to) + "-" + safe_name(rules::proto_name(r.proto));
    if (common::has_ports(r.proto) && r.ports.size() == 1) id += "-" + std::to_string(*r.ports.begin());
    d.id = id;
    for (int n = 2; ids.count(d.id); ++n) d.id = id + "-" + std::to_string(n);
    ids.insert(d.id);
    d.from = address_items(r.from);
    d.to = address_items(r.to);
    d.any_proto = false;
    d.proto = r.proto;
    d.proto_text = rules::proto_name(r.proto);
    if (common::has_ports(r.proto)) d.ports = port_ranges(r.ports);
    if (common::is_icmp(r.proto))
      for (uint16_t t : r.ports) d.icmp_types.push_back(static_cast<uint8_t>(t));
    d.action = rules::Action::allow;
    d.description = "learned: " + evidence(r);
    if (!r.to.name.empty()) named.push_back({d, r.flows, r.first_ms, r.last_ms});
    p.rules.push_back(std::move(d));
  }
  if (named.size() > rules::kMaxFqdnRules) {
    // Too many to keep one rule a name: the rules by address, then the
    // fitted rules by name (all allow: the order decides nothing).
    std::erase_if(p.rules, [](const rules::RuleDef& d) {
      return !d.to.empty() && d.to.front().kind == rules::AddressItem::Kind::fqdn;
    });
    fit_name_rules(named, flows_used, left_out);
    for (auto& n : named) p.rules.push_back(std::move(n.def));
  }
  p.source_text = header(in, flows_used, opt);
  return p;
}

}  // namespace

Proposal propose(const std::vector<pb::FlowAggregate>& flows, const pb::CompiledRuleSet* inventory,
                 const LearnOptions& options) {
  Inference in = infer(flows, inventory, options);
  Proposal p;
  std::vector<std::string> left_out;
  const rules::Policy policy = as_policy(in, options, p.flows_used, left_out);
  p.policy = rules::format_policy(policy);
  p.segments = std::move(in.reported);
  p.not_learned = std::move(in.not_learned);
  for (auto& l : left_out) p.not_learned.push_back(std::move(l));
  p.rules = policy.rules.size();
  p.flows_total = in.flows_total;
  p.flows_scan = in.flows_scan;
  p.flows_unanswered = in.flows_unanswered;
  p.flows_below_threshold = in.flows_below_threshold;
  p.flows_denied = in.flows_denied;
  p.first_ms = in.first_ms;
  p.last_ms = in.last_ms;
  // The proposal must be a policy the rest of the product accepts as it is.
  auto check = rules::load_policy(p.policy, "proposal");
  if (!check.ok()) {
    std::string why;
    for (const auto& d : check.diagnostics) why += d.str() + "\n";
    throw std::logic_error("the learner wrote an invalid policy:\n" + why);
  }
  return p;
}

std::string format_report(const Proposal& p) {
  std::string s;
  s += "learned " + std::to_string(p.rules) + (p.rules == 1 ? " rule" : " rules") + " from " +
       with_commas(p.flows_used) + " of " + with_commas(p.flows_total) + " connections";
  if (p.first_ms != 0) s += " (" + iso_time(p.first_ms) + " to " + iso_time(p.last_ms) + ")";
  s += "\n";
  s += "not learned: " + with_commas(p.flows_scan) + " from scan-like sources, " + with_commas(p.flows_unanswered) +
       " attempts never answered, " + with_commas(p.flows_below_threshold) + " below the evidence threshold, " +
       with_commas(p.flows_denied) + " denied in enforce mode\n";
  if (!p.segments.empty()) {
    s += "segments:\n";
    for (const auto& g : p.segments) {
      s += "  " + g.name + ": " + std::to_string(g.hosts) + (g.hosts == 1 ? " host" : " hosts");
      if (!g.why.empty()) s += " (" + g.why + ")";
      s += "\n";
    }
  }
  if (!p.not_learned.empty()) {
    s += "seen but not learned:\n";
    size_t shown = 0;
    for (const auto& l : p.not_learned) {
      if (shown++ == 40) {
        s += "  ... and " + std::to_string(p.not_learned.size() - 40) + " more\n";
        break;
      }
      s += "  " + l + "\n";
    }
  }
  return s;
}

}  // namespace bulkhead::controlplane::learn
