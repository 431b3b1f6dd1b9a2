// Writing policies back as text: the canonical form (`bulkhead policy fmt`)
// and single-rule edits that keep the rest of the file — comments included
// — as the person wrote it (`bulkhead rule add|remove|move`).
#pragma once

#include <string>
#include <string_view>

#include "rules/diagnostic.h"
#include "rules/policy.h"

namespace bulkhead::rules {

// The canonical text: fixed key order, one rule per line in flow style,
// segments one per line. Comments at the top of the source are kept; yaml
// keeps no others, so fmt says so when the source has any.
std::string format_policy(const Policy& policy);
std::string format_rule(const RuleDef& rule);

// Text edits. Each returns the new source text or an error message; the
// caller validates the result before writing anything.
struct EditResult {
  std::string text;
  std::string error;  // empty on success
};
// Inserts `rule_line` (a flow-style rule, no indentation) before rule index
// `position` (position == rule count appends).
EditResult insert_rule_text(const Policy& policy, size_t position, const std::string& rule_line);
EditResult remove_rule_text(const Policy& policy, size_t index);
EditResult move_rule_text(const Policy& policy, size_t from, size_t to);

}  // namespace bulkhead::rules
