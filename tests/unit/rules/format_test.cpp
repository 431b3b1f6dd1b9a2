// The canonical form (`bulkhead policy fmt`): it loads again, to a set that
// means the same. Each case here is one the policy fuzz target found.
#include <gtest/gtest.h>

#include <string>

#include "rules/compiler.h"
#include "rules/format.h"
#include "rules/parser.h"
#include "tests/common/compiled_set.h"

namespace bulkhead::rules {
namespace {

using test::meaning;

// Loads `text`, formats it, loads that, and returns the formatted text.
std::string round_trip(const std::string& text) {
  const auto p = parse_policy(text, "p.yaml");
  EXPECT_TRUE(p.ok()) << p.diagnostics[0].str();
  if (!p.ok()) return {};
  const auto set = compile(*p.value);
  EXPECT_TRUE(set.ok());
  const std::string formatted = format_policy(*p.value);
  const auto again = parse_policy(formatted, "fmt.yaml");
  EXPECT_TRUE(again.ok()) << again.diagnostics[0].str() << "\n" << formatted;
  if (!again.ok() || !set.ok()) return formatted;
  const auto reset = compile(*again.value);
  EXPECT_TRUE(reset.ok()) << formatted;
  if (reset.ok()) {
    EXPECT_EQ(meaning(*reset.value), meaning(*set.value)) << formatted;
  }
  EXPECT_EQ(format_policy(*again.value), formatted);
  return formatted;
}

TEST(CanonicalForm, AnEmptyCidrsListBesideExceptStays) {
  const auto text = round_trip(
      "version: 1\n"
      "segments:\n"
      "  inet: { cidrs: [], except: [10.0.0.0/8, 10.1.2.3, \"fd00::08\"] }\n"
      "rules:\n"
      "  - { id: inet, action: allow }\n");
  EXPECT_NE(text.find("inet: { cidrs: [], except: [10.0.0.0/8, 10.1.2.3, \"fd00::8\"] }"), std::string::npos) << text;
}

TEST(CanonicalForm, AddressesWrittenTwoWaysCompileToOneName) {
  const auto text = round_trip(
      "version: 1\n"
      "segments: { web: [10.0.1.0/24] }\n"
      "rules:\n"
      "  - { id: a, from: web, to: [\"fd00::06\", 10.0.0.1/32], proto: udp, ports: [06], action: allow }\n");
  EXPECT_NE(text.find("to: [\"fd00::6\", 10.0.0.1], proto: udp, ports: [6]"), std::string::npos) << text;
}

}  // namespace
}  // namespace bulkhead::rules
