// Compiler from the Policy model to the compiled rule set (proto/), the
// object every other part consumes: segments resolved to disjoint prefixes
// (with `except` subtracted), rules with their address sets, families,
// protocol and port ranges, in match order.
#pragma once

#include "proto/bulkhead.pb.h"
#include "rules/diagnostic.h"
#include "rules/policy.h"

namespace bulkhead::rules {

inline constexpr uint32_t kFormatVersion = 1;

Result<pb::CompiledRuleSet> compile(const Policy& policy);

}  // namespace bulkhead::rules
