// The flow channel into a real control plane (Server, in this process):
// PUSH sockets with CurveZMQ deliver flow batches; malformed batches,
// unknown versions and bad records are refused and counted; a key that
// was not admitted delivers nothing; the store is queried through the CLI
// endpoint and survives a restart; a flood meets the flow log's caps and
// status counts what they kept out.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <zmq.hpp>

#include "controlplane/flows/record.h"
#include "proto/bulkhead.pb.h"
#include "tests/integration/server_fixture.h"

namespace bulkhead::test {
namespace {

using namespace std::chrono_literals;

pb::FlowRecord record(const char* src, const char* dst, uint32_t dport) {
  pb::FlowRecord r;
  r.set_kind(pb::FlowRecord::START);
  r.set_time_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count());  // within retention
  std::string s, d;
  controlplane::flows::parse_address(src, s);
  controlplane::flows::parse_address(dst, d);
  r.set_src(s);
  r.set_dst(d);
  r.set_protocol(6);
  r.set_src_port(41000);
  r.set_dst_port(dport);
  r.set_verdict(pb::FlowRecord::ALLOWED);
  r.set_mode("enforce");
  r.set_opener_known(true);
  return r;
}

std::string batch(std::vector<pb::FlowRecord> records, uint32_t version = 1) {
  pb::FlowBatch b;
  b.set_version(version);
  b.set_dataplane_id("dp1");
  b.set_sequence(1);
  for (auto& r : records) *b.add_records() = std::move(r);
  return b.SerializeAsString();
}

class FlowChannel : public ServerTest {
 protected:
  // A PUSH socket of a dataplane with `keys`.
  std::unique_ptr<zmq::socket_t> pusher(const KeyPair& keys) {
    return client(zmq::socket_type::push, keys, cfg_.flow_listen);
  }
  pb::FlowStoreInfo info() {
    pb::CliRequest q;
    q.mutable_status();
    return ask(q).flow_store();
  }
  // Waits until the store has seen `records` records (or 5 s).
  bool wait_records(uint64_t records) {
    for (int i = 0; i < 100; ++i) {
      if (info().records() >= records) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
};

TEST_F(FlowChannel, AdmittedDataplaneDeliversAndBadInputIsCounted) {
  auto push = pusher(dp_keys_);
  push->send(zmq::buffer(batch({record("10.0.1.5", "10.0.2.9", 5432), record("10.0.1.6", "10.0.2.9", 5432)})));
  ASSERT_TRUE(wait_records(2));
  push->send(zmq::str_buffer("\xff\xff\xff not protobuf"));
  push->send(zmq::buffer(batch({record("10.0.1.5", "10.0.2.9", 5432)}, 9)));
  auto bad = record("10.0.1.7", "10.0.2.9", 5432);
  bad.set_protocol(999);
  pb::FlowBatch long_id;
  long_id.ParseFromString(batch({record("10.0.1.8", "10.0.2.9", 5432)}));
  long_id.set_dataplane_id(std::string(300, 'd'));  // written into every log line: refused
  push->send(zmq::buffer(long_id.SerializeAsString()));
  push->send(zmq::buffer(batch({bad, record("10.0.1.7", "10.0.2.9", 22)})));
  ASSERT_TRUE(wait_records(3));
  const auto i = info();
  EXPECT_EQ(i.records(), 3u);
  EXPECT_EQ(i.rejected_batches(), 3u);
  EXPECT_EQ(i.rejected_records(), 1u);

  pb::CliRequest q;
  q.mutable_flows()->set_port(5432);
  const auto r = ask(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.flows_size(), 2);
}

TEST_F(FlowChannel, KeyNotAdmittedDeliversNothing) {
  auto good = pusher(dp_keys_);
  good->send(zmq::buffer(batch({record("10.0.1.5", "10.0.2.9", 443)})));
  ASSERT_TRUE(wait_records(1));
  auto rogue = pusher(keypair());
  rogue->send(zmq::buffer(batch({record("10.6.6.6", "10.0.2.9", 443)})), zmq::send_flags::dontwait);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(info().records(), 1u);
}

TEST_F(FlowChannel, TheStoreSurvivesARestart) {
  auto push = pusher(dp_keys_);
  push->send(zmq::buffer(batch({record("10.0.1.5", "10.0.2.9", 443), record("10.0.1.5", "10.0.2.10", 443)})));
  ASSERT_TRUE(wait_records(2));
  push.reset();
  stop();
  start();
  pb::CliRequest q;
  q.mutable_flows();
  const auto r = ask(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.flows_size(), 2);
}

TEST_F(FlowChannel, AFloodMeetsTheFlowLogsCapsAndStatusCountsWhatTheyKeptOut) {
  stop();
  cfg_.flow_log = dir_.path() + "/flows.jsonl";
  cfg_.flow_log_limits.rate = 50;
  start();
  // 2,000 denied records, each from its own source, and a dataplane that
  // says its rate kept 12,345 more from being made.
  std::vector<pb::FlowRecord> flood;
  for (int i = 0; i < 2000; ++i) {
    auto r = record(("10.9." + std::to_string(i / 250) + "." + std::to_string(i % 250)).c_str(), "10.0.2.9", 22);
    r.set_kind(pb::FlowRecord::DENIED);
    r.set_verdict(pb::FlowRecord::DENY);
    r.set_packets_out(1);
    flood.push_back(std::move(r));
  }
  pb::FlowBatch b;
  b.set_version(1);
  b.set_dataplane_id("dp1");
  b.set_sequence(1);
  b.set_suppressed(12345);
  for (auto& r : flood) *b.add_records() = std::move(r);
  auto push = pusher(dp_keys_);
  push->send(zmq::buffer(b.SerializeAsString()));
  ASSERT_TRUE(wait_records(2000));
  // And ten connections: the denied flood did not take their share.
  std::vector<pb::FlowRecord> conns;
  for (int i = 0; i < 10; ++i) conns.push_back(record("10.0.1.5", "10.0.2.9", 5432));
  push->send(zmq::buffer(batch(conns)));
  ASSERT_TRUE(wait_records(2010));
  const auto i = info();
  EXPECT_EQ(i.records(), 2010u) << "the store counts every valid record; the caps are the log's";
  EXPECT_EQ(i.suppressed_by_dataplanes(), 12345u);
  ASSERT_TRUE(i.has_log());
  EXPECT_EQ(i.log().path(), cfg_.flow_log);
  EXPECT_EQ(i.log().rate(), 50u);
  EXPECT_EQ(i.log().dropped_rate(), 1950u);
  EXPECT_EQ(i.log().dropped_errors(), 0u);
  std::ifstream in(cfg_.flow_log);
  std::string line;
  uint64_t denied = 0, starts = 0, told = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j["event"] == "denied") ++denied;
    if (j["event"] == "start") ++starts;
    if (j["event"] == "dropped") told += j["records"].get<uint64_t>();
  }
  EXPECT_EQ(denied, 50u);
  EXPECT_EQ(starts, 10u);
  EXPECT_EQ(told, 1950u) << "the log says where its gap is";
  struct stat st;
  ASSERT_EQ(::stat(cfg_.flow_log.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0007, 0u) << "not for every local user";
}

TEST_F(FlowChannel, RefusalsAreToldAtMostOnceEveryFewSeconds) {
  // Fifty batches whose strings are not UTF-8: protobuf refuses them, and
  // would log a line of its own for each.
  auto r = record("10.0.1.5", "10.0.2.9", 5432);
  r.set_mode("audit");
  std::string bytes = batch({r});
  const auto at = bytes.find("audit");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 2, "\xff\xfe");
  auto push = pusher(dp_keys_);
  testing::internal::CaptureStderr();
  for (int i = 0; i < 50; ++i) push->send(zmq::buffer(bytes));
  push->send(zmq::buffer(batch({record("10.0.1.5", "10.0.2.9", 443)})));
  const bool arrived = wait_records(1);
  const std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(arrived);
  EXPECT_EQ(info().rejected_batches(), 50u);
  EXPECT_LE(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(err.find("UTF-8"), std::string::npos) << err;
}

TEST_F(FlowChannel, WithoutFlowListenTheCliSaysSo) {
  stop();
  cfg_.flow_listen.clear();
  start();
  pb::CliRequest q;
  q.mutable_flows();
  const auto r = ask(q);
  EXPECT_FALSE(r.ok());
  ASSERT_GT(r.errors_size(), 0);
  EXPECT_NE(r.errors(0).find("--flow-listen"), std::string::npos);
}

}  // namespace
}  // namespace bulkhead::test
