// What a rule set says about names, in the form the dataplane asks it:
// which resolvers' answers are believed, for how long bindings live, which
// names the rules mention and which rules each name satisfies.
//
// Rules written with names are told apart in the classifier by one bit
// each (dataplane/acl_key.h): a rule with `fqdn` has an fqdn bit, a
// rule with `sni` an sni bit, numbered in rule order (rules/compiler.h
// bounds both). fqdn_bits(name) is the set of rules whose `fqdn` patterns
// match a name; sni_bits(name) likewise for `sni`.
//
// Ownership: built with its rule set (dataplane/ruleset.h), off the fast
// path; immutable afterwards, read by any number of workers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/names/bindings.h"
#include "proto/bulkhead.pb.h"
#include "rules/names.h"
#include "rules/prefix.h"

namespace bulkhead::dataplane::names {

class PolicyNames {
 public:
  static constexpr int8_t kNoBit = -1;

  // nullptr with an empty `error` when no rule of `set` uses names;
  // nullptr with `error` set when its names are malformed.
  static std::unique_ptr<PolicyNames> build(const pb::CompiledRuleSet& set, std::string& error);

  // A DNS answer from `addr` (4 or 16 bytes by `family`) may bind names.
  bool trusted_resolver(const uint8_t* addr, uint8_t family) const noexcept;

  uint32_t grace_seconds() const noexcept { return settings_.grace_seconds(); }
  const pb::NameSettings& settings() const noexcept { return settings_; }
  // The binding table's bounds the policy asks for.
  BindingTable::Limits limits() const noexcept;

  // The rules (as fqdn or sni bits) whose patterns match a canonical name;
  // 0 when none does.
  uint32_t fqdn_bits(std::string_view canonical) const { return static_cast<uint32_t>(fqdn_.sets_of(canonical)); }
  uint32_t sni_bits(std::string_view canonical) const { return static_cast<uint32_t>(sni_.sets_of(canonical)); }
  // A name some `fqdn` pattern matches: worth binding.
  bool mentions(std::string_view canonical) const { return fqdn_bits(canonical) != 0; }

  // Rule `rule`'s bits, kNoBit where it has none.
  int8_t fqdn_bit(uint32_t rule) const noexcept { return rule < fqdn_bit_.size() ? fqdn_bit_[rule] : kNoBit; }
  int8_t sni_bit(uint32_t rule) const noexcept { return rule < sni_bit_.size() ? sni_bit_[rule] : kNoBit; }
  uint32_t fqdn_rules() const noexcept { return fqdn_rules_; }
  uint32_t sni_rules() const noexcept { return sni_rules_; }

  // The TCP (TLS) and UDP (QUIC) destination ports whose first flight is
  // read for a server name.
  bool tls_port(uint16_t port) const noexcept { return in(tls_ports_, port); }
  bool quic_port(uint16_t port) const noexcept { return in(quic_ports_, port); }

 private:
  struct Range {
    uint16_t lo, hi;
  };
  static bool in(const std::vector<Range>& r, uint16_t port) noexcept {
    for (const auto& x : r)
      if (port >= x.lo && port <= x.hi) return true;
    return false;
  }

  pb::NameSettings settings_;
  std::vector<rules::Prefix> resolvers_;
  std::vector<Range> tls_ports_, quic_ports_;
  rules::NameMatcher fqdn_, sni_;
  std::vector<int8_t> fqdn_bit_, sni_bit_;
  uint32_t fqdn_rules_ = 0, sni_rules_ = 0;
};

}  // namespace bulkhead::dataplane::names
