// How the control plane (Server, in this process, real CurveZMQ sockets)
// sends generations to a dataplane played by the test: the whole set to a
// new dataplane, a change to one that runs the generation before, and the
// whole set at once when the dataplane refuses a change.
#include <gtest/gtest.h>

#include <optional>

#include "tests/integration/server_fixture.h"

namespace bulkhead::test {
namespace {

using namespace std::chrono_literals;

class Distribution : public ServerTest {
 protected:
  std::string policy(int rules) {
    std::string text = "version: 1\nrules:\n";
    for (int i = 0; i < rules; ++i)
      text += "  - { id: r" + std::to_string(i) + ", proto: tcp, ports: [" + std::to_string(1000 + i) +
              "], action: allow }\n";
    return text;
  }
  uint64_t apply(const std::string& text) {
    pb::CliRequest q;
    q.mutable_apply()->set_source_name("p.yaml");
    q.mutable_apply()->set_source_text(text);
    const auto r = ask(q);
    EXPECT_TRUE(r.ok());
    return r.generation();
  }
  void send(zmq::socket_t& dp, const pb::ControlMessage& m) { dp.send(zmq::buffer(m.SerializeAsString())); }
  void hello(zmq::socket_t& dp, uint64_t generation) {
    pb::ControlMessage m;
    m.set_version(1);
    m.mutable_hello()->set_dataplane_id("fake");
    m.mutable_hello()->set_generation(generation);
    send(dp, m);
  }
  void ack(zmq::socket_t& dp, uint64_t generation) {
    pb::ControlMessage m;
    m.set_version(1);
    m.mutable_ack()->set_generation(generation);
    send(dp, m);
  }
  // Waits until the control plane knows the dataplane runs `generation`.
  bool runs(uint64_t generation) {
    for (int i = 0; i < 250; ++i) {
      pb::CliRequest q;
      q.mutable_status();
      const auto r = ask(q);
      if (r.dataplanes_size() == 1 && r.dataplanes(0).generation() == generation) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  // The next push the control plane sends, within `timeout`.
  std::optional<pb::PushRuleSet> next_push(zmq::socket_t& dp, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      zmq::pollitem_t items[] = {{static_cast<void*>(dp), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, 20ms);
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      zmq::message_t msg;
      if (!dp.recv(msg)) continue;
      pb::ControlMessage m;
      if (m.ParseFromArray(msg.data(), static_cast<int>(msg.size())) && m.has_push()) return m.push();
    }
    return std::nullopt;
  }
};

TEST_F(Distribution, WholeSetsChangesAndTheWholeSetAfterARefusal) {
  ASSERT_EQ(apply(policy(4)), 1u);
  auto dp = client(zmq::socket_type::dealer, dp_keys_, cfg_.listen, "fake");
  hello(*dp, 0);
  auto push = next_push(*dp, 5s);
  ASSERT_TRUE(push) << "a new dataplane gets the current generation";
  EXPECT_EQ(push->base_generation(), 0u);
  EXPECT_EQ(push->rule_set().generation(), 1u);
  EXPECT_EQ(push->rule_set().rules_size(), 4);
  ack(*dp, 1);
  ASSERT_TRUE(runs(1));

  // One rule more: the dataplane runs generation 1, so it gets a change.
  ASSERT_EQ(apply(policy(5)), 2u);
  push = next_push(*dp, 5s);
  ASSERT_TRUE(push);
  EXPECT_EQ(push->base_generation(), 1u);
  EXPECT_EQ(push->rule_set().generation(), 2u);
  EXPECT_EQ(push->rule_set().rules_size(), 0);
  ASSERT_EQ(push->pieces_size(), 2);
  EXPECT_EQ(push->pieces(0).base().count(), 4u);
  EXPECT_EQ(push->pieces(1).rule().id(), "r4");

  // Refused (as a dataplane running another set would): the whole set follows
  // at once, not after the 2-second re-push.
  pb::ControlMessage nack;
  nack.set_version(1);
  nack.mutable_nack()->set_generation(2);
  nack.mutable_nack()->set_running_generation(1);
  nack.mutable_nack()->set_reason("a change of generation 1, but generation 7 is enforced here");
  send(*dp, nack);
  push = next_push(*dp, 1s);
  ASSERT_TRUE(push) << "the whole set, at once";
  EXPECT_EQ(push->base_generation(), 0u);
  EXPECT_EQ(push->rule_set().generation(), 2u);
  EXPECT_EQ(push->rule_set().rules_size(), 5);
  ack(*dp, 2);
  ASSERT_TRUE(runs(2));

  // The refusal was for generation 2 only: the next one is a change again.
  ASSERT_EQ(apply(policy(6)), 3u);
  push = next_push(*dp, 5s);
  ASSERT_TRUE(push);
  EXPECT_EQ(push->base_generation(), 2u);

  pb::CliRequest q;
  q.mutable_status();
  const auto status = ask(q);
  ASSERT_EQ(status.dataplanes_size(), 1);
  EXPECT_NE(status.dataplanes(0).last_nack().find("generation 7 is enforced"), std::string::npos);
}

}  // namespace
}  // namespace bulkhead::test
