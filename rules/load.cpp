#include "rules/load.h"

#include "rules/compiler.h"
#include "rules/parser.h"

namespace bulkhead::rules {
namespace {

Result<pb::CompiledRuleSet> compile_parsed(Result<Policy> parsed) {
  Result<pb::CompiledRuleSet> out;
  out.diagnostics = std::move(parsed.diagnostics);
  if (!parsed.ok()) return out;
  auto compiled = compile(*parsed.value);
  out.diagnostics.insert(out.diagnostics.end(), compiled.diagnostics.begin(), compiled.diagnostics.end());
  out.value = std::move(compiled.value);
  return out;
}

}  // namespace

Result<pb::CompiledRuleSet> load_policy(std::string_view text, std::string_view source_name) {
  return compile_parsed(parse_policy(text, source_name));
}

Result<pb::CompiledRuleSet> load_policy_file(const std::string& path) {
  return compile_parsed(parse_policy_file(path));
}

Result<pb::CompiledRuleSet> load_inventory_file(const std::string& path) {
  return compile_parsed(parse_inventory_file(path));
}

}  // namespace bulkhead::rules
