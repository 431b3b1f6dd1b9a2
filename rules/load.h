// Parse and compile in one step: what the dataplane and the CLI call to turn
// a policy file into a compiled rule set. Diagnostics of both stages are
// returned together.
#pragma once

#include <string>
#include <string_view>

#include "proto/bulkhead.pb.h"
#include "rules/diagnostic.h"

namespace bulkhead::rules {

Result<pb::CompiledRuleSet> load_policy(std::string_view text, std::string_view source_name);
Result<pb::CompiledRuleSet> load_policy_file(const std::string& path);
// An inventory's segments, compiled to disjoint prefixes (no rules).
Result<pb::CompiledRuleSet> load_inventory_file(const std::string& path);

}  // namespace bulkhead::rules
