// The classifier: a rule set's rules as rte_acl contexts, one family at a
// time.
//
// Large sets with many rules open on each address side are split by rule
// shape into several contexts (acl_build.cpp); classification asks each
// and keeps the lowest rule index (acl_classify.cpp). Contexts number their
// rules locally, so a new set shares every context whose rules did not
// change with the set it replaces. A change pushed by the control plane
// rebuilds none (acl_change.cpp): the kept contexts turn removed rules into
// tombstones, new rules go into a small overlay context, and each kept
// context with tombstones gets a shadow: the live entries that overlap a
// removed one, built as a context of their own, which answers exactly for
// the keys whose best entry is a tombstone. No lookup ever scans entries.
//
// Ownership: built on the main lcore (or the control channel's thread)
// off the fast path; immutable once a RuleSet holding them is published;
// freed with the last RuleSet that uses them, after its grace period.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_acl.h>

#include "dataplane/acl_key.h"
#include "dataplane/names/policy_names.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::dataplane {

// A classifier entry's rule that a change removed or replaced: the entry
// stays in its context until the next full build; the context's shadow
// answers for keys it used to decide.
inline constexpr uint32_t kTombstone = UINT32_MAX - 1;
// A rule of a changed set that is not in the set it was changed from.
inline constexpr uint32_t kNewRule = UINT32_MAX;

// One built rte_acl context, shared by every rule set whose entries for it
// are the same.
struct AclContext {
  rte_acl_ctx* ctx = nullptr;
  uint64_t fingerprint = 0;  // of its entries, with rule numbers local to the context
  // Its entries (rte_acl rules with local rule numbers), kept to rebuild a
  // changed set's overlay and to build shadows.
  std::vector<uint8_t> entries;
  uint32_t count = 0;
  AclContext() = default;
  AclContext(const AclContext&) = delete;
  AclContext& operator=(const AclContext&) = delete;
  ~AclContext();
};

// A context as one rule set uses it: its local rule numbers (rte_acl's
// userdata, 1-based, in rule order) translated to this set's rule indexes.
struct AclShard {
  std::shared_ptr<const AclContext> context;
  std::vector<uint32_t> rule_of;  // [0] = kNoRule, [local] = rule index or kTombstone
  bool overlay = false;           // holds a change's new rules
  // The live entries of `context` that overlap a tombstoned one, with the
  // same local numbers; null when no rule of the context is a tombstone
  // (or none of its live entries overlaps one).
  std::shared_ptr<const AclContext> shadow;
  bool has_tombstones = false;
};

// One family's contexts of a rule set.
struct AclFamily {
  std::vector<AclShard> shards;
  uint32_t entries = 0;  // live classifier entries
};

// Builds the contexts of family v4/v6 from the rules of `set` whose
// `active` flag is set, with the rules' name bits from `names` (nullptr:
// the set uses no names); contexts of `previous` with the same entries are
// shared (counted in `reused`). False with `error`.
bool build_family(const pb::CompiledRuleSet& set, const std::vector<bool>& active, const names::PolicyNames* names,
                  bool v6, const AclFamily* previous, AclFamily& out, uint32_t& reused, std::string& error);

// The contexts of a change of `previous` (see RuleSet::change): `base_of`
// maps each rule of `set` to its index in the previous set or kNewRule,
// `new_of` the reverse (kTombstone: removed). False with an empty `error`
// when a full build is the better answer (a large overlay or shadow).
bool change_family(const pb::CompiledRuleSet& set, const names::PolicyNames* names, const AclFamily& previous,
                   const std::vector<uint32_t>& base_of, const std::vector<uint32_t>& new_of,
                   const std::vector<bool>& active, bool v6, AclFamily& out, std::string& error);

// Classifies `n` keys: out[i] is the lowest matching rule index, or
// kNoRule. Any thread, concurrently.
void classify_family(const AclFamily& f, const AclKey4* const* keys, uint32_t n, uint32_t* out) noexcept;
void classify_family(const AclFamily& f, const AclKey6* const* keys, uint32_t n, uint32_t* out) noexcept;

}  // namespace bulkhead::dataplane
