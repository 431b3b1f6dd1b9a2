#include "dataplane/names/policy_names.h"

#include <cstring>

#include "rules/compiler.h"

namespace bulkhead::dataplane::names {
namespace {

// Adds a rule's patterns to `m` under `bit`; false on a malformed one.
bool add_patterns(const google::protobuf::RepeatedPtrField<std::string>& patterns, unsigned bit,
                  rules::NameMatcher& m, const std::string& rule, std::string& error) {
  for (const auto& text : patterns) {
    std::string why;
    auto p = rules::parse_name_pattern(text, why);
    if (!p || p->text() != text) {  // the compiler writes patterns canonical
      error = "rule '" + rule + "': name pattern '" + text + "' is not in canonical form" +
              (why.empty() ? "" : ": " + why);
      return false;
    }
    m.add(*p, bit);
  }
  return true;
}

}  // namespace

std::unique_ptr<PolicyNames> PolicyNames::build(const pb::CompiledRuleSet& set, std::string& error) {
  error.clear();
  std::unique_ptr<PolicyNames> out(new PolicyNames());
  const auto n = static_cast<uint32_t>(set.rules_size());
  out->fqdn_bit_.assign(n, kNoBit);
  out->sni_bit_.assign(n, kNoBit);
  // One kind of names (fqdn or sni) of rule i: its bit, its patterns.
  auto take = [&](uint32_t i, const pb::CompiledRule& r, const google::protobuf::RepeatedPtrField<std::string>& patterns,
                  const char* kind, uint32_t limit, uint32_t& count, std::vector<int8_t>& bits, rules::NameMatcher& m) {
    if (patterns.empty()) return true;
    if (count == limit) {
      error = "rule '" + r.id() + "': more than " + std::to_string(limit) + " rules with " + kind;
      return false;
    }
    bits[i] = static_cast<int8_t>(count);
    return add_patterns(patterns, count++, m, r.id(), error);
  };
  for (uint32_t i = 0; i < n; ++i) {
    const auto& r = set.rules(static_cast<int>(i));
    if (!take(i, r, r.fqdn(), "fqdn", rules::kMaxFqdnRules, out->fqdn_rules_, out->fqdn_bit_, out->fqdn_) ||
        !take(i, r, r.sni(), "sni", rules::kMaxSniRules, out->sni_rules_, out->sni_bit_, out->sni_))
      return nullptr;
  }
  if (out->fqdn_rules_ == 0 && out->sni_rules_ == 0) return nullptr;

  out->settings_ = set.names();
  for (const auto& p : out->settings_.trusted_resolvers()) {
    rules::Prefix r;
    const auto& a = p.addr();
    if ((a.size() != 4 && a.size() != 16) || p.prefix_len() > a.size() * 8) {
      error = "a trusted resolver prefix is malformed";
      return nullptr;
    }
    r.family = a.size() == 4 ? 4 : 6;
    r.len = static_cast<uint8_t>(p.prefix_len());
    std::memcpy(r.addr.data(), a.data(), a.size());
    out->resolvers_.push_back(r);
  }
  auto ranges = [&](const google::protobuf::RepeatedPtrField<pb::PortRange>& in, std::vector<Range>& to) {
    for (const auto& x : in) {
      if (x.lo() > x.hi() || x.hi() > 65535) {
        error = "a name setting's port range is malformed";
        return false;
      }
      to.push_back(Range{static_cast<uint16_t>(x.lo()), static_cast<uint16_t>(x.hi())});
    }
    return true;
  };
  if (!ranges(out->settings_.tls_ports(), out->tls_ports_) || !ranges(out->settings_.quic_ports(), out->quic_ports_))
    return nullptr;
  return out;
}

bool PolicyNames::trusted_resolver(const uint8_t* addr, uint8_t family) const noexcept {
  std::array<uint8_t, 16> a{};
  std::memcpy(a.data(), addr, family == 4 ? 4 : 16);
  for (const auto& r : resolvers_)
    if (rules::contains_address(r, family, a)) return true;
  return false;
}

BindingTable::Limits PolicyNames::limits() const noexcept {
  BindingTable::Limits l;
  if (settings_.max_bindings() != 0) l.bindings = settings_.max_bindings();
  if (settings_.max_names() != 0) l.names = settings_.max_names();
  if (settings_.max_addresses_per_name() != 0) l.max_addresses_per_name = settings_.max_addresses_per_name();
  return l;
}

}  // namespace bulkhead::dataplane::names
