// The flow channel into a real control plane (Server, in this process):
// PUSH sockets with CurveZMQ deliver flow batches; malformed batches,
// unknown versions and bad records are refused and counted; a key that
// was not admitted delivers nothing; the store is queried through the CLI
// endpoint and survives a restart.
#include <gtest/gtest.h>

#include <thread>
#include <zmq.hpp>

#include "bulkhead.pb.h"
#include "flows/record.h"
#include "curve_keys.h"
#include "server.h"
#include "temp_dir.h"

namespace bulkhead::test {
namespace {

using namespace std::chrono_literals;

pb::FlowRecord record(const char* src, const char* dst, uint32_t dport) {
  pb::FlowRecord r;
  r.set_kind(pb::FlowRecord::START);
  r.set_time_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count());  // within retention
  std::string s, d;
  flows::parse_address(src, s);
  flows::parse_address(dst, d);
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

class FlowChannel : public ::testing::Test {
 protected:
  void SetUp() override {
    server_keys_ = keypair();
    dp_keys_ = keypair();
    cfg_.store_dir = dir_.path() + "/store";
    cfg_.key_file = key_file(dir_, "cp.key", server_keys_, true);
    cfg_.dataplane_keys = {key_file(dir_, "dp.pub", dp_keys_, false)};
    cfg_.listen = "tcp://127.0.0.1:" + std::to_string(21000 + getpid() % 20000);
    cfg_.flow_listen = "tcp://127.0.0.1:" + std::to_string(21001 + getpid() % 20000);
    cfg_.cli = "ipc://" + dir_.path() + "/cli.sock";
    start();
  }
  void TearDown() override { stop(); }

  void start() {
    std::string error;
    server_ = controlplane::Server::create(cfg_, error);
    ASSERT_TRUE(server_) << error;
    stop_ = false;
    thread_ = std::thread([this] { server_->run(stop_); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  // A PUSH socket of a dataplane with `keys`.
  std::unique_ptr<zmq::socket_t> pusher(const KeyPair& keys) {
    auto s = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::push);
    s->set(zmq::sockopt::curve_serverkey, server_keys_.pub);
    s->set(zmq::sockopt::curve_publickey, keys.pub);
    s->set(zmq::sockopt::curve_secretkey, keys.sec);
    s->set(zmq::sockopt::linger, 500);
    s->connect(cfg_.flow_listen);
    return s;
  }

  pb::CliResponse ask(pb::CliRequest req) {
    req.set_version(1);
    zmq::socket_t s(ctx_, zmq::socket_type::req);
    s.set(zmq::sockopt::rcvtimeo, 5000);
    s.connect(cfg_.cli);
    s.send(zmq::buffer(req.SerializeAsString()));
    zmq::message_t reply;
    EXPECT_TRUE(s.recv(reply));
    pb::CliResponse r;
    r.ParseFromArray(reply.data(), static_cast<int>(reply.size()));
    return r;
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

  TempDir dir_;
  KeyPair server_keys_, dp_keys_;
  controlplane::ServerConfig cfg_;
  std::unique_ptr<controlplane::Server> server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  zmq::context_t ctx_{1};
};

TEST_F(FlowChannel, AdmittedDataplaneDeliversAndBadInputIsCounted) {
  auto push = pusher(dp_keys_);
  push->send(zmq::buffer(batch({record("10.0.1.5", "10.0.2.9", 5432), record("10.0.1.6", "10.0.2.9", 5432)})));
  ASSERT_TRUE(wait_records(2));
  push->send(zmq::str_buffer("\xff\xff\xff not protobuf"));
  push->send(zmq::buffer(batch({record("10.0.1.5", "10.0.2.9", 5432)}, 9)));
  auto bad = record("10.0.1.7", "10.0.2.9", 5432);
  bad.set_protocol(999);
  push->send(zmq::buffer(batch({bad, record("10.0.1.7", "10.0.2.9", 22)})));
  ASSERT_TRUE(wait_records(3));
  const auto i = info();
  EXPECT_EQ(i.records(), 3u);
  EXPECT_EQ(i.rejected_batches(), 2u);
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
