#include "rules/compiler.h"

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "common/protocols.h"
#include "common/sha256.h"

namespace bulkhead::rules {
namespace {

// An address item as the canonical form writes it, so that a policy and
// its `policy fmt` compile to the same set: "fd00::06" is "fd00::6" and
// "10.0.0.1/32" is "10.0.0.1".
std::string item_name(const AddressItem& it) {
  switch (it.kind) {
    case AddressItem::Kind::literal: return prefix_text(it.prefix);
    case AddressItem::Kind::fqdn: return "fqdn:" + it.pattern.text();
    case AddressItem::Kind::sni: return "sni:" + it.pattern.text();
    case AddressItem::Kind::any:
    case AddressItem::Kind::segment: break;
  }
  return it.text;
}

void add_prefix(google::protobuf::RepeatedPtrField<pb::Prefix>* out, const Prefix& p) {
  auto* x = out->Add();
  x->set_addr(std::string(reinterpret_cast<const char*>(p.addr.data()), p.family == 4 ? 4 : 16));
  x->set_prefix_len(p.len);
}

// `full_is_empty`: the full range is written as no range (a rule's ports:
// no restriction); name settings' port lists keep it, since there an empty
// list would mean no port.
std::vector<PortRange> merge_ranges(std::vector<PortRange> r, bool full_is_empty = true) {
  std::sort(r.begin(), r.end(), [](const PortRange& a, const PortRange& b) { return a.lo < b.lo; });
  std::vector<PortRange> out;
  for (const auto& x : r) {
    if (!out.empty() && static_cast<uint32_t>(x.lo) <= static_cast<uint32_t>(out.back().hi) + 1)
      out.back().hi = std::max(out.back().hi, x.hi);
    else
      out.push_back(x);
  }
  // The full range is the same as no restriction.
  if (full_is_empty && out.size() == 1 && out[0].lo == 0 && out[0].hi == 65535) out.clear();
  return out;
}

void add_ranges(google::protobuf::RepeatedPtrField<pb::PortRange>* out, const std::vector<PortRange>& r,
                bool full_is_empty = true) {
  for (const auto& x : merge_ranges(r, full_is_empty)) {
    auto* y = out->Add();
    y->set_lo(x.lo);
    y->set_hi(x.hi);
  }
}

// The addresses one side of a rule stands for, and on the destination side
// its names: `fqdn` patterns (from its items and its segments') and `sni`.
struct Side {
  bool any = false;
  std::vector<Prefix> prefixes;
  std::vector<std::string> fqdn, sni;  // canonical patterns, each once, in the order written
  bool has(uint8_t family) const {
    return any || std::any_of(prefixes.begin(), prefixes.end(), [&](const Prefix& p) { return p.family == family; });
  }
  uint64_t count(uint8_t family) const {
    if (any) return 1;
    return static_cast<uint64_t>(
        std::count_if(prefixes.begin(), prefixes.end(), [&](const Prefix& p) { return p.family == family; }));
  }
};

// The classifier entries a compiled rule stands for: its addresses, and
// with names one more destination (any address of the family) per source.
uint64_t entries(const Side& from, const Side& to, const pb::CompiledRule& r) {
  const uint64_t names = to.fqdn.empty() ? 0 : 1;
  const uint64_t pairs = (r.v4() ? from.count(4) * (to.count(4) + names) : 0) +
                         (r.v6() ? from.count(6) * (to.count(6) + names) : 0);
  return pairs * std::max(1, r.sports_size()) * std::max(1, r.dports_size());
}

pb::RuleMode rule_mode(PolicyMode m) {
  switch (m) {
    case PolicyMode::enforce: return pb::RULE_MODE_ENFORCE;
    case PolicyMode::audit: return pb::RULE_MODE_AUDIT;
    case PolicyMode::learn: return pb::RULE_MODE_LEARN;
  }
  return pb::RULE_MODE_POLICY;
}

const char* mode_name(PolicyMode m) {
  return m == PolicyMode::audit ? "audit" : m == PolicyMode::learn ? "learn" : "enforce";
}

pb::SniFallback fallback(const std::optional<SniFallback>& f, SniFallback dflt) {
  return f.value_or(dflt) == SniFallback::allow ? pb::SNI_ALLOW : pb::SNI_DENY;
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
  std::unordered_map<std::string_view, const SegmentDef*> defs;
  for (const auto& s : policy.segments) {
    defs.emplace(s.name, &s);
    auto resolved = subtract(s.cidrs, s.except);
    // A segment of names alone has no addresses, so no address is in it.
    if (s.cidrs.empty() && !s.fqdn.empty()) {
      segments.emplace(s.name, std::move(resolved));
      continue;
    }
    if (resolved.empty())
      diag(Diagnostic::Severity::warning, s.loc, "segment '" + s.name + "' is empty after except");
    auto* seg = set.add_segments();
    seg->set_name(s.name);
    seg->set_line(s.loc.line);
    seg->set_column(s.loc.column);
    for (const auto& p : resolved) add_prefix(seg->mutable_prefixes(), p);
    segments.emplace(s.name, std::move(resolved));
  }

  // A side's addresses and names. Destinations are the addresses and the
  // `fqdn` names written; a `to:` of nothing but `sni:` items (which
  // narrow, never add) is any destination.
  auto resolve = [&](const std::vector<AddressItem>& items) {
    Side side;
    bool destinations = false;
    std::unordered_set<std::string_view> named;  // a segment named twice is added once
    auto add_name = [](std::vector<std::string>& to, const NamePattern& p) {
      std::string text = p.text();
      if (std::find(to.begin(), to.end(), text) == to.end()) to.push_back(std::move(text));
    };
    for (const auto& it : items) {
      switch (it.kind) {
        case AddressItem::Kind::any: side.any = destinations = true; break;
        case AddressItem::Kind::literal:
          side.prefixes.push_back(it.prefix);
          destinations = true;
          break;
        case AddressItem::Kind::segment: {
          destinations = true;
          if (!named.insert(it.text).second) break;
          const auto& p = segments.at(it.text);
          side.prefixes.insert(side.prefixes.end(), p.begin(), p.end());
          for (const auto& n : defs.at(it.text)->fqdn) add_name(side.fqdn, n);
          break;
        }
        case AddressItem::Kind::fqdn:
          destinations = true;
          add_name(side.fqdn, it.pattern);
          break;
        case AddressItem::Kind::sni: add_name(side.sni, it.pattern); break;
      }
    }
    if (!destinations) side.any = true;
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
  uint32_t fqdn_rules = 0, sni_rules = 0;
  for (const auto& [rp, tenant] : ordered) {
    const RuleDef& r = *rp;
    auto* out = set.add_rules();
    out->set_id(r.id);
    out->set_tenant(*tenant);
    out->set_action(r.action == Action::allow ? pb::ACTION_ALLOW : pb::ACTION_DENY);
    out->set_log(r.log);
    out->mutable_location()->set_line(r.loc.line);
    out->mutable_location()->set_column(r.loc.column);
    for (const auto& it : r.from) out->add_from_names(item_name(it));
    for (const auto& it : r.to) out->add_to_names(item_name(it));
    if (r.from.empty()) out->add_from_names("any");
    if (r.to.empty()) out->add_to_names("any");

    const Side from = resolve(r.from);
    Side to = resolve(r.to);
    if (to.any && !to.fqdn.empty()) {
      diag(Diagnostic::Severity::warning, r.loc,
           "rule '" + r.id + "' reaches any destination, so its fqdn names add nothing; they are left out");
      to.fqdn.clear();
    }
    for (const auto& p : from.prefixes) add_prefix(out->mutable_src(), p);
    for (const auto& p : to.prefixes) add_prefix(out->mutable_dst(), p);
    for (const auto& n : to.fqdn) out->add_fqdn(n);
    for (const auto& n : to.sni) out->add_sni(n);
    // Names bind addresses of both families: a rule with names reaches
    // every family its sources have.
    const bool names = !to.fqdn.empty();
    bool v4 = from.has(4) && (to.has(4) || names);
    bool v6 = from.has(6) && (to.has(6) || names);
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

    // The rule's mode: its own, else that of the segments it names.
    std::optional<PolicyMode> mode = r.mode;
    if (!mode) {
      const SegmentDef* first = nullptr;
      for (const auto* items : {&r.from, &r.to})
        for (const auto& it : *items) {
          if (it.kind != AddressItem::Kind::segment) continue;
          const SegmentDef* s = defs.at(it.text);
          if (!s->mode) continue;
          if (!first) {
            first = s;
            mode = s->mode;
          } else if (*s->mode != *mode) {
            diag(Diagnostic::Severity::error, it.loc,
                 "rule '" + r.id + "' names segments of different modes ('" + first->name + "': " +
                     mode_name(*first->mode) + ", '" + s->name + "': " + mode_name(*s->mode) +
                     ") and sets no mode of its own; give it one");
          }
        }
    }
    out->set_mode(mode ? rule_mode(*mode) : pb::RULE_MODE_POLICY);

    // Each rule with names takes one bit of the classifier key per kind.
    if (!to.fqdn.empty() && ++fqdn_rules == kMaxFqdnRules + 1)
      diag(Diagnostic::Severity::error, r.loc,
           "rule '" + r.id + "' is rule " + std::to_string(fqdn_rules) + " with fqdn names; a policy holds at most " +
               std::to_string(kMaxFqdnRules) + " (merge rules of the same clients and ports into one)");
    if (!to.sni.empty() && ++sni_rules == kMaxSniRules + 1)
      diag(Diagnostic::Severity::error, r.loc,
           "rule '" + r.id + "' is rule " + std::to_string(sni_rules) + " with sni names; a policy holds at most " +
               std::to_string(kMaxSniRules) + " (merge rules of the same clients and ports into one)");

    total_entries += entries(from, to, *out);
    if (total_entries > kMaxClassifierEntries) {
      diag(Diagnostic::Severity::error, r.loc,
           "the rules up to '" + r.id + "' stand for more than " + std::to_string(kMaxClassifierEntries) +
               " classifier entries (source x destination prefixes x port ranges); narrow or split them");
      break;
    }
  }

  if (fqdn_rules + sni_rules > 0) {
    const auto& d = kNameDefaults;
    auto* n = set.mutable_names();
    const Side trusted = resolve(policy.dns.trusted);
    if (!policy.dns.trusted.empty())
      for (const auto& p : trusted.prefixes) add_prefix(n->mutable_trusted_resolvers(), p);
    for (const auto& it : policy.dns.trusted) n->add_trusted_resolver_names(item_name(it));
    n->set_grace_seconds(policy.dns.grace.value_or(d.grace.default_value));
    n->set_max_addresses_per_name(policy.dns.max_addresses_per_name.value_or(d.max_addresses_per_name.default_value));
    n->set_max_names(policy.dns.max_names.value_or(d.max_names.default_value));
    n->set_max_bindings(policy.dns.max_bindings.value_or(d.max_bindings.default_value));
    const std::vector<PortRange> https{PortRange{d.tls_port, d.tls_port}};
    add_ranges(n->mutable_tls_ports(), policy.tls.ports.value_or(https), false);
    add_ranges(n->mutable_quic_ports(), policy.tls.quic_ports.value_or(https), false);
    n->set_hello_packets(policy.tls.hello_packets.value_or(d.hello_packets.default_value));
    n->set_hello_ms(policy.tls.hello_ms.value_or(d.hello_ms.default_value));
    n->set_no_sni(fallback(policy.tls.no_sni, SniFallback::deny));
    n->set_timeout(fallback(policy.tls.timeout, SniFallback::deny));
    n->set_ech(fallback(policy.tls.ech, SniFallback::allow));
    n->set_mismatch(fallback(policy.tls.mismatch, SniFallback::allow));
    n->set_reset(policy.tls.reset.value_or(true));
  }

  if (!result.has_errors()) result.value = std::move(set);
  return result;
}

}  // namespace bulkhead::rules
