#include <gtest/gtest.h>

#include "rules/load.h"
#include "rules/prefix.h"
#include "tests/common/compiled_set.h"

namespace bulkhead::rules {
namespace {

pb::CompiledRuleSet load(const std::string& text) {
  auto r = load_policy(text, "p.yaml");
  EXPECT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : r.diagnostics[0].str());
  return r.value.value_or(pb::CompiledRuleSet{});
}

std::vector<std::string> prefixes(const google::protobuf::RepeatedPtrField<pb::Prefix>& v) {
  return test::prefix_texts(v);
}

const char* kHeader =
    "version: 1\n"
    "segments:\n"
    "  web: [10.0.1.0/24, \"fd00:1::/64\"]\n"
    "  db: [10.0.2.0/24]\n"
    "  internet: { cidrs: [\"0.0.0.0/0\", \"::/0\"], except: [10.0.0.0/8, \"fd00::/8\"] }\n"
    "rules:\n";

TEST(Compiler, SegmentsResolveWithExcept) {
  const auto set = load(std::string(kHeader) + "  - { id: a, from: web, to: internet, action: allow }\n");
  ASSERT_EQ(set.segments_size(), 3);
  const auto inet = prefixes(set.segments(2).prefixes());
  EXPECT_EQ(inet.size(), 8u + 8u);
  EXPECT_EQ(inet.front(), "0.0.0.0/5");
  EXPECT_TRUE(std::find(inet.begin(), inet.end(), "11.0.0.0/8") != inet.end());
  EXPECT_TRUE(std::find(inet.begin(), inet.end(), "fe00::/7") != inet.end());
  EXPECT_TRUE(std::find(inet.begin(), inet.end(), "fc00::/8") != inet.end());
  EXPECT_EQ(set.format_version(), 1u);
  EXPECT_EQ(set.source_sha256().size(), 64u);
}

TEST(Compiler, FamiliesFollowBothSides) {
  const auto set = load(std::string(kHeader) +
                        "  - { id: both, from: web, to: internet, action: allow }\n"
                        "  - { id: v4only, from: web, to: db, action: allow }\n"
                        "  - { id: any, action: allow }\n"
                        "  - { id: icmp, proto: icmp, action: allow }\n"
                        "  - { id: icmp6, proto: icmpv6, action: allow }\n"
                        "  - { id: lit6, from: any, to: \"fd00:2::1\", action: allow }\n");
  auto flags = [&](int i) { return std::pair{set.rules(i).v4(), set.rules(i).v6()}; };
  EXPECT_EQ(flags(0), std::pair(true, true));
  EXPECT_EQ(flags(1), std::pair(true, false));
  EXPECT_EQ(flags(2), std::pair(true, true));
  EXPECT_EQ(flags(3), std::pair(true, false));
  EXPECT_EQ(flags(4), std::pair(false, true));
  EXPECT_EQ(flags(5), std::pair(false, true));
  EXPECT_TRUE(set.rules(2).src().empty());
  EXPECT_EQ(prefixes(set.rules(1).src()), (std::vector<std::string>{"10.0.1.0/24", "fd00:1::/64"}));
}

TEST(Compiler, PortsAndIcmpTypesBecomeRanges) {
  const auto set = load(std::string(kHeader) +
                        "  - { id: p, proto: tcp, ports: [80, 81, \"100-200\", 443], sports: \"0-65535\", action: allow }\n"
                        "  - { id: i, proto: icmp, icmp_types: [echo-request, 0], action: allow }\n");
  const auto& p = set.rules(0);
  ASSERT_EQ(p.dports_size(), 3);  // 80-81 merged
  EXPECT_EQ(p.dports(0).lo(), 80u);
  EXPECT_EQ(p.dports(0).hi(), 81u);
  EXPECT_EQ(p.dports(1).lo(), 100u);
  EXPECT_EQ(p.dports(2).hi(), 443u);
  EXPECT_EQ(p.sports_size(), 0) << "the full range means any";
  EXPECT_EQ(p.proto(), 6u);
  EXPECT_FALSE(p.any_proto());
  const auto& i = set.rules(1);
  ASSERT_EQ(i.sports_size(), 2);
  EXPECT_EQ(i.sports(0).lo(), 0u);
  EXPECT_EQ(i.sports(1).lo(), 8u);
  EXPECT_EQ(i.dports_size(), 0);
}

TEST(Compiler, EmptySegmentWarnsAndRuleNeverMatches) {
  auto r = load_policy(
      "version: 1\nsegments:\n  gone: { cidrs: [10.0.0.0/24], except: [10.0.0.0/8] }\n"
      "rules:\n  - { id: a, from: gone, action: allow }\n",
      "p.yaml");
  ASSERT_TRUE(r.ok());
  ASSERT_GE(r.diagnostics.size(), 2u);
  EXPECT_EQ(r.diagnostics[0].severity, Diagnostic::Severity::warning);
  EXPECT_NE(r.diagnostics[0].message.find("empty after except"), std::string::npos);
  EXPECT_FALSE(r.value->rules(0).v4());
  EXPECT_FALSE(r.value->rules(0).v6());
}

TEST(Compiler, LocationsIdsAndNamesKept) {
  const auto set = load(std::string(kHeader) + "  - { id: a, from: [web, 10.9.0.0/16], to: db, action: deny, log: true }\n");
  const auto& r = set.rules(0);
  EXPECT_EQ(r.id(), "a");
  EXPECT_EQ(r.location().line(), 7u);
  EXPECT_EQ(r.from_names_size(), 2);
  EXPECT_EQ(r.to_names(0), "db");
  EXPECT_EQ(r.action(), pb::ACTION_DENY);
  EXPECT_TRUE(r.log());
}

}  // namespace
}  // namespace bulkhead::rules
