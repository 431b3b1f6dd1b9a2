// Connection-state logic that needs no EAL: canonical keys, the TCP state
// machine per direction, and the timeout each state gets.
#include <gtest/gtest.h>

#include "common/protocols.h"
#include "dataplane/conntrack.h"

namespace bulkhead::dataplane {
namespace {

FlowTuple tuple(uint8_t a, uint16_t pa, uint8_t b, uint16_t pb) {
  FlowTuple t{};
  t.family = 4;
  t.proto = common::kProtoTcp;
  t.src[0] = 10;
  t.src[3] = a;
  t.dst[0] = 10;
  t.dst[3] = b;
  t.sport = pa;
  t.dport = pb;
  return t;
}

TEST(ConnKey, BothDirectionsShareOneKey) {
  ConnKey k1, k2;
  const uint8_t d1 = make_conn_key(tuple(5, 41000, 9, 80), k1);
  const uint8_t d2 = make_conn_key(tuple(9, 80, 5, 41000), k2);
  EXPECT_EQ(0, std::memcmp(&k1, &k2, sizeof(k1)));
  EXPECT_NE(d1, d2);
  FlowTuple back;
  tuple_from_key(k1, d1, back);
  EXPECT_EQ(back.sport, 41000);
  EXPECT_EQ(back.src[3], 5);
  // Same addresses, ports ordering decides.
  ConnKey k3, k4;
  EXPECT_NE(make_conn_key(tuple(5, 1, 5, 2), k3), make_conn_key(tuple(5, 2, 5, 1), k4));
  EXPECT_EQ(0, std::memcmp(&k3, &k4, sizeof(k3)));
}

ConnEntry fresh(uint8_t orig) {
  ConnEntry e{};
  e.proto = common::kProtoTcp;
  e.orig_dir = orig;
  return e;
}

struct Step {
  uint8_t dir;
  uint8_t flags;
};

struct TcpCase {
  const char* name;
  std::vector<Step> steps;
  uint32_t expect_ms;
};

class Tcp : public ::testing::TestWithParam<TcpCase> {};

TEST_P(Tcp, StateGivesTheTimeout) {
  Timeouts t;
  ConnEntry e = fresh(0);
  for (const auto& s : GetParam().steps) tcp_track(e, s.dir, s.flags);
  EXPECT_EQ(conn_timeout_ms(e, t), GetParam().expect_ms);
}

constexpr Timeouts kT{};
INSTANTIATE_TEST_SUITE_P(
    States, Tcp,
    ::testing::Values(
        TcpCase{"syn_sent", {{0, common::kTcpSyn}}, kT.tcp_syn_ms},
        TcpCase{"syn_ack_not_yet_acked", {{0, common::kTcpSyn}, {1, common::kTcpSyn | common::kTcpAck}}, kT.tcp_syn_ms},
        TcpCase{"established", {{0, common::kTcpSyn}, {1, common::kTcpSyn | common::kTcpAck}, {0, common::kTcpAck}}, kT.tcp_established_ms},
        TcpCase{"one_side_fin", {{0, common::kTcpSyn}, {1, common::kTcpSyn | common::kTcpAck}, {0, common::kTcpAck}, {0, common::kTcpFin | common::kTcpAck}},
                kT.tcp_fin_ms},
        TcpCase{"both_fin", {{0, common::kTcpSyn}, {1, common::kTcpSyn | common::kTcpAck}, {0, common::kTcpAck}, {0, common::kTcpFin}, {1, common::kTcpFin}},
                kT.tcp_closed_ms},
        TcpCase{"reset", {{0, common::kTcpSyn}, {1, common::kTcpRst}}, kT.tcp_closed_ms},
        TcpCase{"reopened_after_close",
                {{0, common::kTcpSyn}, {1, common::kTcpSyn | common::kTcpAck}, {0, common::kTcpAck}, {0, common::kTcpRst}, {0, common::kTcpSyn}}, kT.tcp_syn_ms},
        TcpCase{"mid_stream_pickup", {{0, common::kTcpAck}, {1, common::kTcpAck}}, kT.tcp_established_ms}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Timeouts, PerProtocol) {
  Timeouts t;
  ConnEntry e{};
  e.proto = common::kProtoUdp;
  EXPECT_EQ(conn_timeout_ms(e, t), t.udp_ms);
  e.proto = common::kProtoIcmp;
  EXPECT_EQ(conn_timeout_ms(e, t), t.icmp_ms);
  e.proto = 47;
  EXPECT_EQ(conn_timeout_ms(e, t), t.other_ms);
}

// The worker asks with the shortest timeout worked out once a burst: the
// answer must be the same as without it, at every age around every
// state's timeout, and with timeouts configured in any order.
TEST(Timeouts, ShortestGivesTheSameAnswer) {
  Timeouts t;
  t.icmp_ms = 20'000;
  t.tcp_closed_ms = 5'000;
  ASSERT_EQ(t.shortest_ms(), 5'000u);
  std::vector<ConnEntry> entries;
  for (const uint8_t proto : {common::kProtoUdp, common::kProtoIcmp, uint8_t{47}}) {
    ConnEntry e{};
    e.proto = proto;
    entries.push_back(e);
  }
  for (const auto& states : {std::vector<Step>{{0, common::kTcpSyn}},
                             {{0, common::kTcpSyn}, {1, common::kTcpSyn | common::kTcpAck}, {0, common::kTcpAck}},
                             {{0, common::kTcpSyn}, {1, common::kTcpRst}}}) {
    ConnEntry e = fresh(0);
    for (const auto& s : states) tcp_track(e, s.dir, s.flags);
    entries.push_back(e);
  }
  const uint32_t seen = 0xffff'f000u;  // ages cross the clock's wrap
  for (ConnEntry& e : entries) {
    e.last_seen_ms[0] = seen;
    e.last_seen_ms[1] = seen - 7;
    const uint32_t timeout = conn_timeout_ms(e, t);
    for (const uint32_t age : {0u, 1u, 4'999u, 5'000u, 5'001u, timeout - 1, timeout, timeout + 1, 0xffff'fff0u}) {
      EXPECT_EQ(expired(e, seen + age, t, t.shortest_ms()), expired(e, seen + age, t)) << "age " << age;
    }
    EXPECT_FALSE(expired(e, seen + timeout, t, t.shortest_ms()));
    EXPECT_TRUE(expired(e, seen + timeout + 1, t, t.shortest_ms()));
  }
}

TEST(TcpFlags, InvalidCombinations) {
  EXPECT_TRUE(tcp_flags_invalid(0));
  EXPECT_TRUE(tcp_flags_invalid(common::kTcpSyn | common::kTcpFin));
  EXPECT_TRUE(tcp_flags_invalid(common::kTcpSyn | common::kTcpRst));
  EXPECT_FALSE(tcp_flags_invalid(common::kTcpSyn));
  EXPECT_FALSE(tcp_flags_invalid(common::kTcpSyn | common::kTcpAck));
  EXPECT_FALSE(tcp_flags_invalid(common::kTcpFin | common::kTcpAck | common::kTcpPsh));
  EXPECT_FALSE(tcp_flags_invalid(common::kTcpRst));
}

}  // namespace
}  // namespace bulkhead::dataplane
