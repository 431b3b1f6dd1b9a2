// Inside the classifier (acl_build.cpp, acl_change.cpp): compiled rules
// expanded into rte_acl entries, and entries built into contexts. Not for
// use outside dataplane/acl_*.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/acl_context.h"
#include "dataplane/names/policy_names.h"
#include "rules/compiler.h"  // kMaxClassifierEntries: the compiler refuses the same

namespace bulkhead::dataplane::acl {

// The classifier's tenant value of each rule of a set: 0 for a shared
// rule (every tenant), else its tenant's tag (pb::Tenant::tag, or the
// tenant's position + 1 where no dataplane filled the tag in).
class TenantValues {
 public:
  explicit TenantValues(const pb::CompiledRuleSet& set);
  uint32_t of(const pb::CompiledRule& r) const;

 private:
  std::vector<std::pair<std::string, uint32_t>> by_name_;  // sorted
};

// A rule's fqdn and sni bits (names::PolicyNames), kNoBit where it has none.
struct RuleBits {
  int8_t fqdn = names::PolicyNames::kNoBit;
  int8_t sni = names::PolicyNames::kNoBit;
  bool operator==(const RuleBits&) const = default;
};
RuleBits bits_of(const names::PolicyNames* names, uint32_t rule) noexcept;

// Appends the entries of rule `index` (of `rule_count`) for the entry's
// family, for tenant value `tenant` (TenantValues); userdata = index + 1.
// A rule with `fqdn` has its address part (the `dst` beside the names)
// and its name part (any destination, on condition of its fqdn bit); a
// rule with `sni` puts its sni bit on every entry. `total` guards the
// whole set's expansion.
template <class AclRule>
bool expand_rule(const pb::CompiledRule& r, uint32_t tenant, RuleBits bits, uint32_t index, uint32_t rule_count,
                 std::vector<AclRule>& out, uint64_t& total, std::string& error);

// A context over `count` entries (built, or shared from `previous` when
// one has the same entries); numbers the rules locally first.
template <class AclRule>
bool make_shard(AclRule* entries, size_t count, const std::vector<AclShard>* previous, uint32_t& reused,
                AclShard& shard, std::string& error);

// An rte_acl context over entries already numbered locally.
template <class AclRule>
std::shared_ptr<AclContext> build_context(const AclRule* entries, size_t count, std::string& error);

extern template bool expand_rule<AclRule4>(const pb::CompiledRule&, uint32_t, RuleBits, uint32_t, uint32_t,
                                           std::vector<AclRule4>&, uint64_t&, std::string&);
extern template bool expand_rule<AclRule6>(const pb::CompiledRule&, uint32_t, RuleBits, uint32_t, uint32_t,
                                           std::vector<AclRule6>&, uint64_t&, std::string&);
extern template bool make_shard<AclRule4>(AclRule4*, size_t, const std::vector<AclShard>*, uint32_t&, AclShard&,
                                          std::string&);
extern template bool make_shard<AclRule6>(AclRule6*, size_t, const std::vector<AclShard>*, uint32_t&, AclShard&,
                                          std::string&);
extern template std::shared_ptr<AclContext> build_context<AclRule4>(const AclRule4*, size_t, std::string&);
extern template std::shared_ptr<AclContext> build_context<AclRule6>(const AclRule6*, size_t, std::string&);

}  // namespace bulkhead::dataplane::acl
