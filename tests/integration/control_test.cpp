// The dataplane's control channel against a real ZeroMQ ROUTER socket with
// CurveZMQ, standing in for the control plane: hello, push, acknowledgement,
// refusals of replayed, stale and malformed messages, a hostile control plane
// that holds the real server key, the server key check, and the generation
// kept across a restart.
#include <gtest/gtest.h>

#include <algorithm>

#include <fstream>
#include <optional>
#include <regex>
#include <zmq.hpp>

#include "controlplane/rule_change.h"
#include "proto/bulkhead.pb.h"
#include "rules/load.h"
#include "tests/common/curve_keys.h"
#include "tests/common/temp_dir.h"
#include "tests/integration/dataplane_process.h"
#include "tests/integration/fake_controlplane.h"

namespace bulkhead::test {
namespace {

using namespace std::chrono_literals;

TEST(ControlChannel, PushAcknowledgeRefuseAndRestore) {
  TempDir dir;
  const KeyPair server = keypair(), dp_keys = keypair();
  const auto server_pub = key_file(dir, "cp.pub", server, false);
  const auto dp_key = key_file(dir, "dp.key", dp_keys, true);
  const std::string state = dir.path() + "/state";
  std::filesystem::create_directories(state);
  FakeControlPlane cp(server);
  const std::vector<std::string> app = {"--controlplane", cp.endpoint(), "--controlplane-key", server_pub, "--key",
                                        dp_key, "--id", "dp-one", "--state-dir", state, "--mbufs", "2048"};
  {
    DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal(), app);
    ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
    auto hello = cp.next(pb::ControlMessage::kHello, 10s);
    ASSERT_TRUE(hello) << dp.log();
    EXPECT_EQ(hello->hello().dataplane_id(), "dp-one");
    EXPECT_EQ(hello->hello().generation(), 0u);

    cp.push(rule_set(5, 3));
    auto ack = cp.next(pb::ControlMessage::kAck, 10s);
    ASSERT_TRUE(ack) << dp.log();
    EXPECT_EQ(ack->ack().generation(), 5u);
    EXPECT_EQ(ack->ack().sent_at_ns(), 42);
    uint64_t v = 0;
    EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "generation", v) && v == 5u);
    EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "rules", v) && v == 3u);

    cp.push(rule_set(5, 1));  // a replay
    auto nack = cp.next(pb::ControlMessage::kNack, 10s);
    ASSERT_TRUE(nack);
    EXPECT_EQ(nack->nack().running_generation(), 5u);
    EXPECT_NE(nack->nack().reason().find("not newer"), std::string::npos) << nack->nack().reason();
    cp.push(rule_set(4, 1));  // reordered
    ASSERT_TRUE(cp.next(pb::ControlMessage::kNack, 10s));
    cp.send_raw("\x08\x01garbage that is no rule set");
    nack = cp.next(pb::ControlMessage::kNack, 10s);
    ASSERT_TRUE(nack);
    EXPECT_NE(nack->nack().reason().find("malformed"), std::string::npos);
    const std::string control = dp.telemetry("/bulkhead/control");
    EXPECT_TRUE(json_u64(control, "rejected_stale", v) && v == 2u) << control;
    EXPECT_TRUE(json_u64(control, "rejected_malformed", v) && v == 1u) << control;
    EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "rules", v) && v == 3u) << "still generation 5";

    // A change travels as the rules that differ; one of a base this
    // dataplane does not run is refused, saying which one it runs.
    const auto g5 = rule_set(5, 3), g6 = rule_set(6, 4);
    pb::ControlMessage change;
    change.set_version(1);
    ASSERT_TRUE(controlplane::make_change(g5, controlplane::encode_rules(g5), g6, controlplane::encode_rules(g6),
                                          *change.mutable_push()));
    pb::ControlMessage other_base = change;
    other_base.mutable_push()->set_base_generation(4);
    cp.send_raw(other_base.SerializeAsString());
    nack = cp.next(pb::ControlMessage::kNack, 10s);
    ASSERT_TRUE(nack);
    EXPECT_NE(nack->nack().reason().find("generation 5 is enforced"), std::string::npos) << nack->nack().reason();
    cp.send_raw(change.SerializeAsString());
    ack = cp.next(pb::ControlMessage::kAck, 10s);
    ASSERT_TRUE(ack) << dp.log();
    EXPECT_EQ(ack->ack().generation(), 6u);
    const std::string policy = dp.telemetry("/bulkhead/policy");
    EXPECT_TRUE(json_u64(policy, "rules", v) && v == 4u) << policy;
    EXPECT_TRUE(json_u64(policy, "loads_as_change", v) && v == 1u) << policy;
    EXPECT_EQ(dp.stop(), 0);
  }
  // Restarted, it comes back on its kept generation and says so.
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal(), app);
  ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
  std::optional<pb::ControlMessage> hello;
  for (int i = 0; i < 5 && (!hello || hello->hello().generation() != 6u); ++i)
    hello = cp.next(pb::ControlMessage::kHello, 5s);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->hello().generation(), 6u) << "the set built as a change was kept";
  cp.push(rule_set(7, 2));
  auto ack = cp.next(pb::ControlMessage::kAck, 10s);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->ack().generation(), 7u);
}


// A control plane holding the real server key is still outside input:
// every malformed, oversized or contradictory push is refused with a Nack
// and counted, and the running set stays.
TEST(ControlChannel, AHostileControlPlaneCannotBreakTheRunningSet) {
  TempDir dir;
  const KeyPair server = keypair(), dp_keys = keypair();
  FakeControlPlane cp(server);
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal(),
                      {"--controlplane", cp.endpoint(), "--controlplane-key", key_file(dir, "cp.pub", server, false),
                       "--key", key_file(dir, "dp.key", dp_keys, true), "--id", "dp-h", "--mbufs", "2048",
                       "--controlplane-max-message", "65536"});
  ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
  ASSERT_TRUE(cp.next(pb::ControlMessage::kHello, 10s)) << dp.log();
  uint64_t v = 0;
  auto refused = [&](const char* what, const char* says) {
    auto nack = cp.next(pb::ControlMessage::kNack, 10s);
    ASSERT_TRUE(nack) << what << "\n" << dp.log();
    EXPECT_NE(nack->nack().reason().find(says), std::string::npos) << what << ": " << nack->nack().reason();
  };

  // A change to a set never sent: nothing runs yet.
  const auto g5 = rule_set(5, 3), g6 = rule_set(6, 4);
  pb::PushRuleSet change;
  ASSERT_TRUE(controlplane::make_change(g5, controlplane::encode_rules(g5), g6, controlplane::encode_rules(g6), change));
  cp.send_change(change);
  refused("a change before any set", "generation 0 is enforced");

  cp.push(g5);
  ASSERT_TRUE(cp.next(pb::ControlMessage::kAck, 10s)) << dp.log();

  // Whole sets that contradict themselves or hold what no compiler makes.
  auto spoiled = [&](uint64_t generation, auto spoil) {
    pb::CompiledRuleSet s = rule_set(generation, 3);
    spoil(s);
    return s;
  };
  cp.push(spoiled(7, [](pb::CompiledRuleSet& s) { s.mutable_rules(2)->set_id("r0"); }));
  refused("a rule named twice", "used twice");
  cp.push(spoiled(8, [](pb::CompiledRuleSet& s) { s.mutable_rules(0)->mutable_dports(0)->set_hi(999999); }));
  refused("a port past 65535", "port range");
  cp.push(spoiled(9, [](pb::CompiledRuleSet& s) {
    auto* p = s.mutable_rules(1)->add_src();
    p->set_addr(std::string("\x0a\x00\x00\x01", 4));
    p->set_prefix_len(8);
  }));
  refused("host bits set", "host bits");
  cp.push(spoiled(10, [](pb::CompiledRuleSet& s) { s.set_format_version(9); }));
  refused("another format", "format version 9");

  // Changes of the running generation 5 that contradict it.
  pb::PushRuleSet past_end = change;
  past_end.mutable_pieces(0)->mutable_base()->set_count(40);
  cp.send_change(past_end);
  refused("indexes past the end", "outside the 3");
  pb::PushRuleSet twice = change;
  auto* again = twice.add_pieces()->mutable_base();
  again->set_first(0);
  again->set_count(1);
  cp.send_change(twice);
  refused("a base rule named twice", "twice");
  pb::PushRuleSet dup_id = change;
  dup_id.mutable_pieces(dup_id.pieces_size() - 1)->mutable_rule()->set_id("r1");
  cp.send_change(dup_id);
  refused("a new rule with a base rule's id", "used twice");
  pb::PushRuleSet wrong_base = change;
  wrong_base.set_base_generation(4);
  cp.send_change(wrong_base);
  refused("a change of another base", "generation 5 is enforced");
  pb::PushRuleSet with_rules = change;
  *with_rules.mutable_rule_set()->add_rules() = g6.rules(0);
  cp.send_change(with_rules);
  refused("a change with rules outside its pieces", "outside its pieces");

  // Malformed: not protobuf, and a valid push of another channel version.
  cp.send_raw(std::string("\xff\xff\xff\xff not a message", 18));
  refused("garbage", "malformed");
  pb::ControlMessage v2;
  v2.set_version(2);
  *v2.mutable_push()->mutable_rule_set() = rule_set(11, 1);
  cp.send_raw(v2.SerializeAsString());
  refused("version 2", "malformed");

  const std::string control = dp.telemetry("/bulkhead/control");
  EXPECT_TRUE(json_u64(control, "rejected_invalid", v) && v == 9u) << control;
  EXPECT_TRUE(json_u64(control, "rejected_malformed", v) && v == 3u) << control;
  EXPECT_TRUE(json_u64(control, "applied", v) && v == 1u) << control;

  // Oversized: past --controlplane-max-message the transport drops the
  // frame with its connection; the dataplane reconnects and says Hello.
  std::string huge(100000, 'x');
  cp.send_raw(huge);
  ASSERT_TRUE(cp.next(pb::ControlMessage::kHello, 10s)) << "reconnected after the oversized frame\n" << dp.log();
  EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/control"), "connections_lost", v) && v == 1u);

  // Through all of it, generation 5 with its 3 rules stayed in force, and
  // the one good change still applies.
  EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "generation", v) && v == 5u);
  EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "rules", v) && v == 3u);
  cp.send_change(change);
  auto ack = cp.next(pb::ControlMessage::kAck, 10s);
  ASSERT_TRUE(ack) << dp.log();
  EXPECT_EQ(ack->ack().generation(), 6u);
  EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "rules", v) && v == 4u);
  EXPECT_EQ(dp.stop(), 0);
}

TEST(ControlChannel, TheHelloSaysHowTheDataplaneIsInserted) {
  TempDir dir;
  const KeyPair server = keypair(), dp_keys = keypair();
  FakeControlPlane cp(server);
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal(),
                      {"--controlplane", cp.endpoint(), "--controlplane-key", key_file(dir, "cp.pub", server, false),
                       "--key", key_file(dir, "dp.key", dp_keys, true), "--id", "dp-g", "--mbufs", "2048",
                       "--insertion", "geneve", "--ports", "0", "--address", "10.100.0.5"});
  ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
  auto hello = cp.next(pb::ControlMessage::kHello, 10s);
  ASSERT_TRUE(hello) << dp.log();
  const auto& ins = hello->hello().insertion();
  EXPECT_EQ(ins.mode(), "geneve");
  std::vector<std::string> names;
  for (const auto& c : ins.counters()) names.push_back(c.name());
  for (const char* want : {"tunnel_received", "vxlan_external_received", "health_answered", "geneve_bad_version"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

TEST(ControlChannel, TheHelloCarriesTheNameCountersOnceASetHasNames) {
  TempDir dir;
  const KeyPair server = keypair(), dp_keys = keypair();
  FakeControlPlane cp(server);
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal(),
                      {"--controlplane", cp.endpoint(), "--controlplane-key", key_file(dir, "cp.pub", server, false),
                       "--key", key_file(dir, "dp.key", dp_keys, true), "--id", "dp-n", "--mbufs", "2048"});
  ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
  auto hello = cp.next(pb::ControlMessage::kHello, 10s);
  ASSERT_TRUE(hello) << dp.log();
  EXPECT_EQ(hello->hello().names_size(), 0) << "no binding table before a set with names";
  auto set = rules::load_policy(R"(
version: 1
segments:
  clients: [10.1.0.0/16]
  resolvers: [10.0.0.53]
dns: { trusted: [resolvers] }
rules:
  - { id: api, from: clients, to: [fqdn: api.example.com], proto: tcp, ports: [443], action: allow }
)", "names.yaml");
  ASSERT_TRUE(set.ok());
  set.value->set_generation(3);
  cp.push(*set.value);
  ASSERT_TRUE(cp.next(pb::ControlMessage::kAck, 10s)) << dp.log();
  std::vector<std::string> names;
  for (int i = 0; i < 5 && names.empty(); ++i) {
    hello = cp.next(pb::ControlMessage::kHello, 3s);
    ASSERT_TRUE(hello) << dp.log();
    for (const auto& c : hello->hello().names()) names.push_back(c.name());
  }
  for (const char* want : {"bindings_live", "bound", "answers_bound", "ignored_unsolicited", "malformed_bad_name"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  uint64_t v = 0;
  EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/names"), "table", v) && v == 1u) << dp.telemetry("/bulkhead/names");
}

TEST(ControlChannel, OnlyTheConfiguredControlPlaneIsAccepted) {
  TempDir dir;
  const KeyPair server = keypair(), impostor = keypair(), dp_keys = keypair();
  FakeControlPlane cp(server);
  // The dataplane expects another server key: the CURVE handshake fails and
  // nothing reaches this control plane.
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal(),
                      {"--controlplane", cp.endpoint(), "--controlplane-key", key_file(dir, "other.pub", impostor, false),
                       "--key", key_file(dir, "dp.key", dp_keys, true), "--mbufs", "2048"});
  ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
  EXPECT_FALSE(cp.next(pb::ControlMessage::kHello, 3s));
  // It says why, once per 10 seconds however often it retries, and counts.
  EXPECT_TRUE(dp.wait_counter("/bulkhead/control", "handshake_failures", 2, 10s))
      << dp.telemetry("/bulkhead/control") << dp.log();
  const std::string log = dp.log();
  const std::regex line("handshake with tcp://127\\.0\\.0\\.1:[0-9]+ failed .*--controlplane-key");
  const auto lines = std::distance(std::sregex_iterator(log.begin(), log.end(), line), std::sregex_iterator());
  EXPECT_EQ(lines, 1) << log;
  EXPECT_EQ(dp.stop(), 0);
}

TEST(ControlChannel, BadKeyFilesAreSetupErrors) {
  TempDir dir;
  dir.file("bad.key", "public = short\n");
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal(),
                      {"--controlplane", "tcp://127.0.0.1:1", "--controlplane-key", dir.path() + "/bad.key", "--key",
                       dir.path() + "/bad.key", "--mbufs", "2048"});
  EXPECT_EQ(dp.wait_exit(20s), 1);
  EXPECT_NE(dp.log().find("bad.key:1: not a 40-character Z85"), std::string::npos) << dp.log();
}

}  // namespace
}  // namespace bulkhead::test
