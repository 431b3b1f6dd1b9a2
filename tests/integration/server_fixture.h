// A real control plane (controlplane::Server) running in the test's
// process on real sockets: the CLI endpoint on ipc, the dataplane and flow
// endpoints on loopback with CurveZMQ and two admitted dataplane keys (dp
// and dp2; dp2 is "unreachable" unless a test connects with it).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <zmq.hpp>

#include "controlplane/server.h"
#include "proto/bulkhead.pb.h"
#include "tests/common/curve_keys.h"
#include "tests/common/free_ports.h"
#include "tests/common/temp_dir.h"

namespace bulkhead::test {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_keys_ = keypair();
    dp_keys_ = keypair();
    dp2_keys_ = keypair();
    cfg_.store_dir = dir_.path() + "/store";
    cfg_.key_file = key_file(dir_, "cp.key", server_keys_, true);
    cfg_.dataplane_keys = {key_file(dir_, "dp.pub", dp_keys_, false), key_file(dir_, "dp2.pub", dp2_keys_, false)};
    const auto ports = free_tcp_ports(2);
    cfg_.listen = "tcp://127.0.0.1:" + std::to_string(ports[0]);
    cfg_.flow_listen = "tcp://127.0.0.1:" + std::to_string(ports[1]);
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

  // A socket of a dataplane with `keys` (CURVE client of the control
  // plane), connected to `endpoint`; `id` is its routing identity.
  std::unique_ptr<zmq::socket_t> client(zmq::socket_type type, const KeyPair& keys, const std::string& endpoint,
                                        const std::string& id = "") {
    auto s = std::make_unique<zmq::socket_t>(ctx_, type);
    s->set(zmq::sockopt::curve_serverkey, server_keys_.pub);
    s->set(zmq::sockopt::curve_publickey, keys.pub);
    s->set(zmq::sockopt::curve_secretkey, keys.sec);
    s->set(zmq::sockopt::linger, 500);
    if (!id.empty()) s->set(zmq::sockopt::routing_id, id);
    s->connect(endpoint);
    return s;
  }

  // One request to the CLI endpoint (`curve`: a remote operator's keys).
  pb::CliResponse ask(pb::CliRequest req, const KeyPair* curve = nullptr, const std::string& endpoint = "") {
    req.set_version(1);
    zmq::socket_t s(ctx_, zmq::socket_type::req);
    if (curve != nullptr) {
      s.set(zmq::sockopt::curve_serverkey, server_keys_.pub);
      s.set(zmq::sockopt::curve_publickey, curve->pub);
      s.set(zmq::sockopt::curve_secretkey, curve->sec);
    }
    s.set(zmq::sockopt::rcvtimeo, 5000);
    s.set(zmq::sockopt::linger, 0);
    s.connect(endpoint.empty() ? cfg_.cli : endpoint);
    s.send(zmq::buffer(req.SerializeAsString()));
    zmq::message_t reply;
    EXPECT_TRUE(s.recv(reply));
    pb::CliResponse r;
    r.ParseFromArray(reply.data(), static_cast<int>(reply.size()));
    return r;
  }

  TempDir dir_;
  KeyPair server_keys_, dp_keys_, dp2_keys_;
  controlplane::ServerConfig cfg_;
  std::unique_ptr<controlplane::Server> server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  zmq::context_t ctx_{1};
};

}  // namespace bulkhead::test
