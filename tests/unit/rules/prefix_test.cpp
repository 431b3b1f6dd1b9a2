#include <gtest/gtest.h>

#include "rules/prefix.h"

namespace bulkhead::rules {
namespace {

Prefix P(const char* s) {
  std::string e;
  auto p = parse_prefix(s, e);
  EXPECT_TRUE(p.has_value()) << s << ": " << e;
  return p.value_or(Prefix{});
}

std::vector<std::string> fmt(const std::vector<Prefix>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(format_prefix(p));
  return out;
}

TEST(Prefix, ParsesV4V6AndBareHosts) {
  EXPECT_EQ(format_prefix(P("10.0.0.0/8")), "10.0.0.0/8");
  EXPECT_EQ(format_prefix(P("10.0.1.5")), "10.0.1.5/32");
  EXPECT_EQ(format_prefix(P("fd00::/8")), "fd00::/8");
  EXPECT_EQ(format_prefix(P("2001:db8::1")), "2001:db8::1/128");
  EXPECT_EQ(P("0.0.0.0/0").len, 0);
}

TEST(Prefix, RejectsHostBitsWithASuggestion) {
  std::string e;
  EXPECT_FALSE(parse_prefix("10.0.1.5/24", e));
  EXPECT_NE(e.find("did you mean 10.0.1.0/24"), std::string::npos) << e;
  EXPECT_FALSE(parse_prefix("10.0.0.0/33", e));
  EXPECT_NE(e.find("0-32"), std::string::npos);
  EXPECT_FALSE(parse_prefix("fd00::/129", e));
  EXPECT_FALSE(parse_prefix("10.0.0/8", e));
  EXPECT_FALSE(parse_prefix("web", e));
  EXPECT_FALSE(parse_prefix("10.0.0.0/", e));
}

TEST(Prefix, SubtractYieldsDisjointPrefixes) {
  EXPECT_EQ(fmt(subtract({P("0.0.0.0/0")}, {P("128.0.0.0/1")})), std::vector<std::string>{"0.0.0.0/1"});
  const auto r = fmt(subtract({P("10.0.0.0/8")}, {P("10.0.0.0/10")}));
  EXPECT_EQ(r, (std::vector<std::string>{"10.64.0.0/10", "10.128.0.0/9"}));
  const auto all = subtract({P("0.0.0.0/0")}, {P("10.0.0.0/8"), P("192.168.0.0/16")});
  EXPECT_EQ(all.size(), 7u + 15u);
  for (const auto& p : all) {
    EXPECT_FALSE(contains(P("10.0.0.0/8"), p) || contains(p, P("10.0.0.0/8")));
    EXPECT_FALSE(contains(P("192.168.0.0/16"), p) || contains(p, P("192.168.0.0/16")));
  }
  EXPECT_TRUE(subtract({P("10.0.1.0/24")}, {P("10.0.0.0/8")}).empty());
  EXPECT_EQ(fmt(subtract({P("::/0")}, {P("8000::/1")})), std::vector<std::string>{"::/1"});
  // A prefix of the other family is untouched.
  EXPECT_EQ(fmt(subtract({P("fd00::/8")}, {P("10.0.0.0/8")})), std::vector<std::string>{"fd00::/8"});
}

TEST(Prefix, NormaliseDropsCoveredAndMergesSiblings) {
  EXPECT_EQ(fmt(normalise({P("10.0.1.0/24"), P("10.0.0.0/16"), P("10.0.2.0/24")})),
            std::vector<std::string>{"10.0.0.0/16"});
  EXPECT_EQ(fmt(normalise({P("10.0.0.0/25"), P("10.0.0.128/25")})), std::vector<std::string>{"10.0.0.0/24"});
  EXPECT_EQ(fmt(normalise({P("10.0.0.0/26"), P("10.0.0.64/26"), P("10.0.0.128/25")})),
            std::vector<std::string>{"10.0.0.0/24"});
}

}  // namespace
}  // namespace bulkhead::rules
