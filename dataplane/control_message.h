// What the dataplane accepts from the control channel, checked before
// anything is built: a push must be a version-1 ControlMessage carrying a
// rule set newer than the running one, whole or as a well-formed change,
// under a leader term no lower than the highest accepted (docs/ha.md),
// and every rule set it leads to must be one the compiler could have made
// (valid enums, prefixes with their host bits clear, ordered port ranges,
// one rule per id, one segment per name). A control plane holding the real
// server key is still outside input: whatever it sends is checked here.
//
// Pure functions: no I/O, no DPDK, no state; any thread may call them.
// Their cost is linear in the message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/bulkhead.pb.h"

namespace bulkhead::dataplane {

inline constexpr uint32_t kControlVersion = 1;
// Longest rule id or segment name accepted (the policy language's are far
// shorter); anything longer is not something the compiler made.
inline constexpr size_t kMaxNameBytes = 256;

// deposed: the push's leader term is lower than the highest accepted (a
// deposed leader, or a control plane that does not elect, term 0, after
// an elected one).
enum class PushCheck { accept, malformed, stale, deposed };

// Checks one received frame: a version-1 ControlMessage carrying a rule set
// whose generation is higher than `running`, whole (no pieces) or as a
// change (a base generation, pieces, and no rules of its own), under a
// leader term of at least `highest_term`. A push under a term higher than
// `highest_term` may also carry the running generation itself: a new
// leader's first word, which the dataplane enforces afresh from it (the
// store's generation numbers are shared by its leaders, but what it ran
// came from another controller). Fills `message` and, when the push is
// refused, `reason`.
PushCheck check_push(const void* data, size_t size, uint64_t running, uint64_t highest_term,
                     pb::ControlMessage& message, std::string& reason);

// True when `set` is a rule set the compiler could have produced; false
// with the first problem in `error` ("rule 3 (id web): ...").
bool validate_rule_set(const pb::CompiledRuleSet& set, std::string& error);

// Marks a new rule in a change's mapping.
inline constexpr uint32_t kChangeNewRule = UINT32_MAX;

// Walks a change's pieces against a base set of `base_rules` rules: fills
// `base_of` (for each rule of the new set, the base rule it is, or
// kChangeNewRule) and `taken` (which base rules stay). False with `error`
// when a run reaches past the base or names a base rule twice. Linear in
// the new set's size.
bool map_change(const pb::PushRuleSet& push, uint32_t base_rules, std::vector<uint32_t>& base_of,
                std::vector<bool>& taken, std::string& error);

}  // namespace bulkhead::dataplane
