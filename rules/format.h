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

// One YAML scalar that reads back as `text`, in a flow collection or out of
// one: plain when it is made only of letters, digits, '.', '_', '/' and
// '-' (not first) and is not a word YAML reads as null; otherwise
// double-quoted with libyaml's escapes. Every string the formatter writes
// goes through it. Throws std::invalid_argument when `text` is not UTF-8.
std::string yaml_scalar(std::string_view text);

// Text edits. Each returns the new source text or an error message; the
// caller validates the result before writing anything.
struct EditResult {
  std::string text;
  std::string error;  // empty on success
};
// Each edits one list of rules: the shared one (`tenant` empty) or the
// named tenant's (an error when the policy has no such tenant).
// Inserts `rule_line` (a flow-style rule, no indentation) before rule index
// `position` (position == rule count appends).
EditResult insert_rule_text(const Policy& policy, std::string_view tenant, size_t position,
                            const std::string& rule_line);
EditResult remove_rule_text(const Policy& policy, std::string_view tenant, size_t index);
EditResult move_rule_text(const Policy& policy, std::string_view tenant, size_t from, size_t to);

}  // namespace bulkhead::rules
