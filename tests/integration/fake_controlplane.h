// A control plane for the dataplane's tests, played by the test itself: a
// ZeroMQ ROUTER socket with CurveZMQ (the server's side) that reads what a
// dataplane sends and pushes what the test makes, and beside it, when asked,
// a flow collector (PULL). One thread uses it. Also the tests' rule sets to
// push and the EAL arguments of a dataplane process on null ports.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "proto/bulkhead.pb.h"
#include "rules/load.h"
#include "tests/common/curve_keys.h"

namespace bulkhead::test {

class FakeControlPlane {
 public:
  explicit FakeControlPlane(const KeyPair& server) : sock_(ctx_, zmq::socket_type::router), secret_(server.sec) {
    sock_.set(zmq::sockopt::curve_server, 1);
    sock_.set(zmq::sockopt::curve_secretkey, server.sec);
    sock_.set(zmq::sockopt::linger, 0);
    // A restarted dataplane reconnects with the same identity before the old
    // connection is reaped; like the real control plane, hand it over.
    sock_.set(zmq::sockopt::router_handover, 1);
    sock_.bind("tcp://127.0.0.1:*");
    endpoint_ = sock_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

  // The next message of a given kind from a dataplane.
  std::optional<pb::ControlMessage> next(pb::ControlMessage::BodyCase kind, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      zmq::pollitem_t items[] = {{static_cast<void*>(sock_), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, std::chrono::milliseconds(50));
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      zmq::message_t id, body;
      if (!sock_.recv(id) || !sock_.recv(body)) continue;
      peer_ = id.to_string();
      pb::ControlMessage m;
      if (m.ParseFromArray(body.data(), static_cast<int>(body.size())) && m.body_case() == kind) return m;
    }
    return std::nullopt;
  }

  void send_raw(const std::string& bytes) {
    sock_.send(zmq::buffer(peer_), zmq::send_flags::sndmore);
    sock_.send(zmq::buffer(bytes));
  }

  void send_change(const pb::PushRuleSet& change) {
    pb::ControlMessage m;
    m.set_version(1);
    *m.mutable_push() = change;
    send_raw(m.SerializeAsString());
  }

  // `leader_term`: the term it pushes under as leader (0: it does not elect).
  void push(const pb::CompiledRuleSet& set, uint64_t leader_term = 0) {
    pb::ControlMessage m;
    m.set_version(1);
    *m.mutable_push()->mutable_rule_set() = set;
    m.mutable_push()->set_sent_at_ns(42);
    m.mutable_push()->set_leader_term(leader_term);
    send_raw(m.SerializeAsString());
  }

  // A flow collector beside it (PULL, CURVE server with the same key);
  // returns its endpoint.
  std::string listen_flows() {
    flows_.emplace(ctx_, zmq::socket_type::pull);
    flows_->set(zmq::sockopt::curve_server, 1);
    flows_->set(zmq::sockopt::curve_secretkey, secret_);
    flows_->set(zmq::sockopt::linger, 0);
    flows_->bind("tcp://127.0.0.1:*");
    return flows_->get(zmq::sockopt::last_endpoint);
  }
  // Flow records received within `within` (every batch that arrives then).
  size_t flow_records(std::chrono::milliseconds within) {
    size_t n = 0;
    const auto end = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < end) {
      zmq::pollitem_t items[] = {{static_cast<void*>(*flows_), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, std::chrono::milliseconds(20));
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      zmq::message_t body;
      if (!flows_->recv(body)) continue;
      pb::FlowBatch b;
      if (b.ParseFromArray(body.data(), static_cast<int>(body.size()))) n += static_cast<size_t>(b.records_size());
    }
    return n;
  }

 private:
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  std::string secret_;
  std::string endpoint_;
  std::string peer_;
  std::optional<zmq::socket_t> flows_;
};

inline pb::CompiledRuleSet rule_set(uint64_t generation, int rules) {
  std::string text = "version: 1\nrules:\n";
  for (int i = 0; i < rules; ++i)
    text += "  - { id: r" + std::to_string(i) + ", proto: tcp, ports: [" + std::to_string(1000 + i) + "], action: allow }\n";
  auto r = rules::load_policy(text, "pushed.yaml");
  EXPECT_TRUE(r.ok());
  r.value->set_generation(generation);
  return *r.value;
}

inline std::vector<std::string> eal() {
  return {"--no-huge", "-m", "256", "--no-pci", "-l", "0,1", "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"};
}

}  // namespace bulkhead::test
