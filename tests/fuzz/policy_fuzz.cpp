// The policy reader on arbitrary text: a policy is loaded or refused with
// at least one error, never more diagnostics than the documented limit
// (plus the line that counts the rest), and nothing crashes. A policy that
// loads is analysed, and its canonical form (`bulkhead policy fmt`) loads
// again to the same rules: every string the formatter writes is escaped.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "rules/analysis.h"
#include "rules/compiler.h"
#include "rules/format.h"
#include "rules/parser.h"
#include "tests/common/compiled_set.h"

using namespace bulkhead;
using test::meaning;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto parsed = rules::parse_policy(text, "fuzz.yaml");
  if (parsed.diagnostics.size() > rules::kPolicyLimits.max_diagnostics + 1) std::abort();
  if (!parsed.ok()) {
    if (!parsed.has_errors()) std::abort();
    return 0;
  }
  const auto compiled = rules::compile(*parsed.value);
  if (!compiled.ok()) {
    if (!compiled.has_errors()) std::abort();
    return 0;
  }
  rules::AnalysisOptions options;
  options.now_unix = 1'800'000'000;
  (void)rules::analyse(*compiled.value, options);

  const std::string formatted = rules::format_policy(*parsed.value);
  const auto again = rules::parse_policy(formatted, "formatted.yaml");
  if (!again.ok()) std::abort();
  const auto recompiled = rules::compile(*again.value);
  if (!recompiled.ok() || meaning(*recompiled.value) != meaning(*compiled.value)) std::abort();
  for (size_t i = 0; i < parsed.value->rules.size(); ++i)
    if (again.value->rules[i].description != parsed.value->rules[i].description) std::abort();
  return 0;
}
