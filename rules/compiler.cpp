#include "rules/compiler.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "common/protocols.h"
#include "common/sha256.h"

namespace bulkhead::rules {
namespace {

void add_prefix(google::protobuf::RepeatedPtrField<pb::Prefix>* out, const Prefix& p) {
  auto* x = out->Add();
  x->set_addr(std::string(reinterpret_cast<const char*>(p.addr.data()), p.family == 4 ? 4 : 16));
  x->set_prefix_len(p.len);
}

std::vector<PortRange> merge_ranges(std::vector<PortRange> r) {
  std::sort(r.begin(), r.end(), [](const PortRange& a, const PortRange& b) { return a.lo < b.lo; });
  std::vector<PortRange> out;
  for (const auto& x : r) {
    if (!out.empty() && static_cast<uint32_t>(x.lo) <= static_cast<uint32_t>(out.back().hi) + 1)
      out.back().hi = std::max(out.back().hi, x.hi);
    else
      out.push_back(x);
  }
  // The full range is the same as no restriction.
  if (out.size() == 1 && out[0].lo == 0 && out[0].hi == 65535) out.clear();
  return out;
}

void add_ranges(google::protobuf::RepeatedPtrField<pb::PortRange>* out, const std::vector<PortRange>& r) {
  for (const auto& x : merge_ranges(r)) {
    auto* y = out->Add();
    y->set_lo(x.lo);
    y->set_hi(x.hi);
  }
}

// The addresses one side of a rule stands for.
struct Side {
  bool any = false;
  std::vector<Prefix> prefixes;
  bool has(uint8_t family) const {
    return any || std::any_of(prefixes.begin(), prefixes.end(), [&](const Prefix& p) { return p.family == family; });
  }
  uint64_t count(uint8_t family) const {
    if (any) return 1;
    return static_cast<uint64_t>(
        std::count_if(prefixes.begin(), prefixes.end(), [&](const Prefix& p) { return p.family == family; }));
  }
};

// The classifier entries a compiled rule stands for.
uint64_t entries(const Side& from, const Side& to, const pb::CompiledRule& r) {
  const uint64_t pairs = (r.v4() ? from.count(4) * to.count(4) : 0) + (r.v6() ? from.count(6) * to.count(6) : 0);
  return pairs * std::max(1, r.sports_size()) * std::max(1, r.dports_size());
}

}  // namespace

Result<pb::CompiledRuleSet> compile(const Policy& policy) {
  Result<pb::CompiledRuleSet> result;
  auto diag = [&](Diagnostic::Severity s, Location l, std::string msg) {
    result.diagnostics.push_back(Diagnostic{s, policy.source_name, l.line, l.column, std::move(msg)});
  };

  pb::CompiledRuleSet set;
  set.set_format_version(kFormatVersion);
  set.set_generation(0);
  set.set_default_action(policy.default_action == Action::allow ? pb::ACTION_ALLOW : pb::ACTION_DENY);
  set.set_mode(policy.mode == PolicyMode::audit ? pb::MODE_AUDIT
               : policy.mode == PolicyMode::learn ? pb::MODE_LEARN : pb::MODE_ENFORCE);
  set.set_source_name(policy.source_name);
  set.set_source_sha256(common::sha256_hex(policy.source_text));

  std::unordered_map<std::string, std::vector<Prefix>> segments;
  for (const auto& s : policy.segments) {
    auto resolved = subtract(s.cidrs, s.except);
    if (resolved.empty())
      diag(Diagnostic::Severity::warning, s.loc, "segment '" + s.name + "' is empty after except");
    auto* seg = set.add_segments();
    seg->set_name(s.name);
    seg->set_line(s.loc.line);
    seg->set_column(s.loc.column);
    for (const auto& p : resolved) add_prefix(seg->mutable_prefixes(), p);
    segments.emplace(s.name, std::move(resolved));
  }

  auto resolve = [&](const std::vector<AddressItem>& items) {
    Side side;
    if (items.empty()) side.any = true;
    std::unordered_set<std::string_view> named;  // a segment named twice is added once
    for (const auto& it : items) {
      switch (it.kind) {
        case AddressItem::Kind::any: side.any = true; break;
        case AddressItem::Kind::literal: side.prefixes.push_back(it.prefix); break;
        case AddressItem::Kind::segment: {
          if (!named.insert(it.text).second) break;
          const auto& p = segments.at(it.text);
          side.prefixes.insert(side.prefixes.end(), p.begin(), p.end());
          break;
        }
      }
    }
    if (side.any) side.prefixes.clear();
    else side.prefixes = normalise(std::move(side.prefixes));
    return side;
  };

  // A tenant's rules come first, so that they decide its traffic before
  // the shared ones; the classifier keeps the lowest rule index.
  for (const auto& t : policy.tenants) {
    auto* out = set.add_tenants();
    out->set_name(t.name);
    out->set_kind(t.by_endpoint ? pb::Tenant::ENDPOINT : pb::Tenant::VNI);
    out->set_id(t.id);
    out->mutable_location()->set_line(t.loc.line);
    out->mutable_location()->set_column(t.loc.column);
  }
  std::vector<std::pair<const RuleDef*, const std::string*>> ordered;
  static const std::string kShared;
  for (const auto& t : policy.tenants)
    for (const auto& r : t.rules) ordered.emplace_back(&r, &t.name);
  for (const auto& r : policy.rules) ordered.emplace_back(&r, &kShared);

  uint64_t total_entries = 0;
  for (const auto& [rp, tenant] : ordered) {
    const RuleDef& r = *rp;
    auto* out = set.add_rules();
    out->set_id(r.id);
    out->set_tenant(*tenant);
    out->set_action(r.action == Action::allow ? pb::ACTION_ALLOW : pb::ACTION_DENY);
    out->set_log(r.log);
    out->mutable_location()->set_line(r.loc.line);
    out->mutable_location()->set_column(r.loc.column);
    for (const auto& it : r.from) out->add_from_names(it.text);
    for (const auto& it : r.to) out->add_to_names(it.text);
    if (r.from.empty()) out->add_from_names("any");
    if (r.to.empty()) out->add_to_names("any");

    const Side from = resolve(r.from), to = resolve(r.to);
    for (const auto& p : from.prefixes) add_prefix(out->mutable_src(), p);
    for (const auto& p : to.prefixes) add_prefix(out->mutable_dst(), p);
    bool v4 = from.has(4) && to.has(4);
    bool v6 = from.has(6) && to.has(6);
    out->set_any_proto(r.any_proto);
    out->set_proto(r.any_proto ? 0 : r.proto);
    if (!r.any_proto && r.proto == common::kProtoIcmp) v6 = false;
    if (!r.any_proto && r.proto == common::kProtoIcmpv6) v4 = false;
    out->set_v4(v4);
    out->set_v6(v6);
    if (!v4 && !v6)
      diag(Diagnostic::Severity::warning, r.loc,
           "rule '" + r.id + "' can never match: its sides (and protocol) share no address family");

    std::vector<PortRange> sports = r.sports;
    for (uint8_t t : r.icmp_types) sports.push_back(PortRange{t, t});
    add_ranges(out->mutable_sports(), sports);
    add_ranges(out->mutable_dports(), r.ports);
    out->set_expires_at(r.expires_at);
    total_entries += entries(from, to, *out);
    if (total_entries > kMaxClassifierEntries) {
      diag(Diagnostic::Severity::error, r.loc,
           "the rules up to '" + r.id + "' stand for more than " + std::to_string(kMaxClassifierEntries) +
               " classifier entries (source x destination prefixes x port ranges); narrow or split them");
      break;
    }
  }

  if (!result.has_errors()) result.value = std::move(set);
  return result;
}

}  // namespace bulkhead::rules
