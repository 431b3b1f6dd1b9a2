// A generation as a change of another: which rules of the new compiled set
// are rules of the base set, unchanged (by their encoded bytes, source
// location aside), and which are its own. Sent to a dataplane that runs the base, it carries a few
// rules instead of the whole set (PushRuleSet.base_generation, pieces).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane {

// Each rule of a set, encoded without its source location: what makes two
// rules the same. (A rule the change names keeps the dataplane's copy,
// whose location may be older; the dataplane does not use locations.)
std::vector<std::string> encode_rules(const pb::CompiledRuleSet& set);

// Copies every field of a compiled set but its rules (a test checks that
// this list and the message's fields stay in step).
void copy_header(const pb::CompiledRuleSet& from, pb::CompiledRuleSet& to);

// Fills `push` (rule_set without its rules, base_generation, pieces) with
// `next` as a change of `base`. False when the change would carry more than
// half of `next`'s rules: the whole set is then the better message.
bool make_change(const pb::CompiledRuleSet& base, const std::vector<std::string>& base_rules,
                 const pb::CompiledRuleSet& next, const std::vector<std::string>& next_rules,
                 pb::PushRuleSet& push);

}  // namespace bulkhead::controlplane
