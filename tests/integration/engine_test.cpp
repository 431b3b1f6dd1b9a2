// The engine on real ethdev ports (net_ring), driven packet by packet:
// stateful exchanges, every rule kind, IPv6 with extension headers, VLAN,
// fragments, malformed packets, audit and learn modes, and reloads that
// change verdicts. Each case names what it proves.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <random>

#include "common/protocols.h"
#include "controlplane/flows/record.h"
#include "controlplane/rule_change.h"
#include "dataplane/connection.h"
#include "dataplane/conntrack.h"
#include "dataplane/packet.h"
#include "rules/load.h"
#include "rules/match.h"
#include "rules/prefix.h"
#include "tests/common/packet_builder.h"
#include "tests/integration/harness.h"
#include "tests/integration/steps.h"

namespace bulkhead::test {
namespace {

using dataplane::DropReason;
using dataplane::WorkerCounter;

const char* kPolicy = R"(version: 1
defaults: { action: deny, mode: enforce }
segments:
  web:  [10.0.1.0/24, "fd00:1::/64"]
  app:  [10.0.2.0/24, "fd00:2::/64"]
  corp: [192.168.0.0/16]
  internet: { cidrs: ["0.0.0.0/0", "::/0"], except: [10.0.0.0/8, 192.168.0.0/16, "fd00::/8"] }
rules:
  - { id: web-to-db, from: web, to: app, proto: tcp, ports: [5432], action: allow }
  - { id: web-to-http, from: web, to: app, proto: tcp, ports: ["8080-8081"], action: allow }
  - { id: web-dns, from: web, to: app, proto: udp, ports: [53], action: allow }
  - { id: web-egress-https, from: web, to: internet, proto: tcp, ports: [443], action: allow, log: true }
  - { id: ping, from: [web, corp], to: app, proto: icmp, icmp_types: [echo-request], action: allow }
  - { id: ping6, from: web, to: app, proto: icmpv6, icmp_types: [echo-request], action: allow }
  - { id: sctp-any, from: web, to: app, proto: sctp, action: allow }
  - { id: proto-47, from: 10.0.1.5, to: 10.0.2.0/24, proto: 47, action: allow }
  - { id: high-sports, from: corp, to: app, proto: udp, sports: ["1024-65535"], ports: [123], action: allow }
  - { id: no-ssh-from-internet, from: internet, to: any, proto: tcp, ports: [22], action: deny }
)";

size_t forwarded(Harness& h, int port, const PacketSpec& s) { return h.pass(port, build_packet(s)).size(); }

// --- stateless verdicts: one packet, one rule kind -------------------------

struct VerdictCase {
  const char* name;
  PacketSpec spec;
  bool pass;
  const char* rule;  // deciding rule id, "-" for the default
};

class Verdicts : public ::testing::TestWithParam<VerdictCase> {};

TEST_P(Verdicts, FirstPacketJudgedByTheRightRule) {
  const auto& c = GetParam();
  Harness h(kPolicy);
  ASSERT_TRUE(h.loaded()) << h.error();
  const auto out = h.pass(0, build_packet(c.spec));
  EXPECT_EQ(out.size(), c.pass ? 1u : 0u);
  EXPECT_EQ(h.rule(c.rule).packets, 1u) << "rule " << c.rule;
  if (!c.pass) {
    EXPECT_EQ(h.drops(DropReason::policy_deny), 1u);
  } else {
    EXPECT_EQ(out[0], build_packet(c.spec)) << "forwarded frame changed";
  }
}

INSTANTIATE_TEST_SUITE_P(
    RuleKinds, Verdicts,
    ::testing::Values(
        VerdictCase{"tcp_port_allowed", tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432), true, "web-to-db"},
        VerdictCase{"tcp_port_range_allowed", tcp_spec("10.0.1.5", "10.0.2.9", 41000, 8081), true, "web-to-http"},
        VerdictCase{"tcp_other_port_default_deny", tcp_spec("10.0.1.5", "10.0.2.9", 41000, 22), false, "-"},
        VerdictCase{"udp_allowed", udp_spec("10.0.1.5", "10.0.2.9", 5353, 53), true, "web-dns"},
        VerdictCase{"udp_wrong_proto_for_tcp_rule", udp_spec("10.0.1.5", "10.0.2.9", 5353, 5432), false, "-"},
        VerdictCase{"segment_except_internet", tcp_spec("10.0.1.5", "203.0.113.10", 41000, 443), true, "web-egress-https"},
        VerdictCase{"except_keeps_internal_out", tcp_spec("10.0.1.5", "192.168.1.1", 41000, 443), false, "-"},
        VerdictCase{"icmp_type_allowed",
                    PacketSpec{.src = "192.168.1.10", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 8}, true, "ping"},
        VerdictCase{"icmp_other_type_denied",
                    PacketSpec{.src = "192.168.1.10", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 13}, false, "-"},
        VerdictCase{"icmpv6_echo_allowed",
                    PacketSpec{.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoIcmpv6, .icmp_type = 128}, true,
                    "ping6"},
        VerdictCase{"ipv6_tcp_allowed", tcp_spec("fd00:1::5", "fd00:2::9", 41000, 5432), true, "web-to-db"},
        VerdictCase{"ipv6_segment_mismatch_denied", tcp_spec("fd00:3::5", "fd00:2::9", 41000, 5432), false, "-"},
        VerdictCase{"sctp_any_port", PacketSpec{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoSctp, .sport = 9,
                                                .dport = 3868},
                    true, "sctp-any"},
        VerdictCase{"protocol_number_and_host_literal",
                    PacketSpec{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = 47}, true, "proto-47"},
        VerdictCase{"host_literal_other_host_denied",
                    PacketSpec{.src = "10.0.1.6", .dst = "10.0.2.9", .proto = 47}, false, "-"},
        VerdictCase{"source_port_range_allowed", udp_spec("192.168.1.10", "10.0.2.9", 40000, 123), true, "high-sports"},
        VerdictCase{"source_port_below_range_denied", udp_spec("192.168.1.10", "10.0.2.9", 123, 123), false, "-"},
        VerdictCase{"explicit_deny_rule", tcp_spec("203.0.113.7", "10.0.2.9", 41000, 22), false, "no-ssh-from-internet"},
        VerdictCase{"vlan_tagged_allowed",
                    PacketSpec{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = 5353, .dport = 53,
                               .vlans = {100}},
                    true, "web-dns"},
        VerdictCase{"qinq_tagged_denied",
                    PacketSpec{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = 5353, .dport = 54,
                               .vlans = {10, 20}},
                    false, "-"},
        VerdictCase{"ipv4_options_skipped",
                    PacketSpec{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = 5353, .dport = 53,
                               .ipv4_options_len = 8},
                    true, "web-dns"},
        VerdictCase{"ipv6_extension_chain_walked",
                    PacketSpec{.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 41000, .dport = 5432,
                               .tcp_flags = common::kTcpSyn, .ipv6_ext = {{0, 8}, {43, 16}, {60, 8}, {51, 16}}},
                    true, "web-to-db"},
        VerdictCase{"ipv6_extension_chain_denied_port",
                    PacketSpec{.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 41000, .dport = 5433,
                               .tcp_flags = common::kTcpSyn, .ipv6_ext = {{0, 8}, {60, 16}}},
                    false, "-"}),
    [](const auto& info) { return std::string(info.param.name); });

// --- state ---------------------------------------------------------------------

using C = WorkerCounter;
using D = DropReason;

Frame frame(const PacketSpec& s) { return build_packet(s); }

PacketSpec with_flags(PacketSpec s, uint8_t flags, uint16_t payload = 0) {
  s.tcp_flags = flags;
  s.payload_len = payload;
  return s;
}

TEST(Engine, RepliesOfAnAllowedConnectionPassBothWays) {
  Harness h(kPolicy);
  const auto c = tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432);
  const auto hs = tcp_handshake(c);
  run_steps(h, {
      {.name = "SYN opens", .port = 0, .frame = hs[0], .pass = true,
       .events = {{C::conn_new, 1}, {C::classified, 1}}},
      {.name = "SYN-ACK of the admitted connection", .port = 1, .frame = hs[1], .pass = true,
       .events = {{C::conn_hits, 1}, {C::classified, 0}}},
      {.name = "ACK", .port = 0, .frame = hs[2], .pass = true, .events = {{C::conn_hits, 1}}},
      {.name = "data from the server", .port = 1,
       .frame = frame(with_flags(reversed(c), common::kTcpAck | common::kTcpPsh, 100)), .pass = true,
       .events = {{C::conn_hits, 1}, {C::classified, 0}}},
  });
  EXPECT_EQ(h.rule("web-to-db").packets, 4u);
  EXPECT_EQ(h.rule("web-to-db").connections, 1u);
}

TEST(Engine, ServerCannotOpenAConnectionOnlyTheClientMayOpen) {
  Harness h(kPolicy);
  run_steps(h, {
      // No rule allows app -> web.
      {.name = "the server side's SYN", .port = 1, .frame = frame(tcp_spec("10.0.2.9", "10.0.1.5", 5432, 41000)),
       .pass = false, .drops = {{D::policy_deny, 1}}},
      {.name = "a SYN-ACK with no connection behind it", .port = 1,
       .frame = frame(tcp_spec("10.0.2.9", "10.0.1.5", 5432, 41000, common::kTcpSyn | common::kTcpAck)), .pass = false,
       .events = {{C::classified, 0}}, .drops = {{D::tcp_invalid, 1}}},
  });
}

TEST(Engine, MidStreamTcpWithoutConnectionIsDroppedUnlessLoose) {
  const Frame ack = frame(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432, common::kTcpAck));
  {
    Harness h(kPolicy);
    run_steps(h, {{.name = "an ACK of no connection", .port = 0, .frame = ack, .pass = false,
                   .drops = {{D::tcp_invalid, 1}}}});
  }
  {
    Harness h(kPolicy, 1, [](dataplane::Config& c) { c.tcp_loose = true; });
    run_steps(h, {{.name = "picked up mid-stream (--tcp-loose)", .port = 0, .frame = ack, .pass = true,
                   .events = {{C::conn_new, 1}}}});
  }
}

TEST(Engine, InvalidTcpFlagsDropped) {
  Harness h(kPolicy);
  run_steps(h, {
      {.name = "SYN+FIN", .port = 0, .frame = frame(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432, common::kTcpSyn | common::kTcpFin)),
       .pass = false, .drops = {{D::tcp_invalid, 1}}},
      {.name = "no flags", .port = 0, .frame = frame(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432, 0)), .pass = false,
       .drops = {{D::tcp_invalid, 1}}},
  });
}

TEST(Engine, UdpRequestAndResponse) {
  Harness h(kPolicy);
  const auto q = udp_spec("10.0.1.5", "10.0.2.9", 5353, 53);
  run_steps(h, {
      {.name = "request", .port = 0, .frame = frame(q), .pass = true, .events = {{C::conn_new, 1}}},
      {.name = "response", .port = 1, .frame = frame(reversed(q)), .pass = true, .events = {{C::conn_hits, 1}}},
      {.name = "from the server's port to another client port: new, denied", .port = 1,
       .frame = frame(udp_spec("10.0.2.9", "10.0.1.5", 53, 5354)), .pass = false, .drops = {{D::policy_deny, 1}}},
  });
}

TEST(Engine, IcmpEchoReplyMatchesByIdentifier) {
  Harness h(kPolicy);
  PacketSpec req{.src = "192.168.1.10", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 8, .icmp_id = 77};
  PacketSpec rep = reversed(req);
  rep.icmp_type = 0;
  PacketSpec stray = rep;
  stray.icmp_id = 78;
  run_steps(h, {
      {.name = "echo request", .port = 0, .frame = frame(req), .pass = true, .events = {{C::conn_new, 1}}},
      {.name = "its reply", .port = 1, .frame = frame(rep), .pass = true, .events = {{C::conn_hits, 1}}},
      {.name = "a reply to an echo nobody sent", .port = 1, .frame = frame(stray), .pass = false,
       .drops = {{D::policy_deny, 1}}},
  });
}

TEST(Engine, IcmpErrorQuotingATrackedConnectionPasses) {
  Harness h(kPolicy);
  const Frame syn = frame(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432));
  const Frame other = frame(tcp_spec("10.0.1.5", "10.0.2.9", 41001, 5432));
  PacketSpec err{.src = "10.0.2.1", .dst = "10.0.1.5", .proto = common::kProtoIcmp, .icmp_type = 3, .icmp_code = 4,
                 .quote = &syn};
  PacketSpec err_other = err;
  err_other.quote = &other;
  run_steps(h, {
      {.name = "SYN opens", .port = 0, .frame = syn, .pass = true},
      {.name = "an ICMP error quoting it", .port = 1, .frame = frame(err), .pass = true,
       .events = {{C::icmp_related, 1}}},
      {.name = "an ICMP error quoting a connection that does not exist", .port = 1, .frame = frame(err_other),
       .pass = false, .events = {{C::icmp_related, 0}}, .drops = {{D::policy_deny, 1}}},
  });
}

TEST(Engine, ConnectionsExpireByTimeout) {
  Harness h(kPolicy, 1, [](dataplane::Config& c) {
    c.timeouts.udp_ms = 200;
    c.sweep_period_ms = 1;
    c.sweep_per_poll = 1 << 20;
  });
  const auto q = udp_spec("10.0.1.5", "10.0.2.9", 5353, 53);
  run_steps(h, {
      {.name = "request", .port = 0, .frame = frame(q), .pass = true, .events = {{C::conn_new, 1}}},
      {.name = "a reply after the timeout is a new, denied flow", .port = 1, .frame = frame(reversed(q)),
       .pass = false, .events = {{C::conn_expired, 1}, {C::conn_hits, 0}}, .drops = {{D::policy_deny, 1}},
       .advance_ms = 300},
  });
  EXPECT_EQ(h.engine().conns().count(), 0u);
}

TEST(Engine, FullTableRefusesNewConnectionsKeepsEstablished) {
  Harness h(kPolicy, 1, [](dataplane::Config& c) { c.conn_max = 1024; });
  for (uint16_t p = 0; p < 1024; ++p) ASSERT_EQ(forwarded(h, 0, udp_spec("10.0.1.5", "10.0.2.9", 10000 + p, 53)), 1u);
  EXPECT_EQ(forwarded(h, 0, udp_spec("10.0.1.5", "10.0.2.9", 20000, 53)), 0u);
  EXPECT_EQ(h.drops(DropReason::conn_table_full), 1u);
  EXPECT_EQ(forwarded(h, 1, reversed(udp_spec("10.0.1.5", "10.0.2.9", 10000, 53))), 1u);
}

// --- fragments -------------------------------------------------------------

TEST(Engine, LaterFragmentsFollowTheirFirstFragment) {
  Harness h(kPolicy);
  PacketSpec first = udp_spec("10.0.1.5", "10.0.2.9", 5353, 53);
  first.more_fragments = true;
  first.payload_len = 64;
  PacketSpec later = first;
  later.more_fragments = false;
  later.fragment_offset = 72;
  EXPECT_EQ(forwarded(h, 0, first), 1u);
  EXPECT_EQ(forwarded(h, 0, later), 1u);
  EXPECT_EQ(h.events(WorkerCounter::fragments_followed), 1u);
  PacketSpec orphan = later;
  orphan.fragment_id = 999;
  EXPECT_EQ(forwarded(h, 0, orphan), 0u);
  EXPECT_EQ(h.drops(DropReason::fragment_unknown), 1u);
  PacketSpec denied_first = udp_spec("10.0.1.5", "10.0.2.9", 5353, 99);
  denied_first.more_fragments = true;
  denied_first.fragment_id = 7;
  PacketSpec denied_later = denied_first;
  denied_later.more_fragments = false;
  denied_later.fragment_offset = 8;
  EXPECT_EQ(forwarded(h, 0, denied_first), 0u);
  EXPECT_EQ(forwarded(h, 0, denied_later), 0u);
  EXPECT_EQ(h.drops(DropReason::policy_deny), 2u);
}

TEST(Engine, Ipv6FragmentsFollowToo) {
  Harness h(kPolicy);
  PacketSpec first{.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoUdp, .sport = 5353, .dport = 53,
                   .payload_len = 64, .ipv6_ext = {{44, 8}}, .more_fragments = true};
  PacketSpec later = first;
  later.more_fragments = false;
  later.fragment_offset = 72;
  EXPECT_EQ(forwarded(h, 0, first), 1u);
  EXPECT_EQ(forwarded(h, 0, later), 1u);
}

TEST(Engine, FragmentsDroppedByOption) {
  Harness h(kPolicy, 1, [](dataplane::Config& c) { c.fragments = dataplane::FragmentPolicy::drop; });
  PacketSpec first = udp_spec("10.0.1.5", "10.0.2.9", 5353, 53);
  first.more_fragments = true;
  EXPECT_EQ(forwarded(h, 0, first), 0u);
  EXPECT_EQ(h.drops(DropReason::fragment_policy), 1u);
}

// --- malformed and non-IP ----------------------------------------------------

TEST(Engine, MalformedPacketsDroppedByReasonArpForwarded) {
  Harness h(kPolicy);
  const Frame ok = build_packet(udp_spec("10.0.1.5", "10.0.2.9", 5353, 53));
  EXPECT_EQ(h.pass(0, truncated(ok, 12)).size(), 0u);
  EXPECT_EQ(h.pass(0, truncated(ok, 30)).size(), 0u);
  Frame bad_version = ok;
  bad_version[14] = 0x55;
  EXPECT_EQ(h.pass(0, bad_version).size(), 0u);
  EXPECT_EQ(h.drops(DropReason::truncated_l2), 1u);
  EXPECT_EQ(h.drops(DropReason::truncated_ipv4), 1u);
  EXPECT_EQ(h.drops(DropReason::bad_ipv4_version), 1u);
  EXPECT_EQ(h.pass(0, arp_request("10.0.1.5", "10.0.2.9")).size(), 1u);
  EXPECT_EQ(h.events(WorkerCounter::forwarded_non_ip), 1u);
}

// --- modes -----------------------------------------------------------------

TEST(Engine, AuditModeForwardsButCountsWouldDrop) {
  Harness h(kPolicy, 1, [](dataplane::Config& c) { c.mode = dataplane::ModeOverride::audit; });
  const auto denied = tcp_spec("10.0.1.5", "10.0.2.9", 41000, 22);
  EXPECT_EQ(forwarded(h, 0, denied), 1u);
  auto reply = reversed(denied);
  reply.tcp_flags = common::kTcpSyn | common::kTcpAck;
  EXPECT_EQ(forwarded(h, 1, reply), 1u);
  EXPECT_EQ(h.events(WorkerCounter::audit_would_drop), 2u);
  EXPECT_EQ(h.drops(DropReason::policy_deny), 0u);
  EXPECT_EQ(forwarded(h, 0, tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432)), 1u);
  EXPECT_EQ(h.events(WorkerCounter::audit_would_drop), 2u) << "allowed traffic is not flagged";
}

TEST(Engine, LearnModeForwardsEverythingAndRecords) {
  Harness h(kPolicy, 1, [](dataplane::Config& c) { c.mode = dataplane::ModeOverride::learn; });
  EXPECT_EQ(forwarded(h, 0, tcp_spec("10.0.1.5", "10.0.2.9", 41000, 22)), 1u);
  EXPECT_EQ(forwarded(h, 0, udp_spec("10.0.1.5", "10.0.2.9", 5353, 53)), 1u);
  EXPECT_EQ(h.events(WorkerCounter::learn_would_drop), 1u);
  EXPECT_EQ(h.events(WorkerCounter::conn_new), 2u);
  EXPECT_EQ(h.rule("-").connections, 1u);
  EXPECT_EQ(h.rule("web-dns").connections, 1u);
}

// --- reloads -------------------------------------------------------------------

TEST(Engine, ReloadChangesVerdictsAndRevokesAdmittedConnections) {
  Harness h(kPolicy);
  const auto c = tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432);
  const auto hs = tcp_handshake(c);
  std::string revoke = kPolicy;
  revoke.replace(revoke.find("ports: [5432]"), 13, "ports: [22]");
  run_steps(h, {
      {.name = "SYN", .port = 0, .frame = hs[0], .pass = true},
      {.name = "SYN-ACK", .port = 1, .frame = hs[1], .pass = true},
      {.name = "ACK", .port = 0, .frame = hs[2], .pass = true},
      {.name = "port 22 is not allowed yet", .port = 0, .frame = frame(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 22)),
       .pass = false, .drops = {{D::policy_deny, 1}}},
      {.name = "after the reload the revoked rule's connection is cut", .port = 0,
       .frame = frame(with_flags(c, common::kTcpAck)), .pass = false,
       .events = {{C::conn_rechecked, 1}, {C::conn_revoked, 1}}, .drops = {{D::connection_revoked, 1}},
       .reload = revoke.c_str()},
      {.name = "the new rule applies", .port = 0, .frame = frame(tcp_spec("10.0.1.5", "10.0.2.9", 41001, 22)),
       .pass = true, .events = {{C::conn_new, 1}}},
  });
  // Counters of kept rules survive the reload.
  EXPECT_EQ(h.rule("web-to-db").packets, 4u);
}

TEST(Engine, ReloadKeepsConnectionsTheNewPolicyStillAllows) {
  Harness h(kPolicy);
  const auto q = udp_spec("10.0.1.5", "10.0.2.9", 5353, 53);
  std::string changed = kPolicy;
  changed.replace(changed.find("ports: [5432]"), 13, "ports: [5433]");
  run_steps(h, {
      {.name = "request", .port = 0, .frame = frame(q), .pass = true},
      {.name = "the reply after a reload that still allows it", .port = 1, .frame = frame(reversed(q)),
       .pass = true, .events = {{C::conn_rechecked, 1}, {C::conn_hits, 1}, {C::conn_revoked, 0}},
       .reload = changed.c_str()},
  });
}

TEST(Engine, BrokenReloadKeepsThePreviousPolicy) {
  Harness h(kPolicy);
  std::string error;
  EXPECT_FALSE(h.reload("version: 1\nrules:\n  - { id: x, from: nowhere, action: allow }\n", &error));
  EXPECT_NE(error.find(":3:"), std::string::npos) << error;
  EXPECT_EQ(h.engine().policy_status().load_failures, 1u);
  EXPECT_EQ(forwarded(h, 0, tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432)), 1u);
  EXPECT_EQ(forwarded(h, 0, tcp_spec("10.0.1.5", "10.0.2.9", 41000, 22)), 0u);
}

TEST(Engine, ExpiredTimeBoundRuleStopsMatching) {
  // Ten seconds ahead: a slow start on a busy machine does not find it
  // expired, and a half-open connection (30 s) outlives the jump.
  const int64_t soon = static_cast<int64_t>(std::time(nullptr)) + 10;
  std::string policy = kPolicy;
  policy.replace(policy.find("ports: [5432], action: allow }"), 30,
                 "ports: [5432], action: allow, expires: " + std::to_string(soon) + " }");
  Harness h(policy);
  ASSERT_TRUE(h.loaded()) << h.error();
  const auto hs = tcp_handshake(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432));
  ASSERT_EQ(h.pass(0, hs[0]).size(), 1u);
  h.engine().clock().advance(11'000);
  h.engine().housekeeping();
  EXPECT_EQ(h.pass(1, hs[1]).size(), 0u) << "the expired rule's connection is cut";
  EXPECT_EQ(forwarded(h, 0, tcp_spec("10.0.1.5", "10.0.2.9", 41002, 5432)), 0u);
}

TEST(Engine, ExpiredRuleConnectionsMayFinishByOption) {
  // Ten seconds ahead: a slow start on a busy machine does not find it
  // expired, and a half-open connection (30 s) outlives the jump.
  const int64_t soon = static_cast<int64_t>(std::time(nullptr)) + 10;
  std::string policy = kPolicy;
  policy.replace(policy.find("ports: [5432], action: allow }"), 30,
                 "ports: [5432], action: allow, expires: " + std::to_string(soon) + " }");
  Harness h(policy, 1, [](dataplane::Config& c) { c.expired_finish = true; });
  ASSERT_TRUE(h.loaded()) << h.error();
  const auto hs = tcp_handshake(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432));
  ASSERT_EQ(h.pass(0, hs[0]).size(), 1u);
  h.engine().clock().advance(11'000);
  h.engine().housekeeping();
  EXPECT_EQ(h.pass(1, hs[1]).size(), 1u) << "the admitted connection finishes";
  EXPECT_EQ(h.pass(0, hs[2]).size(), 1u);
  EXPECT_EQ(forwarded(h, 0, tcp_spec("10.0.1.5", "10.0.2.9", 41002, 5432)), 0u) << "but no new connection opens";
  EXPECT_EQ(h.drops(DropReason::connection_revoked), 0u);
}

// --- two workers -------------------------------------------------------------

TEST(Engine, TwoWorkersShareConnectionState) {
  Harness h(kPolicy, 2);
  ASSERT_EQ(h.engine().worker_count(), 2u);
  const auto hs = tcp_handshake(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432));
  // Port 0 is polled by worker 0, port 1 by worker 1: the directions of the
  // connection are handled by different workers.
  EXPECT_EQ(h.pass(0, hs[0]).size(), 1u);
  EXPECT_EQ(h.pass(1, hs[1]).size(), 1u);
  EXPECT_EQ(h.pass(0, hs[2]).size(), 1u);
  EXPECT_GT(h.engine().worker(0).stats().events[static_cast<unsigned>(WorkerCounter::rx_packets)], 0u);
  EXPECT_GT(h.engine().worker(1).stats().events[static_cast<unsigned>(WorkerCounter::rx_packets)], 0u);
  EXPECT_EQ(h.events(WorkerCounter::conn_new), 1u);
  EXPECT_EQ(h.events(WorkerCounter::conn_hits), 2u);
}

TEST(Engine, AnEntryStampedAfterThisPassReadTheClockIsNotExpired) {
  // Worker 1 reads its clock, then worker 0 admits a connection: worker 1's
  // "now" is older than the entry. It must still see the connection as live.
  Harness h(kPolicy, 2);
  const auto q = udp_spec("10.0.1.5", "10.0.2.9", 5353, 53);
  ASSERT_EQ(forwarded(h, 0, q), 1u);
  auto& conns = h.engine().conns();
  for (uint32_t p = 0; p < conns.slots(); ++p) {
    auto& e = conns.entry(static_cast<int32_t>(p));
    if (!e.in_use) continue;
    e.last_seen_ms[0] += 5;  // stamped 5 ms "in the future" of the next pass
    e.last_seen_ms[1] += 5;
  }
  EXPECT_EQ(forwarded(h, 1, reversed(q)), 1u) << "the reply passes";
  EXPECT_EQ(h.events(WorkerCounter::conn_expired), 0u);
  EXPECT_EQ(h.engine().conns().count(), 1u);
}

// The connection table's key of a frame, as the worker makes it.
dataplane::ConnKey key_of_frame(const Frame& f) {
  dataplane::PacketMeta m;
  dataplane::parse_packet(f.data(), static_cast<uint32_t>(f.size()), m);
  dataplane::ConnKey key;
  dataplane::make_conn_key(dataplane::connection_tuple(m, f.data(), static_cast<uint32_t>(f.size())), key);
  return key;
}

int32_t live_slot(dataplane::ConnTable& conns) {
  for (uint32_t p = 0; p < conns.slots(); ++p)
    if (conns.entry(static_cast<int32_t>(p)).in_use == dataplane::kEntryLive) return static_cast<int32_t>(p);
  return -1;
}

TEST(Engine, AConnectionAnotherWorkerIsFillingIsNotFilledTwice) {
  Harness h(kPolicy, 2);
  const Frame q = build_packet(udp_spec("10.0.1.5", "10.0.2.9", 5353, 53));
  // Worker 1 has made the connection's slot and not yet published it: its
  // entry is free with the key in place.
  bool created = false;
  const int32_t pos = h.engine().conns().insert(key_of_frame(q), 1, &created);
  ASSERT_TRUE(created);
  EXPECT_EQ(h.pass(0, q).size(), 1u) << "allowed: it passes, untracked";
  EXPECT_EQ(h.events(WorkerCounter::conn_busy), 1u);
  EXPECT_EQ(h.events(WorkerCounter::conn_new), 0u);
  EXPECT_EQ(h.engine().conns().entry(pos).in_use, dataplane::kEntryFree) << "only its maker fills it";
  EXPECT_EQ(h.rule("web-dns").packets, 1u);
}

TEST(Engine, AnExpiredConnectionReopenedBeforeTheSweepGetsASlotOfItsOwn) {
  Harness h(kPolicy, 1, [](dataplane::Config& c) {
    c.timeouts.udp_ms = 200;
    c.sweep_period_ms = 1u << 30;  // the sweep does not come round in this test
  });
  const Frame q = build_packet(udp_spec("10.0.1.5", "10.0.2.9", 5353, 53));
  for (int k = 0; k < 10; ++k) h.send(0, q);
  h.run();
  ASSERT_EQ(h.received(1).size(), 10u);
  const int32_t old = live_slot(h.engine().conns());
  ASSERT_GE(old, 0);
  h.engine().clock().advance(300);
  // The next pass judges the packet before it sweeps: the connection is
  // expired and still in the table.
  EXPECT_EQ(h.pass(0, q).size(), 1u);
  EXPECT_EQ(h.events(WorkerCounter::conn_new), 2u);
  EXPECT_EQ(h.events(WorkerCounter::conn_expired), 1u) << "the old one ended as the sweep would end it";
  EXPECT_NE(h.engine().conns().entry(old).in_use, dataplane::kEntryLive)
      << "its slot is retired, never filled again in place: the other direction's worker may be writing it";
  EXPECT_EQ(h.engine().conns().count(), 1u);
  EXPECT_EQ(h.rule("web-dns").packets, 11u) << "the old connection's traffic was folded before it ended";
  EXPECT_EQ(h.rule("web-dns").connections, 2u);
}

// --- one-armed bursts and flow records ---------------------------------------

TEST(Engine, RepliesInTheSameBurstFollowTheirOpenerInOrder) {
  // Both directions on one port, as behind a gateway load balancer or when
  // a capture is replayed: a reply can share its opener's burst.
  Harness h(kPolicy);
  ASSERT_TRUE(h.loaded());
  const auto c = tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432);
  const auto hs = tcp_handshake(c);
  const auto q = udp_spec("10.0.1.5", "10.0.2.9", 5353, 53);
  const std::vector<Frame> burst = {hs[0], build_packet(udp_spec("10.0.1.6", "10.0.2.9", 5000, 53)), hs[1], hs[2],
                                    build_packet(q), build_packet(reversed(q))};
  for (const auto& f : burst) h.send(0, f);
  h.run();
  EXPECT_EQ(h.received(1), burst) << "every packet passes, in arrival order";
  EXPECT_EQ(h.events(WorkerCounter::conn_new), 3u);
  EXPECT_EQ(h.drops(DropReason::tcp_invalid), 0u);
  EXPECT_EQ(h.drops(DropReason::policy_deny), 0u);
}

TEST(Engine, RetransmittedDeniedSynsInOneBurstAreAllDenied) {
  Harness h(kPolicy);
  const auto syn = build_packet(tcp_spec("10.0.1.5", "10.0.2.9", 41000, 22));
  for (int i = 0; i < 3; ++i) h.send(0, syn);
  h.run();
  EXPECT_TRUE(h.received(1).empty());
  EXPECT_EQ(h.drops(DropReason::policy_deny), 3u);
}

std::vector<pb::FlowRecord> drain(Harness& h) {
  std::vector<pb::FlowRecord> out;
  h.engine().drain_flows(out, 1000);
  return out;
}

const pb::FlowRecord* find_kind(const std::vector<pb::FlowRecord>& recs, pb::FlowRecord::Kind kind) {
  for (const auto& r : recs)
    if (r.kind() == kind) return &r;
  return nullptr;
}

TEST(Engine, FlowRecordsOfAConnectionFromStartToEnd) {
  Harness h(kPolicy, 1, [](dataplane::Config& c) {
    c.record_flows = true;
    c.timeouts.tcp_closed_ms = 100;
    c.sweep_period_ms = 1;
    c.sweep_per_poll = 1 << 20;
    c.denied_interval_ms = 100;
  });
  ASSERT_TRUE(h.loaded()) << h.error();
  ASSERT_TRUE(h.engine().records_flows());
  const auto c = tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432);
  const auto hs = tcp_handshake(c);
  h.pass(0, hs[0]);
  h.pass(1, hs[1]);
  h.pass(0, hs[2]);
  auto fin = c;
  fin.tcp_flags = common::kTcpFin | common::kTcpAck;
  h.pass(0, build_packet(fin));
  h.pass(1, build_packet(reversed(fin)));
  auto ack = c;
  ack.tcp_flags = common::kTcpAck;
  h.pass(0, build_packet(ack));
  EXPECT_EQ(forwarded(h, 0, tcp_spec("10.0.1.5", "10.0.2.9", 41001, 22)), 0u);  // denied

  auto recs = drain(h);
  ASSERT_EQ(recs.size(), 1u) << "the denied packet's record waits for its interval";
  EXPECT_EQ(recs[0].kind(), pb::FlowRecord::START);
  EXPECT_EQ(recs[0].rule_id(), "web-to-db");
  EXPECT_EQ(recs[0].src_segment(), "web");
  EXPECT_EQ(recs[0].dst_segment(), "app");
  EXPECT_EQ(recs[0].verdict(), pb::FlowRecord::ALLOWED);
  EXPECT_EQ(recs[0].mode(), "enforce");
  EXPECT_TRUE(recs[0].opener_known());
  EXPECT_EQ(recs[0].dst_port(), 5432u);
  std::string why;
  EXPECT_TRUE(controlplane::flows::validate(recs[0], why)) << why;

  h.engine().clock().advance(200);
  h.run();
  recs = drain(h);
  ASSERT_EQ(recs.size(), 2u);
  const pb::FlowRecord* denied = find_kind(recs, pb::FlowRecord::DENIED);
  ASSERT_NE(denied, nullptr);
  EXPECT_EQ(denied->verdict(), pb::FlowRecord::DENY);
  EXPECT_EQ(denied->dst_port(), 22u);
  EXPECT_EQ(denied->packets_out(), 1u);
  EXPECT_TRUE(denied->rule_id().empty());  // the default action
  const pb::FlowRecord* end = find_kind(recs, pb::FlowRecord::END);
  ASSERT_NE(end, nullptr);
  EXPECT_EQ(end->end_reason(), pb::FlowRecord::CLOSED);
  EXPECT_EQ(end->packets_out(), 4u);
  EXPECT_EQ(end->packets_in(), 2u);
  EXPECT_NE(end->tcp_flags_in() & common::kTcpSyn, 0u);
  EXPECT_GE(end->time_ms(), end->start_ms());
  for (const auto& r : recs) EXPECT_TRUE(controlplane::flows::validate(r, why)) << why;
  EXPECT_EQ(h.events(WorkerCounter::flow_records), 3u);
}

TEST(Engine, DeniedPacketsBecomeOneRecordPerSourceDestinationPortAndInterval) {
  Harness h(kPolicy, 1, [](dataplane::Config& c) {
    c.record_flows = true;
    c.denied_interval_ms = 1000;
  });
  ASSERT_TRUE(h.loaded()) << h.error();
  // 300 denied SYNs from 3 source ports of one host to one port, and 10 to
  // another port: two records, whatever the source ports.
  for (int k = 0; k < 300; ++k) h.send(0, build_packet(tcp_spec("10.0.1.5", "10.0.2.9", 40000 + k % 3, 22)));
  for (int k = 0; k < 10; ++k) h.send(0, build_packet(tcp_spec("10.0.1.5", "10.0.2.9", 40000, 23)));
  h.run();
  EXPECT_EQ(h.drops(DropReason::policy_deny), 310u);
  EXPECT_TRUE(drain(h).empty()) << "records wait for the end of their interval";
  h.engine().clock().advance(1100);
  h.run();
  const auto recs = drain(h);
  ASSERT_EQ(recs.size(), 2u);
  uint64_t to22 = 0, to23 = 0;
  for (const auto& r : recs) {
    EXPECT_EQ(r.kind(), pb::FlowRecord::DENIED);
    (r.dst_port() == 22 ? to22 : to23) += r.packets_out();
    EXPECT_GE(r.time_ms(), r.start_ms());
  }
  EXPECT_EQ(to22, 300u);
  EXPECT_EQ(to23, 10u);
}

TEST(Engine, DeniedRecordsArePacedAndWhatIsNotMadeIsCounted) {
  Harness h(kPolicy, 1, [](dataplane::Config& c) {
    c.record_flows = true;
    c.denied_interval_ms = 1000;
    c.denied_rate = 50;
  });
  ASSERT_TRUE(h.loaded()) << h.error();
  // 2,000 denied SYNs, each from its own source: more keys than the table
  // holds, so records leave as their slots are taken, 50 a second at most.
  for (int k = 0; k < 2000; ++k) {
    const std::string src = "10.0.1." + std::to_string(k % 250);
    h.send(0, build_packet(tcp_spec(src.c_str(), "10.0.2.9", static_cast<uint16_t>(1000 + k / 250), 22 + k % 7)));
    if (k % 500 == 499) h.run();
  }
  h.run();
  EXPECT_EQ(h.drops(DropReason::policy_deny), 2000u);
  const auto recs = drain(h);
  EXPECT_LE(recs.size(), 50u);
  EXPECT_GT(h.events(WorkerCounter::flow_records_suppressed), 0u);
  EXPECT_EQ(h.events(WorkerCounter::flow_records_lost), 0u);
}

TEST(Engine, FlowRecordsInLearnModeCarryTheWouldBeVerdict) {
  Harness h(kPolicy, 1, [](dataplane::Config& c) {
    c.record_flows = true;
    c.mode = dataplane::ModeOverride::learn;
  });
  EXPECT_EQ(forwarded(h, 0, tcp_spec("10.0.1.5", "10.0.2.9", 41001, 22)), 1u);
  EXPECT_EQ(forwarded(h, 0, udp_spec("10.0.1.5", "10.0.2.9", 5353, 53)), 1u);
  const auto recs = drain(h);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].verdict(), pb::FlowRecord::WOULD_DENY);
  EXPECT_EQ(recs[0].mode(), "learn");
  EXPECT_EQ(recs[1].verdict(), pb::FlowRecord::ALLOWED);
  EXPECT_FALSE(recs[1].opener_known()) << "UDP has no opening packet to tell";
}

TEST(Engine, AFullFlowRingLosesRecordsNotPackets) {
  Harness h(kPolicy, 1, [](dataplane::Config& c) {
    c.record_flows = true;
    c.flow_ring = 256;
  });
  for (int i = 0; i < 400; ++i)
    EXPECT_EQ(forwarded(h, 0, udp_spec("10.0.1.5", "10.0.2.9", static_cast<uint16_t>(10000 + i), 53)), 1u);
  EXPECT_EQ(h.events(WorkerCounter::flow_records), 256u);
  EXPECT_EQ(h.events(WorkerCounter::flow_records_lost), 144u);
  EXPECT_EQ(drain(h).size(), 256u);
}

// --- the classifier split into contexts ----------------------------------------

// Rule sets large enough to be split by rule shape (IPv4 and IPv6 sides of
// every width), and tuples that meet their rules often.
class RandomRules {
 public:
  explicit RandomRules(uint32_t seed) : rng_(seed) {}
  uint32_t pick(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }

  // One rule line, half of them IPv6; with `open` false, neither address
  // side is a wildcard.
  std::string rule(const std::string& id, bool six, bool open = true) {
    static const uint32_t v6_lens[] = {0, 16, 48, 64, 96, 128};
    static const uint32_t v4_lens[] = {0, 8, 16, 24, 32};
    auto side = [&] {
      const uint32_t first = open ? 0 : 1;
      return six ? prefix(6, v6_lens[first + pick(6 - first)]) : prefix(4, v4_lens[first + pick(5 - first)]);
    };
    const std::string from = side();
    const std::string to = side();
    const uint32_t lo = pick(60000);
    return "  - { id: " + id + ", from: " + from + ", to: " + to + ", proto: tcp, ports: [\"" + std::to_string(lo) +
           "-" + std::to_string(lo + pick(5000)) + "\"], action: " + (pick(3) == 0 ? "deny" : "allow") + " }\n";
  }

  static std::string policy(const std::vector<std::string>& lines) {
    std::string yaml = "version: 1\ndefaults: { action: deny }\nrules:\n";
    for (const auto& l : lines) yaml += l;
    return yaml;
  }

  // Every one of 20,000 tuples answered by `set` as the reference
  // first-match scan of `policy` answers it.
  void expect_agrees(const std::string& policy, const dataplane::RuleSet& set) {
    auto compiled = rules::load_policy(policy, "split.yaml");
    ASSERT_TRUE(compiled.ok());
    int matched = 0;
    for (int k = 0; k < 20000; ++k) {
      dataplane::FlowTuple t{};
      t.family = k % 2 == 0 ? 6 : 4;
      t.proto = 6;
      if (t.family == 6) {
        t.src[0] = t.dst[0] = 0xfd;
        t.src[3] = static_cast<uint8_t>(pick(4));
        t.src[5] = static_cast<uint8_t>(pick(4));
        t.src[15] = static_cast<uint8_t>(pick(4));
        t.dst[3] = static_cast<uint8_t>(pick(4));
        t.dst[5] = static_cast<uint8_t>(pick(4));
        t.dst[15] = static_cast<uint8_t>(pick(4));
      } else {
        t.src[0] = t.dst[0] = 10;
        t.src[1] = static_cast<uint8_t>(pick(4));
        t.src[2] = static_cast<uint8_t>(pick(4));
        t.dst[1] = static_cast<uint8_t>(pick(4));
        t.dst[2] = static_cast<uint8_t>(pick(4));
      }
      t.sport = static_cast<uint16_t>(pick(65536));
      t.dport = static_cast<uint16_t>(pick(65536));
      rules::Tuple r;
      r.family = t.family;
      std::memcpy(r.src.data(), t.src, 16);
      std::memcpy(r.dst.data(), t.dst, 16);
      r.proto = t.proto;
      r.sport = t.sport;
      r.dport = t.dport;
      const int want = rules::match_first(*compiled.value, r, 0);
      ASSERT_EQ(set.classify(t), want < 0 ? dataplane::kNoRule : static_cast<uint32_t>(want)) << rules::format_tuple(r);
      matched += want >= 0;
    }
    EXPECT_GT(matched, 2000) << "the tuples meet the rules often enough to mean something";
  }

 private:
  // A prefix of `len` bits over addresses whose bytes 0, 3, 5 and 15 (IPv6)
  // or 0-2 (IPv4) vary, so prefixes and tuples meet often.
  std::string prefix(uint8_t family, uint32_t len) {
    rules::Prefix p;
    p.family = family;
    p.len = static_cast<uint8_t>(len);
    if (family == 6) {
      p.addr[0] = 0xfd;
      p.addr[3] = static_cast<uint8_t>(pick(4));
      p.addr[5] = static_cast<uint8_t>(pick(4));
      p.addr[15] = static_cast<uint8_t>(pick(4));
    } else {
      p.addr[0] = 10;
      p.addr[1] = static_cast<uint8_t>(pick(4));
      p.addr[2] = static_cast<uint8_t>(pick(4));
    }
    for (unsigned bit = len; bit < 128u; ++bit) p.addr[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
    const std::string text = rules::format_prefix(p);
    return family == 6 ? "\"" + text + "\"" : text;
  }

  std::mt19937 rng_;
};

std::vector<std::string> random_lines(RandomRules& gen, int n, bool open = true) {
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) lines.push_back(gen.rule("r" + std::to_string(i), i % 2 == 0, open));
  return lines;
}

// A large rule set answers every tuple as the reference first-match scan
// does, split into contexts, and after a rule inserted first.
TEST(Engine, SplitClassifierAgreesWithTheReferenceMatcher) {
  RandomRules gen(42);
  const std::string yaml = RandomRules::policy(random_lines(gen, 5000));  // 2,500 a family
  Harness h(yaml);
  ASSERT_TRUE(h.loaded()) << h.error();
  const dataplane::RuleSet& rs = *h.engine().rules().acquire();
  ASSERT_GT(rs.acl_contexts4(), 1u);
  ASSERT_GT(rs.acl_contexts6(), 1u);
  gen.expect_agrees(yaml, rs);

  // A rule inserted first shifts every rule index: the contexts the new
  // rule does not touch are reused as they are, and answers stay exact.
  std::string changed = yaml;
  changed.insert(changed.find("rules:\n") + 7,
                 "  - { id: first, from: 10.0.0.0/16, to: 10.1.2.0/24, proto: tcp, ports: [\"40000-40100\"], action: deny }\n");
  ASSERT_TRUE(h.reload(changed));
  const dataplane::RuleSet& rs2 = *h.engine().rules().acquire();
  EXPECT_GE(rs2.acl_contexts_reused(), rs2.acl_contexts4() + rs2.acl_contexts6() - 1);
  gen.expect_agrees(changed, rs2);
}

// A large set whose rules are seldom open on either address side is one
// context: each context is one more walk for every new connection, and
// only a mix of rules open on the source and rules open on the destination
// builds slowly as one. It answers as the reference does.
TEST(Engine, ALargeSetWithNoOpenSidesIsOneContext) {
  RandomRules gen(11);
  const std::string yaml = RandomRules::policy(random_lines(gen, 5000, false));
  Harness h(yaml);
  ASSERT_TRUE(h.loaded()) << h.error();
  const dataplane::RuleSet& rs = *h.engine().rules().acquire();
  EXPECT_EQ(rs.acl_contexts4(), 1u);
  EXPECT_EQ(rs.acl_contexts6(), 1u);
  gen.expect_agrees(yaml, rs);
}

// A pushed change (rules removed, replaced and inserted; the rest named by
// their place in the running set) is built as a change — the running
// contexts kept, removed rules as tombstones, new ones in an overlay — and
// answers exactly as the new policy; rebuilt in full later, it still does.
// Changes that do not fit the running set are refused and leave it whole.
TEST(Engine, ARuleSetChangedInPlaceAgreesWithTheReferenceMatcher) {
  RandomRules gen(7);
  std::vector<std::string> lines = random_lines(gen, 5000);
  const std::string yaml_a = RandomRules::policy(lines);
  Harness h(yaml_a);
  ASSERT_TRUE(h.loaded()) << h.error();
  auto a = rules::load_policy(yaml_a, "a.yaml");
  ASSERT_TRUE(a.ok());
  a.value->set_generation(1);
  std::string error;
  ASSERT_TRUE(h.engine().apply(*a.value, error)) << error;

  // Remove 40 rules, replace 40 (same id, other match), insert 40 new ones.
  for (int k = 0; k < 40; ++k) lines.erase(lines.begin() + gen.pick(static_cast<uint32_t>(lines.size())));
  for (int k = 0; k < 40; ++k) {
    const uint32_t at = gen.pick(static_cast<uint32_t>(lines.size()));
    const std::string& old = lines[at];
    const std::string id = old.substr(old.find("id: ") + 4, old.find(',') - old.find("id: ") - 4);
    const bool six = old.find(':', old.find("from:") + 5) < old.find(", to:");  // an IPv6 source
    lines[at] = gen.rule(id, six);
  }
  for (int k = 0; k < 40; ++k)
    lines.insert(lines.begin() + gen.pick(static_cast<uint32_t>(lines.size())), gen.rule("n" + std::to_string(k), k % 2));
  const std::string yaml_b = RandomRules::policy(lines);
  auto b = rules::load_policy(yaml_b, "b.yaml");
  ASSERT_TRUE(b.ok());
  b.value->set_generation(2);

  pb::PushRuleSet push;
  ASSERT_TRUE(controlplane::make_change(*a.value, controlplane::encode_rules(*a.value), *b.value,
                                        controlplane::encode_rules(*b.value), push));
  EXPECT_LT(push.pieces_size(), 500) << "a change names runs of base rules, not every rule";

  // Refused: a change of another generation, and one naming a base rule twice.
  pb::PushRuleSet wrong_base = push;
  wrong_base.set_base_generation(7);
  EXPECT_FALSE(h.engine().apply_change(wrong_base, error));
  EXPECT_NE(error.find("generation 7"), std::string::npos) << error;
  pb::PushRuleSet twice = push;
  auto* run = twice.add_pieces()->mutable_base();
  run->set_first(0);
  run->set_count(1);
  EXPECT_FALSE(h.engine().apply_change(twice, error));
  // One that fails to build after the set was assembled: a rule expanding
  // past the classifier's limit. The running set's rules go back in place.
  pb::PushRuleSet huge = push;
  auto* big = huge.add_pieces()->mutable_rule();
  big->set_id("huge");
  big->set_v4(true);
  for (int i = 0; i < 2001; ++i) {
    auto* s = big->add_src();
    s->set_addr(std::string("\x0b\x00", 2) + static_cast<char>(i >> 8) + static_cast<char>(i & 0xff));
    s->set_prefix_len(32);
    *big->add_dst() = *s;
  }
  EXPECT_FALSE(h.engine().apply_change(huge, error));
  EXPECT_NE(error.find("classifier entries"), std::string::npos) << error;
  EXPECT_EQ(h.engine().rules().acquire()->generation(), 1u);
  gen.expect_agrees(yaml_a, *h.engine().rules().acquire());

  ASSERT_TRUE(h.engine().apply_change(push, error)) << error;
  const dataplane::RuleSet& changed = *h.engine().rules().acquire();
  EXPECT_EQ(changed.generation(), 2u);
  EXPECT_TRUE(changed.compactable()) << "built as a change, not in full";
  EXPECT_EQ(changed.rules().size(), static_cast<size_t>(b.value->rules_size()));
  gen.expect_agrees(yaml_b, changed);

  const uint32_t epoch = changed.epoch();
  h.engine().compact();
  const dataplane::RuleSet& full = *h.engine().rules().acquire();
  EXPECT_FALSE(full.compactable());
  EXPECT_EQ(full.epoch(), epoch) << "the same rules: connections need no re-check";
  gen.expect_agrees(yaml_b, full);
}

}  // namespace
}  // namespace bulkhead::test
