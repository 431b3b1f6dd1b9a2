// Names and patterns as policies write them, and what they match.
#include "rules/names.h"

#include <gtest/gtest.h>

namespace bulkhead::rules {
namespace {

NamePattern pattern(std::string_view text) {
  std::string error;
  auto p = parse_name_pattern(text, error);
  EXPECT_TRUE(p) << text << ": " << error;
  return p.value_or(NamePattern{});
}

std::string refusal(std::string_view text) {
  std::string error;
  EXPECT_FALSE(parse_name_pattern(text, error)) << text;
  return error;
}

TEST(Names, CanonicalFormIsLowerCaseALabelsWithoutTheTrailingDot) {
  EXPECT_EQ(pattern("API.Example.COM.").name, "api.example.com");
  EXPECT_EQ(pattern("_dmarc.example.com").name, "_dmarc.example.com");
  EXPECT_EQ(pattern("bücher.example").name, "xn--bcher-kva.example");
  EXPECT_EQ(pattern("BÜCHER.example").name, "xn--bcher-kva.example");
  EXPECT_EQ(pattern("xn--bcher-kva.example").name, "xn--bcher-kva.example");
  EXPECT_EQ(pattern("*.Example.com").text(), "*.example.com");
}

TEST(Names, BadNamesAreRefusedWithAReason) {
  EXPECT_NE(refusal("*").find("to: internet"), std::string::npos);
  EXPECT_NE(refusal("api.*.example.com").find("leftmost"), std::string::npos);
  EXPECT_NE(refusal("a*.example.com").find("leftmost"), std::string::npos);
  EXPECT_NE(refusal("a..example").find("empty label"), std::string::npos);
  EXPECT_NE(refusal("").find("empty"), std::string::npos);
  EXPECT_NE(refusal("-a.example").find("'-'"), std::string::npos);
  EXPECT_NE(refusal("a b.example").find("not allowed"), std::string::npos);
  EXPECT_NE(refusal(std::string(64, 'a') + ".example").find("63"), std::string::npos);
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'a') + ".";
  EXPECT_NE(refusal(long_name + "example").find("253"), std::string::npos);
}

TEST(Names, WildcardsMatchEveryDepthButNotTheDomainItself) {
  const NamePattern under = pattern("*.example.com");
  EXPECT_TRUE(matches(under, "api.example.com"));
  EXPECT_TRUE(matches(under, "a.b.example.com"));
  EXPECT_FALSE(matches(under, "example.com"));
  EXPECT_FALSE(matches(under, "badexample.com"));
  EXPECT_FALSE(matches(under, "example.com.evil.net"));
  const NamePattern exact = pattern("example.com");
  EXPECT_TRUE(matches(exact, "example.com"));
  EXPECT_FALSE(matches(exact, "api.example.com"));
}

TEST(Names, MatcherGivesEverySetOfAName) {
  NameMatcher m;
  EXPECT_TRUE(m.empty());
  m.add(pattern("api.stripe.com"), 0);
  m.add(pattern("*.amazonaws.com"), 1);
  m.add(pattern("*.s3.amazonaws.com"), 2);
  m.add(pattern("s3.amazonaws.com"), 3);
  m.add(pattern("api.stripe.com"), 63);
  EXPECT_EQ(m.sets_of("api.stripe.com"), (uint64_t(1) << 63) | 1);
  EXPECT_EQ(m.sets_of("bucket.s3.amazonaws.com"), uint64_t(0b110));
  EXPECT_EQ(m.sets_of("s3.amazonaws.com"), uint64_t(0b1010));
  EXPECT_EQ(m.sets_of("amazonaws.com"), 0u);
  EXPECT_EQ(m.sets_of("stripe.com"), 0u);
  EXPECT_EQ(m.sets_of(""), 0u);
}

}  // namespace
}  // namespace bulkhead::rules
