#include <gtest/gtest.h>

#include "rules/load.h"
#include "rules/match.h"
#include "rules/prefix.h"

namespace bulkhead::rules {
namespace {

Tuple T(const char* proto_src_dst, uint8_t proto, uint16_t sport, uint16_t dport) {
  Tuple t;
  std::string s(proto_src_dst);
  const auto sp = s.find(' ');
  uint8_t f2;
  EXPECT_TRUE(parse_address(s.substr(0, sp), t.family, t.src));
  EXPECT_TRUE(parse_address(s.substr(sp + 1), f2, t.dst));
  t.proto = proto;
  t.sport = sport;
  t.dport = dport;
  return t;
}

const char* kPolicy =
    "version: 1\n"
    "segments:\n"
    "  web: [10.0.1.0/24, \"fd00:1::/64\"]\n"
    "  web-lb: [10.0.1.128/25]\n"
    "  db: [10.0.2.0/24, \"fd00:2::/64\"]\n"
    "rules:\n"
    "  - { id: deny-one, from: 10.0.1.66, to: db, action: deny }\n"
    "  - { id: web-db, from: web, to: db, proto: tcp, ports: [5432, \"6000-6010\"], action: allow }\n"
    "  - { id: any-high, proto: any, sports: [\"1024-65535\"], ports: [7], action: allow }\n"
    "  - { id: old, proto: udp, action: allow, expires: 1000 }\n";

TEST(Match, FirstMatchWins) {
  auto set = *load_policy(kPolicy, "p").value;
  EXPECT_EQ(match_first(set, T("10.0.1.66 10.0.2.9", 6, 1, 5432), 0), 0);
  EXPECT_EQ(match_first(set, T("10.0.1.65 10.0.2.9", 6, 1, 5432), 0), 1);
  EXPECT_EQ(match_first(set, T("10.0.1.65 10.0.2.9", 6, 1, 6010), 0), 1);
  EXPECT_EQ(match_first(set, T("10.0.1.65 10.0.2.9", 6, 1, 6011), 0), -1);
  EXPECT_EQ(match_first(set, T("fd00:1::5 fd00:2::9", 6, 1, 5432), 0), 1);
  EXPECT_EQ(match_first(set, T("fd00:1::5 fd00:3::9", 6, 1, 5432), 0), -1);
  EXPECT_EQ(match_first(set, T("1.2.3.4 5.6.7.8", 47, 2000, 7), 0), 2) << "proto any matches key ports";
  EXPECT_EQ(match_first(set, T("1.2.3.4 5.6.7.8", 47, 1000, 7), 0), -1);
}

TEST(Match, ExpiredRulesNeverMatch) {
  auto set = *load_policy(kPolicy, "p").value;
  EXPECT_EQ(match_first(set, T("1.2.3.4 5.6.7.8", 17, 1, 1), 999), 3);
  EXPECT_EQ(match_first(set, T("1.2.3.4 5.6.7.8", 17, 1, 1), 1000), -1);
  EXPECT_EQ(match_rule(set.rules(3), T("1.2.3.4 5.6.7.8", 17, 1, 1), 1000), Mismatch::expired);
}

TEST(Match, MismatchSaysWhichDimension) {
  auto set = *load_policy(kPolicy, "p").value;
  EXPECT_EQ(match_rule(set.rules(1), T("10.0.3.1 10.0.2.9", 6, 1, 5432), 0), Mismatch::source);
  EXPECT_EQ(match_rule(set.rules(1), T("10.0.1.1 10.0.3.9", 6, 1, 5432), 0), Mismatch::destination);
  EXPECT_EQ(match_rule(set.rules(1), T("10.0.1.1 10.0.2.9", 17, 1, 5432), 0), Mismatch::protocol);
  EXPECT_EQ(match_rule(set.rules(1), T("10.0.1.1 10.0.2.9", 6, 1, 80), 0), Mismatch::destination_port);
  EXPECT_EQ(match_rule(set.rules(2), T("10.0.1.1 10.0.2.9", 6, 80, 7), 0), Mismatch::source_port);
}

TEST(Match, SegmentOfPicksTheMostSpecific) {
  auto set = *load_policy(kPolicy, "p").value;
  EXPECT_EQ(segment_of(set, 4, T("10.0.1.200 1.1.1.1", 6, 0, 0).src), "web-lb");
  EXPECT_EQ(segment_of(set, 4, T("10.0.1.20 1.1.1.1", 6, 0, 0).src), "web");
  EXPECT_EQ(segment_of(set, 6, T("fd00:2::1 ::1", 6, 0, 0).src), "db");
  EXPECT_FALSE(segment_of(set, 4, T("8.8.8.8 1.1.1.1", 6, 0, 0).src).has_value());
}

}  // namespace
}  // namespace bulkhead::rules
