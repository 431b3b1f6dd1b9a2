// How a burst is judged: every packet parsed and looked up once, first
// packets and re-checks classified together (one call per address family),
// the burst's later packets of a connection following its first in at most
// one more round, and rule counters that add up to the traffic once the
// sweep has folded it. The counters asserted here (parsed, classified,
// classify_calls, followed) are what keeps the quadratic case fixed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/protocols.h"
#include "tests/common/packet_builder.h"
#include "tests/integration/harness.h"

namespace bulkhead::test {
namespace {

using dataplane::DropReason;
using dataplane::WorkerCounter;

const char* kPolicy = R"(version: 1
defaults: { action: deny, mode: enforce }
segments:
  web: [10.0.1.0/24]
  app: [10.0.2.0/24]
rules:
  - { id: web-to-db, from: web, to: app, proto: tcp, ports: [5432], action: allow }
  - { id: web-dns, from: web, to: app, proto: udp, ports: [53], action: allow }
  - { id: app-callback, from: app, to: web, proto: udp, ports: [5353], action: allow }
  - { id: no-telnet, from: web, to: app, proto: tcp, ports: [23], action: deny }
)";

// Counters before and after one burst.
struct Delta {
  Harness& h;
  uint64_t parsed, classified, calls, followed, hits;
  explicit Delta(Harness& hh)
      : h(hh),
        parsed(h.events(WorkerCounter::parsed)),
        classified(h.events(WorkerCounter::classified)),
        calls(h.events(WorkerCounter::classify_calls)),
        followed(h.events(WorkerCounter::followed)),
        hits(h.events(WorkerCounter::conn_hits)) {}
  uint64_t of(WorkerCounter c, uint64_t before) { return h.events(c) - before; }
};

// Sends `frames` into port 0 as one burst (at most 32) and runs.
size_t one_burst(Harness& h, const std::vector<Frame>& frames) {
  EXPECT_LE(frames.size(), 32u);
  for (const auto& f : frames) h.send(0, f);
  h.run();
  return h.received(1).size();
}

TEST(Rounds, IdenticalDeniedSynsAreClassifiedOnce) {
  Harness h(kPolicy);
  ASSERT_TRUE(h.loaded()) << h.error();
  Delta d(h);
  const std::vector<Frame> burst(32, build_packet(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 22)));
  EXPECT_EQ(one_burst(h, burst), 0u);
  EXPECT_EQ(h.drops(DropReason::policy_deny), 32u);
  EXPECT_EQ(d.of(WorkerCounter::parsed, d.parsed), 32u) << "each packet parsed once";
  EXPECT_EQ(d.of(WorkerCounter::classified, d.classified), 1u) << "the followers take the first one's verdict";
  EXPECT_EQ(d.of(WorkerCounter::classify_calls, d.calls), 1u);
  EXPECT_EQ(d.of(WorkerCounter::followed, d.followed), 31u);
  EXPECT_EQ(h.rule("-").packets, 32u) << "each denied packet still counts for the rule that denied it";
}

TEST(Rounds, IdenticalDeniedSynsOfAnExplicitRuleCountForIt) {
  Harness h(kPolicy);
  const std::vector<Frame> burst(32, build_packet(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 23)));
  EXPECT_EQ(one_burst(h, burst), 0u);
  EXPECT_EQ(h.events(WorkerCounter::classified), 1u);
  EXPECT_EQ(h.rule("no-telnet").packets, 32u);
  EXPECT_EQ(h.rule("-").packets, 0u);
}

TEST(Rounds, AcksWithoutAConnectionAreRefusedWithoutClassification) {
  Harness h(kPolicy);
  const std::vector<Frame> burst(32, build_packet(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432, common::kTcpAck)));
  EXPECT_EQ(one_burst(h, burst), 0u);
  EXPECT_EQ(h.drops(DropReason::tcp_invalid), 32u);
  EXPECT_EQ(h.events(WorkerCounter::classified), 0u);
}

TEST(Rounds, FollowersOfAnAdmittedOpenerAreHitsOfItsConnection) {
  Harness h(kPolicy);
  Delta d(h);
  std::vector<Frame> burst{build_packet(udp_spec("10.0.1.5", "10.0.2.9", 5353, 53, 10))};
  for (int k = 0; k < 31; ++k) burst.push_back(build_packet(udp_spec("10.0.1.5", "10.0.2.9", 5353, 53, 10)));
  EXPECT_EQ(one_burst(h, burst), 32u);
  EXPECT_EQ(d.of(WorkerCounter::classified, d.classified), 1u);
  EXPECT_EQ(h.events(WorkerCounter::conn_new), 1u);
  EXPECT_EQ(d.of(WorkerCounter::conn_hits, d.hits), 31u);
  EXPECT_EQ(h.engine().conns().count(), 1u);
}

TEST(Rounds, RepliesInTheBurstOfAnAdmittedOpenerAreHitsWithoutAClassification) {
  Harness h(kPolicy);
  Delta d(h);
  // The request opens; the replies (the other direction: their own key
  // direction, the same connection) follow it and find it open.
  std::vector<Frame> burst{build_packet(udp_spec("10.0.1.5", "10.0.2.9", 5353, 53, 10))};
  for (int k = 0; k < 15; ++k) {
    burst.push_back(build_packet(udp_spec("10.0.2.9", "10.0.1.5", 53, 5353, 10)));
    burst.push_back(build_packet(udp_spec("10.0.1.5", "10.0.2.9", 5353, 53, 10)));
  }
  EXPECT_EQ(one_burst(h, burst), 31u);
  EXPECT_EQ(d.of(WorkerCounter::parsed, d.parsed), 31u);
  EXPECT_EQ(d.of(WorkerCounter::classified, d.classified), 1u) << "the opener only";
  EXPECT_EQ(d.of(WorkerCounter::classify_calls, d.calls), 1u);
  EXPECT_EQ(d.of(WorkerCounter::followed, d.followed), 30u);
  EXPECT_EQ(d.of(WorkerCounter::conn_hits, d.hits), 30u);
  EXPECT_EQ(h.events(WorkerCounter::conn_new), 1u);
  EXPECT_EQ(h.rule("web-dns").packets, 31u) << "every packet, folded from the connection";
}

TEST(Rounds, AHandshakeInOneBurstOpensOneConnectionInOrder) {
  Harness h(kPolicy);
  const auto hs = tcp_handshake(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432));
  auto data = tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432, common::kTcpAck | common::kTcpPsh);
  data.payload_len = 100;
  // A one-armed port sees both directions: SYN, SYN-ACK, ACK, data.
  const std::vector<Frame> burst{hs[0], hs[1], hs[2], build_packet(data)};
  for (const auto& f : burst) h.send(0, f);
  h.run();
  EXPECT_EQ(h.received(1), burst) << "all pass, in arrival order";
  EXPECT_EQ(h.events(WorkerCounter::classified), 1u);
  EXPECT_EQ(h.events(WorkerCounter::conn_new), 1u);
  EXPECT_EQ(h.events(WorkerCounter::conn_hits), 3u);
}

TEST(Rounds, RepliesToADeniedOpenerAreClassifiedTogetherInOneMoreRound) {
  Harness h(kPolicy);
  Delta d(h);
  // web -> app udp/5353 is denied; the reply direction app -> web udp/5353
  // is a rule of its own. Five replies follow the denied packet.
  std::vector<Frame> burst{build_packet(udp_spec("10.0.1.5", "10.0.2.9", 5353, 5353))};
  for (int k = 0; k < 5; ++k) burst.push_back(build_packet(udp_spec("10.0.2.9", "10.0.1.5", 5353, 5353)));
  EXPECT_EQ(one_burst(h, burst), 5u);
  EXPECT_EQ(h.drops(DropReason::policy_deny), 1u);
  EXPECT_EQ(d.of(WorkerCounter::classified, d.classified), 2u) << "the denied one and the first reply";
  EXPECT_EQ(d.of(WorkerCounter::classify_calls, d.calls), 2u) << "two rounds, never more";
  EXPECT_EQ(h.events(WorkerCounter::conn_new), 1u);
  EXPECT_EQ(d.of(WorkerCounter::conn_hits, d.hits), 4u);
  EXPECT_EQ(h.rule("app-callback").connections, 1u);
}

TEST(Rounds, DistinctFirstPacketsOfBothFamiliesTakeOneCallEach) {
  Harness h(R"(version: 1
defaults: { action: allow, mode: enforce }
rules: []
)");
  Delta d(h);
  std::vector<Frame> burst;
  for (uint16_t k = 0; k < 16; ++k) burst.push_back(build_packet(udp_spec("10.0.1.5", "10.0.2.9", 1000 + k, 53)));
  for (uint16_t k = 0; k < 16; ++k) burst.push_back(build_packet(udp_spec("fd00:1::5", "fd00:2::9", 1000 + k, 53)));
  EXPECT_EQ(one_burst(h, burst), 32u);
  EXPECT_EQ(d.of(WorkerCounter::classified, d.classified), 32u);
  EXPECT_EQ(d.of(WorkerCounter::classify_calls, d.calls), 2u);
}

TEST(Rounds, StaleConnectionsAreReCheckedInOneBatch) {
  Harness h(kPolicy);
  for (uint16_t k = 0; k < 20; ++k) ASSERT_EQ(h.pass(0, build_packet(udp_spec("10.0.1.5", "10.0.2.9", 2000 + k, 53))).size(), 1u);
  std::string same = kPolicy;
  same.replace(same.find("ports: [23]"), 11, "ports: [24]");  // a new rule set that still allows them
  ASSERT_TRUE(h.reload(same));
  Delta d(h);
  std::vector<Frame> burst;
  for (uint16_t k = 0; k < 20; ++k) burst.push_back(build_packet(udp_spec("10.0.1.5", "10.0.2.9", 2000 + k, 53)));
  EXPECT_EQ(one_burst(h, burst), 20u);
  EXPECT_EQ(h.events(WorkerCounter::conn_rechecked), 20u);
  EXPECT_EQ(d.of(WorkerCounter::classified, d.classified), 20u);
  EXPECT_EQ(d.of(WorkerCounter::classify_calls, d.calls), 1u) << "one call for the whole batch";
}

TEST(Rounds, PacketsOfOneStaleConnectionFollowItsReCheck) {
  Harness h(kPolicy);
  ASSERT_EQ(h.pass(0, build_packet(udp_spec("10.0.1.5", "10.0.2.9", 2000, 53))).size(), 1u);
  std::string revoke = kPolicy;
  revoke.replace(revoke.find("ports: [53]"), 11, "ports: [54]");
  ASSERT_TRUE(h.reload(revoke));
  const std::vector<Frame> burst(8, build_packet(udp_spec("10.0.1.5", "10.0.2.9", 2000, 53)));
  EXPECT_EQ(one_burst(h, burst), 0u);
  EXPECT_EQ(h.drops(DropReason::connection_revoked), 8u);
  EXPECT_EQ(h.events(WorkerCounter::conn_revoked), 1u);
  EXPECT_EQ(h.events(WorkerCounter::classified), 2u) << "the opener, then one re-check for the eight";
}

TEST(Rounds, RuleCountersAfterTheFoldEqualTheTrafficSent) {
  Harness h(kPolicy);
  const auto hs = tcp_handshake(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432));
  uint64_t bytes = 0;
  for (size_t k = 0; k < hs.size(); ++k) {
    ASSERT_EQ(h.pass(k == 1 ? 1 : 0, hs[k]).size(), 1u);
    bytes += hs[k].size();
  }
  auto data = tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432, common::kTcpAck | common::kTcpPsh);
  data.payload_len = 200;
  const Frame f = build_packet(data);
  for (int k = 0; k < 97; ++k) {
    h.send(k % 2 == 0 ? 0 : 1, k % 2 == 0 ? f : build_packet(reversed(data)));
    bytes += f.size();
  }
  h.run();
  const auto c = h.rule("web-to-db");
  EXPECT_EQ(c.packets, 100u);
  EXPECT_EQ(c.bytes, bytes);
  EXPECT_EQ(c.connections, 1u);
  // Nothing counted twice when the sweep comes round again.
  EXPECT_EQ(h.rule("web-to-db").packets, 100u);
}

TEST(Rounds, TheTrafficOfAConnectionRuleKeptAcrossAReloadCountsOnce) {
  Harness h(kPolicy);
  for (int k = 0; k < 10; ++k) h.send(0, build_packet(udp_spec("10.0.1.5", "10.0.2.9", 3000, 53)));
  h.run();
  std::string changed = kPolicy;
  changed.replace(changed.find("ports: [23]"), 11, "ports: [24]");
  ASSERT_TRUE(h.reload(changed));
  for (int k = 0; k < 5; ++k) h.send(0, build_packet(udp_spec("10.0.1.5", "10.0.2.9", 3000, 53)));
  h.run();
  EXPECT_EQ(h.rule("web-dns").packets, 15u);
  EXPECT_EQ(h.events(WorkerCounter::unattributed_packets), 0u);
}

TEST(Rounds, ARevokedConnectionsTrafficStaysWithItsRule) {
  Harness h(kPolicy);
  for (int k = 0; k < 10; ++k) h.send(0, build_packet(udp_spec("10.0.1.5", "10.0.2.9", 3000, 53)));
  h.run();
  EXPECT_EQ(h.received(1).size(), 10u);
  std::string revoke = kPolicy;
  revoke.replace(revoke.find("ports: [53]"), 11, "ports: [54]");  // web-dns kept, no longer port 53
  ASSERT_TRUE(h.reload(revoke));
  EXPECT_EQ(h.pass(0, build_packet(udp_spec("10.0.1.5", "10.0.2.9", 3000, 53))).size(), 0u);
  EXPECT_EQ(h.rule("web-dns").packets, 10u);
}

TEST(Rounds, LaterFragmentsOfAnEstablishedConnectionFollowItsFirstFragment) {
  Harness h(kPolicy);
  ASSERT_EQ(h.pass(0, build_packet(udp_spec("10.0.1.5", "10.0.2.9", 5353, 53))).size(), 1u);  // opens it
  PacketSpec first = udp_spec("10.0.1.5", "10.0.2.9", 5353, 53, 64);
  first.more_fragments = true;
  first.fragment_id = 77;
  PacketSpec later = first;
  later.more_fragments = false;
  later.fragment_offset = 72;
  EXPECT_EQ(h.pass(0, build_packet(first)).size(), 1u) << "a hit of the connection";
  EXPECT_EQ(h.pass(0, build_packet(later)).size(), 1u) << "follows the first fragment's verdict";
  EXPECT_EQ(h.events(WorkerCounter::fragments_followed), 1u);
  EXPECT_EQ(h.drops(DropReason::fragment_unknown), 0u);
}

}  // namespace
}  // namespace bulkhead::test
