// A dataplane with two control planes (docs/ha.md), each played by the test
// on a real CurveZMQ socket: a push under a lower leader term is refused
// once a higher one was accepted, and still after a restart; a new leader
// may push the running generation; flow records go to the control plane
// followed; one control plane gone does not stop the other.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "proto/bulkhead.pb.h"
#include "rules/load.h"
#include "tests/common/curve_keys.h"
#include "tests/common/packet_builder.h"
#include "tests/common/pcap_io.h"
#include "tests/common/temp_dir.h"
#include "tests/integration/dataplane_process.h"
#include "tests/integration/fake_controlplane.h"

namespace bulkhead::test {
namespace {

using namespace std::chrono_literals;

nlohmann::json control(const DataplaneProcess& dp) {
  const auto j = nlohmann::json::parse(dp.telemetry("/bulkhead/control"), nullptr, false);
  return j.is_object() && j.contains("/bulkhead/control") ? j["/bulkhead/control"] : nlohmann::json::object();
}

// Waits until the control telemetry's `key` is `value`.
bool wait_control(const DataplaneProcess& dp, const std::string& key, const nlohmann::json& value,
                  std::chrono::milliseconds timeout = 10s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (control(dp).value(key, nlohmann::json()) == value) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(TwoControlPlanes, ALowerTermIsRefusedAfterAHigherOneAndAfterARestart) {
  TempDir dir;
  const KeyPair server = keypair(), dp_keys = keypair();
  const std::string state = dir.path() + "/state";
  std::filesystem::create_directories(state);
  FakeControlPlane a(server), b(server);
  const std::vector<std::string> app = {"--controlplane", a.endpoint() + "," + b.endpoint(), "--controlplane-key",
                                        key_file(dir, "cp.pub", server, false), "--key",
                                        key_file(dir, "dp.key", dp_keys, true), "--id", "dp-ha", "--state-dir",
                                        state, "--mbufs", "2048"};
  {
    DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal(), app);
    ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
    auto hello_a = a.next(pb::ControlMessage::kHello, 10s), hello_b = b.next(pb::ControlMessage::kHello, 10s);
    ASSERT_TRUE(hello_a && hello_b) << dp.log();
    EXPECT_EQ(hello_a->hello().leader_term(), 0u);
    EXPECT_EQ(hello_b->hello().dataplane_id(), "dp-ha");

    a.push(rule_set(5, 3), 2);
    auto ack = a.next(pb::ControlMessage::kAck, 10s);
    ASSERT_TRUE(ack) << dp.log();
    EXPECT_EQ(ack->ack().generation(), 5u);
    EXPECT_TRUE(wait_control(dp, "followed", a.endpoint())) << control(dp);
    EXPECT_EQ(read_file(state + "/leader_term"), "2\n");

    b.push(rule_set(6, 1), 1);  // a deposed leader
    auto nack = b.next(pb::ControlMessage::kNack, 10s);
    ASSERT_TRUE(nack) << dp.log();
    EXPECT_EQ(nack->nack().generation(), 6u);
    EXPECT_EQ(nack->nack().running_generation(), 5u);
    EXPECT_NE(nack->nack().reason().find("leader term 1 is lower than the highest accepted, 2"), std::string::npos)
        << nack->nack().reason();
    b.push(rule_set(6, 1), 0);  // a control plane that does not elect
    nack = b.next(pb::ControlMessage::kNack, 10s);
    ASSERT_TRUE(nack);
    EXPECT_NE(nack->nack().reason().find("leader term 0"), std::string::npos) << nack->nack().reason();

    b.push(rule_set(6, 4), 3);  // B leads now
    ASSERT_TRUE(b.next(pb::ControlMessage::kAck, 10s)) << dp.log();
    EXPECT_TRUE(wait_control(dp, "followed", b.endpoint())) << control(dp);
    hello_a = a.next(pb::ControlMessage::kHello, 5s);
    ASSERT_TRUE(hello_a);
    EXPECT_EQ(hello_a->hello().leader_term(), 3u) << "every control plane hears the highest term";
    a.push(rule_set(7, 1), 2);
    ASSERT_TRUE(a.next(pb::ControlMessage::kNack, 10s));

    const auto c = control(dp);
    EXPECT_EQ(c["leader_term"], 3u) << c;
    EXPECT_EQ(c["rejected_deposed"], 3u) << c;
    EXPECT_EQ(c["endpoints"], nlohmann::json({a.endpoint(), b.endpoint()})) << c;
    EXPECT_EQ(c["endpoint_connected"], nlohmann::json({1, 1})) << c;
    EXPECT_EQ(c["endpoint_deposed"], nlohmann::json({1, 2})) << c;
    EXPECT_EQ(c["endpoint_last_term"], nlohmann::json({2, 3})) << c;
    EXPECT_EQ(read_file(state + "/leader_term"), "3\n");
    uint64_t v = 0;
    EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "generation", v) && v == 6u);
  }
  // Restarted, it still refuses the deposed leader.
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal(), app);
  ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
  auto hello = a.next(pb::ControlMessage::kHello, 10s);
  ASSERT_TRUE(hello) << dp.log();
  EXPECT_EQ(hello->hello().leader_term(), 3u);
  EXPECT_EQ(hello->hello().generation(), 6u) << "booted on the kept set";
  a.push(rule_set(8, 1), 2);
  auto nack = a.next(pb::ControlMessage::kNack, 10s);
  ASSERT_TRUE(nack) << dp.log();
  EXPECT_NE(nack->nack().reason().find("lower than the highest accepted, 3"), std::string::npos);
  // A new leader's first push may be the generation already enforced.
  a.push(rule_set(6, 2), 4);
  auto ack = a.next(pb::ControlMessage::kAck, 10s);
  ASSERT_TRUE(ack) << dp.log();
  EXPECT_EQ(ack->ack().generation(), 6u);
  EXPECT_TRUE(wait_control(dp, "followed", a.endpoint())) << control(dp);
  EXPECT_TRUE(wait_control(dp, "leader_term", 4u)) << control(dp);
  uint64_t v = 0;
  EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "rules", v) && v == 2u) << "enforced afresh from A";
}

// Allows everything, so the looping capture makes one long connection.
pb::CompiledRuleSet allow_all(uint64_t generation) {
  auto r = rules::load_policy("version: 1\nrules:\n  - { id: all, action: allow }\n", "pushed.yaml");
  EXPECT_TRUE(r.ok());
  r.value->set_generation(generation);
  return *r.value;
}

TEST(TwoControlPlanes, FlowsGoToTheFollowedOneAndOneGoneDoesNotStopTheOther) {
  TempDir dir;
  const KeyPair server = keypair(), dp_keys = keypair();
  auto a = std::make_unique<FakeControlPlane>(server), b = std::make_unique<FakeControlPlane>(server);
  const std::string flows_a = a->listen_flows(), flows_b = b->listen_flows();
  const std::string a_endpoint = a->endpoint(), b_endpoint = b->endpoint();
  // One UDP packet, looped: one connection whose update records leave
  // every second for as long as the test runs.
  const std::string in = dir.path() + "/in.pcap";
  write_pcap(in, {build_packet(udp_spec("10.0.1.5", "10.0.2.9", 41000, 5353, 32))});
  std::vector<std::string> eal = {"--no-huge", "-m", "256", "--no-pci", "-l", "0,1",
                                  "--vdev=net_pcap0,rx_pcap=" + in + ",infinite_rx=1", "--vdev=net_null1,no-rx=1"};
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal,
                      {"--controlplane", a_endpoint + "," + b_endpoint, "--controlplane-key",
                       key_file(dir, "cp.pub", server, false), "--key", key_file(dir, "dp.key", dp_keys, true),
                       "--flow-export", flows_a + "," + flows_b, "--flow-update", "1", "--sweep-period", "100",
                       "--mbufs", "2048"});
  ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
  ASSERT_TRUE(a->next(pb::ControlMessage::kHello, 10s) && b->next(pb::ControlMessage::kHello, 10s)) << dp.log();
  // Before any push: the first connected is followed, and gets the records.
  EXPECT_TRUE(wait_control(dp, "endpoint_connected", nlohmann::json({1, 1}))) << control(dp);
  const std::string first = control(dp).value("followed", "");
  EXPECT_TRUE(first == a_endpoint || first == b_endpoint) << control(dp);
  EXPECT_EQ(control(dp).value("flows_to", ""), first);

  a->push(allow_all(1), 1);
  ASSERT_TRUE(a->next(pb::ControlMessage::kAck, 10s)) << dp.log();
  ASSERT_TRUE(wait_control(dp, "flows_to", a_endpoint)) << control(dp);
  b->flow_records(300ms);  // what left before the switch
  EXPECT_GT(a->flow_records(3s), 0u) << "the followed control plane gets the records\n" << dp.log();
  EXPECT_EQ(b->flow_records(1s), 0u) << "the other gets none";

  b->push(allow_all(2), 2);
  ASSERT_TRUE(b->next(pb::ControlMessage::kAck, 10s)) << dp.log();
  ASSERT_TRUE(wait_control(dp, "flows_to", b_endpoint)) << control(dp);
  a->flow_records(300ms);
  EXPECT_GT(b->flow_records(3s), 0u) << dp.log();
  EXPECT_EQ(a->flow_records(1s), 0u);

  // B goes away: A keeps its session, gets the records and leads next.
  b.reset();
  EXPECT_TRUE(wait_control(dp, "endpoint_connected", nlohmann::json({1, 0}))) << control(dp);
  EXPECT_EQ(control(dp).value("followed", ""), b_endpoint) << "still B's term, until A pushes under a higher one";
  EXPECT_TRUE(wait_control(dp, "flows_to", a_endpoint)) << control(dp);
  EXPECT_GT(a->flow_records(3s), 0u) << "while B is down its records go to A";
  a->push(allow_all(3), 3);
  auto ack = a->next(pb::ControlMessage::kAck, 10s);
  ASSERT_TRUE(ack) << dp.log();
  EXPECT_EQ(ack->ack().generation(), 3u);
  EXPECT_TRUE(wait_control(dp, "followed", a_endpoint)) << control(dp);
  uint64_t v = 0;
  EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "generation", v) && v == 3u);
}

}  // namespace
}  // namespace bulkhead::test
