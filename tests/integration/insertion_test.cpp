// One-armed insertion in the real engine on net_ring ports: tenants in the
// connection key and in the flow records, pickup per tenant, and the
// policy's tenants with rules of their own.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/protocols.h"
#include "tests/common/packet_builder.h"
#include "tests/common/tunnel_builder.h"
#include "tests/integration/golden/cases.h"
#include "tests/integration/harness.h"

namespace bulkhead::test {
namespace {

using dataplane::DropReason;
using dataplane::WorkerCounter;

constexpr uint64_t kBlue = 0x0a0b0c0d01020304, kOther = 0x0a0b0c0d01020399;

// GENEVE insertion on the harness's first port, at 10.100.0.5, with one
// listed tenant (blue, pickup) and flow records.
void geneve(dataplane::Config& c) {
  c.insertion.mode = dataplane::insertion::Insertion::geneve;
  c.insertion.ports = {c.pairs[0].a};
  c.insertion.addresses = {{10, 100, 0, 5}};
  c.insertion.tenants = {{"blue", true, kBlue, true}};
  c.record_flows = true;
}

Frame from(uint64_t endpoint, const PacketSpec& inner) {
  return geneve_frame({.options = aws_options(endpoint, 7, 1)}, build_packet(inner));
}

const PacketSpec kSyn{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000,
                      .dport = 5432};

TEST(Insertion, TheSameFiveTupleUnderTwoEndpointsIsTwoConnectionsWithTheirTenants) {
  Harness h(kGoldenPolicy, 1, geneve);
  ASSERT_TRUE(h.loaded()) << h.error();
  h.send(0, from(kBlue, kSyn));
  h.send(0, from(kOther, kSyn));
  h.run();
  EXPECT_EQ(h.received(0).size(), 2u);
  EXPECT_EQ(h.events(WorkerCounter::conn_new), 2u);
  std::vector<pb::FlowRecord> recs;
  h.engine().drain_flows(recs, 100);
  std::vector<std::string> tenants;
  for (const auto& r : recs)
    if (r.kind() == pb::FlowRecord::START) tenants.push_back(r.tenant());
  std::sort(tenants.begin(), tenants.end());
  ASSERT_EQ(tenants.size(), 2u);
  EXPECT_EQ(tenants[0], "blue");
  EXPECT_EQ(tenants[1].rfind("unlisted-", 0), 0u) << tenants[1];
}

TEST(Insertion, MidFlowTcpIsPickedUpOnlyForATenantWithPickup) {
  Harness h(kGoldenPolicy, 1, geneve);
  ASSERT_TRUE(h.loaded()) << h.error();
  PacketSpec mid = kSyn;
  mid.tcp_flags = common::kTcpAck | common::kTcpPsh;
  h.send(0, from(kBlue, mid));   // blue: pickup
  h.send(0, from(kOther, mid));  // unlisted: strict (the default)
  h.run();
  EXPECT_EQ(h.received(0).size(), 1u);
  EXPECT_EQ(h.events(WorkerCounter::tcp_picked_up), 1u);
  EXPECT_EQ(h.drops(DropReason::tcp_invalid), 1u);
  // The picked-up connection is tracked: its next packet is a hit.
  h.send(0, from(kBlue, mid));
  h.run();
  EXPECT_EQ(h.received(0).size(), 1u);
  EXPECT_EQ(h.events(WorkerCounter::conn_hits), 1u);
}

TEST(Insertion, DeniedRecordsCarryTheTenantAndAreKeptApartByIt) {
  Harness h(kGoldenPolicy, 1, [](dataplane::Config& c) {
    geneve(c);
    c.denied_interval_ms = 100;
  });
  ASSERT_TRUE(h.loaded()) << h.error();
  PacketSpec ssh = kSyn;
  ssh.dport = 22;
  h.send(0, from(kBlue, ssh));
  h.send(0, from(kOther, ssh));  // the same 5-tuple, another endpoint
  h.send(0, from(kOther, ssh));
  h.run();
  EXPECT_EQ(h.drops(DropReason::policy_deny), 3u);
  h.engine().clock().advance(200);
  h.run();
  std::vector<pb::FlowRecord> recs;
  h.engine().drain_flows(recs, 100);
  std::vector<std::pair<std::string, uint64_t>> denied;
  for (const auto& r : recs)
    if (r.kind() == pb::FlowRecord::DENIED) denied.emplace_back(r.tenant(), r.packets_out());
  std::sort(denied.begin(), denied.end());
  ASSERT_EQ(denied.size(), 2u);
  EXPECT_EQ(denied[0].first, "blue");
  EXPECT_EQ(denied[0].second, 1u);
  EXPECT_EQ(denied[1].first.rfind("unlisted-", 0), 0u) << denied[1].first;
  EXPECT_EQ(denied[1].second, 2u);
}

// kGoldenPolicy, with blue allowed ssh by its own rule and denied the database.
const std::string kTenantPolicy = std::string(kGoldenPolicy) + R"(tenants:
  blue:
    endpoint: 0x0a0b0c0d01020304
    rules:
      - { id: blue-ssh, from: web, to: app, proto: tcp, ports: [22], action: allow }
      - { id: blue-no-db, from: web, to: app, proto: tcp, ports: [5432], action: deny }
)";

TEST(Insertion, EachTenantIsJudgedByItsOwnRulesThenTheSharedOnes) {
  Harness h(kTenantPolicy, 1, geneve);
  ASSERT_TRUE(h.loaded()) << h.error();
  PacketSpec ssh = kSyn;
  ssh.dport = 22;
  h.send(0, from(kBlue, kSyn));   // blue: its own deny
  h.send(0, from(kOther, kSyn));  // unlisted: the shared allow
  h.send(0, from(kBlue, ssh));    // blue: its own allow
  h.send(0, from(kOther, ssh));   // unlisted: the default deny
  h.run();
  EXPECT_EQ(h.received(0).size(), 2u);
  EXPECT_EQ(h.events(WorkerCounter::conn_new), 2u);
  EXPECT_EQ(h.drops(DropReason::policy_deny), 2u);
  std::vector<pb::FlowRecord> recs;
  h.engine().drain_flows(recs, 100);
  std::vector<std::string> seen;
  for (const auto& r : recs)
    if (r.kind() == pb::FlowRecord::START) seen.push_back(r.tenant() + " " + r.rule_id());
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "blue blue-ssh");
  EXPECT_EQ(seen[1].substr(seen[1].find(' ')), " web-to-db") << seen[1];
}

TEST(Insertion, APolicyTenantMissingFromTheTenantListIsRefused) {
  Harness h(kGoldenPolicy, 1, geneve);
  ASSERT_TRUE(h.loaded()) << h.error();
  std::string error;
  const std::string unlisted = std::string(kGoldenPolicy) +
                               "tenants:\n  green: { endpoint: 0x0a0b0c0d01020399, rules: [ { id: g, action: allow } ] }\n";
  EXPECT_FALSE(h.reload(unlisted, &error));
  EXPECT_NE(error.find("--tenant green:endpoint=0x0a0b0c0d01020399"), std::string::npos) << error;
  const std::string renamed = std::string(kGoldenPolicy) +
                              "tenants:\n  azure: { endpoint: 0x0a0b0c0d01020304, rules: [ { id: g, action: allow } ] }\n";
  EXPECT_FALSE(h.reload(renamed, &error));
  EXPECT_NE(error.find("is --tenant 'blue' here"), std::string::npos) << error;
  // A tenant keyed by a VNI is not this (AWS) dataplane's: its rules are inert.
  const std::string other_kind = std::string(kGoldenPolicy) +
                                 "tenants:\n  v: { vni: 800, rules: [ { id: v-all, action: allow } ] }\n";
  EXPECT_TRUE(h.reload(other_kind, &error)) << error;
  PacketSpec ssh = kSyn;
  ssh.dport = 22;
  h.send(0, from(kOther, ssh));
  h.run();
  EXPECT_EQ(h.received(0).size(), 0u);
  EXPECT_EQ(h.drops(DropReason::policy_deny), 1u);
}

}  // namespace
}  // namespace bulkhead::test
