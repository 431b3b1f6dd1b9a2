// The built-in `internet` segment: what it holds, that a policy's own
// replaces it, and that it is never written back into a file.
#include <gtest/gtest.h>

#include "rules/format.h"
#include "rules/internet.h"
#include "rules/load.h"
#include "rules/match.h"
#include "rules/parser.h"

namespace bulkhead::rules {
namespace {

const char* kEgress =
    "version: 1\n"
    "segments:\n"
    "  web: [10.0.1.0/24, \"fd00:1::/64\"]\n"
    "rules:\n"
    "  - { id: web-egress, from: web, to: internet, proto: tcp, ports: [443], action: allow }\n";

bool reaches(const pb::CompiledRuleSet& set, const char* from, const char* to) {
  Tuple t;
  std::string error;
  auto src = parse_prefix(from, error);
  auto dst = parse_prefix(to, error);
  EXPECT_TRUE(src && dst) << from << " " << to;
  t.family = src->family;
  t.src = src->addr;
  t.dst = dst->addr;
  t.proto = 6;
  t.sport = 40000;
  t.dport = 443;
  return match_first(set, t, 0) == 0;
}

TEST(Internet, BuiltInHoldsWhatIsRoutedOnTheInternet) {
  auto r = load_policy(kEgress, "p.yaml");
  ASSERT_TRUE(r.ok()) << r.diagnostics[0].str();
  const auto& set = *r.value;
  for (const char* inside : {"8.8.8.8", "192.0.2.10", "198.51.100.1", "203.0.113.7", "1.1.1.1", "172.32.0.1",
                             "100.128.0.1", "2001:db8::1", "2606:4700::1111"}) {
    const bool v6 = std::string_view(inside).find(':') != std::string_view::npos;
    EXPECT_TRUE(reaches(set, v6 ? "fd00:1::5" : "10.0.1.5", inside)) << inside;
  }
  for (const char* outside : {"10.9.9.9", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1",
                              "100.127.255.255", "127.0.0.1", "169.254.169.254", "224.0.0.251", "239.1.1.1",
                              "0.0.0.0", "255.255.255.255", "fd12::1", "fc00::1", "fe80::1", "ff02::1", "::1", "::"}) {
    const bool v6 = std::string_view(outside).find(':') != std::string_view::npos;
    EXPECT_FALSE(reaches(set, v6 ? "fd00:1::5" : "10.0.1.5", outside)) << outside;
  }
  EXPECT_FALSE(segment_of(set, 4, Tuple{}.dst).has_value());  // 0.0.0.0 is in no segment
}

TEST(Internet, APolicysOwnInternetReplacesIt) {
  auto r = load_policy(std::string(kEgress).replace(std::string(kEgress).find("rules:"), 0,
                                                    "  internet: [\"0.0.0.0/0\"]\n"),
                       "p.yaml");
  ASSERT_TRUE(r.ok()) << r.diagnostics[0].str();
  EXPECT_TRUE(reaches(*r.value, "10.0.1.5", "192.168.1.1"));  // theirs has no exceptions
}

TEST(Internet, AddedOnlyWhenNamedAndNeverWrittenBack) {
  auto p = parse_policy(kEgress, "p.yaml");
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.value->segments.size(), 2u);
  EXPECT_TRUE(p.value->segments[1].builtin);
  EXPECT_EQ(p.value->segments[1].name, kInternetSegment);
  const std::string text = format_policy(*p.value);
  EXPECT_EQ(text.find("internet:"), std::string::npos) << text;
  auto again = parse_policy(text, "p.yaml");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value->segments.size(), 2u);

  auto without = parse_policy("version: 1\nrules:\n  - { id: a, from: 10.0.0.1, action: allow }\n", "p.yaml");
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE(without.value->segments.empty());
}

}  // namespace
}  // namespace bulkhead::rules
