// How the control plane (Server, in this process, real CurveZMQ sockets)
// sends generations to dataplanes played by the test: the whole set to a
// new dataplane, a change to one that runs the generation before, and the
// whole set at once when the dataplane refuses a change. And who a
// dataplane is: its key, never the name or routing id it picks; what
// status and apply report for each configured dataplane; a store behind its
// dataplanes and the way back; refused frames and rate-limited logs; the
// authenticated author of every generation; a leader's change etcd
// committed late, pushed once the leader sees it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "controlplane/etcd_client.h"
#include "controlplane/etcd_store.h"
#include "controlplane/store.h"
#include "tests/common/etcd_cluster.h"
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
  void hello(zmq::socket_t& dp, uint64_t generation, const std::string& name = "fake") {
    pb::ControlMessage m;
    m.set_version(1);
    m.mutable_hello()->set_dataplane_id(name);
    m.mutable_hello()->set_generation(generation);
    send(dp, m);
  }
  void ack(zmq::socket_t& dp, uint64_t generation) {
    pb::ControlMessage m;
    m.set_version(1);
    m.mutable_ack()->set_generation(generation);
    send(dp, m);
  }
  pb::CliResponse status() {
    pb::CliRequest q;
    q.mutable_status();
    return ask(q);
  }
  // The configured dataplane whose key file is KEY_NAME.pub.
  static pb::DataplaneInfo of(const pb::CliResponse& r, const std::string& key_name) {
    for (const auto& d : r.dataplanes())
      if (d.key_name() == key_name) return d;
    ADD_FAILURE() << "no dataplane with key " << key_name;
    return {};
  }
  // Waits until the control plane knows the dataplane with key `key_name`
  // runs `generation`.
  bool runs(uint64_t generation, const std::string& key_name = "dp") {
    for (int i = 0; i < 250; ++i) {
      if (of(status(), key_name).generation() == generation) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  // Waits until `key_name` is in `state`.
  bool in_state(pb::DataplaneState state, const std::string& key_name = "dp") {
    for (int i = 0; i < 250; ++i) {
      if (of(status(), key_name).state() == state) return true;
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

  EXPECT_NE(of(status(), "dp").last_nack().find("generation 7 is enforced"), std::string::npos);
}

// The issue this guards against: a holder of one admitted key took another
// dataplane's name, got its pushes and acknowledged them for it.
TEST_F(Distribution, ADataplaneIsItsKeyNotTheNameItPicks) {
  ASSERT_EQ(apply(policy(2)), 1u);
  auto real = client(zmq::socket_type::dealer, dp_keys_, cfg_.listen);
  hello(*real, 0, "edge-1");
  auto push = next_push(*real, 5s);
  ASSERT_TRUE(push);
  ack(*real, 1);
  ASSERT_TRUE(in_state(pb::ENFORCED));

  // The other key claims the same name, with the same routing id the real
  // one might have used, and acknowledges a generation it never got.
  auto impostor = client(zmq::socket_type::dealer, dp2_keys_, cfg_.listen, "edge-1");
  hello(*impostor, 0, "edge-1");
  ack(*impostor, 2);
  for (int i = 0; i < 100 && of(status(), "dp2").refused_messages() < 2; ++i) std::this_thread::sleep_for(20ms);
  auto st = status();
  EXPECT_EQ(of(st, "dp2").refused_messages(), 2u);
  EXPECT_NE(of(st, "dp2").last_refusal().find("which was never pushed"), std::string::npos)
      << of(st, "dp2").last_refusal();
  EXPECT_EQ(of(st, "dp2").state(), pb::UNREACHABLE) << "nothing it said was taken";
  EXPECT_EQ(of(st, "dp").id(), "edge-1");
  EXPECT_EQ(of(st, "dp").state(), pb::ENFORCED);

  // A new generation goes to the real one only.
  ASSERT_EQ(apply(policy(3)), 2u);
  ASSERT_TRUE(next_push(*real, 5s)) << "the real dataplane still gets its pushes";
  EXPECT_FALSE(next_push(*impostor, 500ms)) << "the impostor gets nothing";
  ack(*real, 2);
  ASSERT_TRUE(runs(2));

  // Under a name of its own, the second key is a dataplane of its own.
  hello(*impostor, 0, "edge-2");
  push = next_push(*impostor, 5s);
  ASSERT_TRUE(push);
  EXPECT_EQ(push->rule_set().generation(), 2u);
  ack(*impostor, 2);
  ASSERT_TRUE(runs(2, "dp2"));
  EXPECT_EQ(of(status(), "dp2").id(), "edge-2");

  // A second connection with a key whose first connection is live is
  // refused; it takes nothing from the first.
  auto copy = client(zmq::socket_type::dealer, dp_keys_, cfg_.listen);
  hello(*copy, 0, "edge-1");
  for (int i = 0; i < 100 && of(status(), "dp").refused_messages() == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_NE(of(status(), "dp").last_refusal().find("a second connection"), std::string::npos);
  EXPECT_FALSE(next_push(*copy, 300ms));
  ASSERT_EQ(apply(policy(4)), 3u);
  EXPECT_TRUE(next_push(*real, 5s));
}

TEST_F(Distribution, StatusTellsEachConfiguredDataplanesState) {
  auto st = status();
  ASSERT_EQ(st.dataplanes_size(), 2) << "every configured key, connected or not";
  EXPECT_EQ(of(st, "dp").state(), pb::UNREACHABLE);
  EXPECT_NE(of(st, "dp").reason().find("never connected"), std::string::npos);

  ASSERT_EQ(apply(policy(2)), 1u);
  auto dp = client(zmq::socket_type::dealer, dp_keys_, cfg_.listen);
  hello(*dp, 0);
  ASSERT_TRUE(next_push(*dp, 5s));
  EXPECT_EQ(of(status(), "dp").state(), pb::PENDING);
  // Refused whole: the reason is reported, and no re-push follows.
  pb::ControlMessage nack;
  nack.set_version(1);
  nack.mutable_nack()->set_generation(1);
  nack.mutable_nack()->set_reason("not enforced: rule id r0 is used twice");
  send(*dp, nack);
  ASSERT_TRUE(in_state(pb::REFUSED));
  EXPECT_EQ(of(status(), "dp").reason(), "not enforced: rule id r0 is used twice");
  hello(*dp, 0);
  std::this_thread::sleep_for(2100ms);
  hello(*dp, 0);
  EXPECT_FALSE(next_push(*dp, 500ms)) << "a refused generation is not pushed again and again";
  EXPECT_EQ(of(status(), "dp2").state(), pb::UNREACHABLE);
}

TEST_F(Distribution, AStoreBehindItsDataplanesSaysSoAndRenumbers) {
  ASSERT_EQ(apply(policy(2)), 1u);
  // A dataplane that ran generation 12 of an earlier store.
  auto dp = client(zmq::socket_type::dealer, dp_keys_, cfg_.listen);
  hello(*dp, 12);
  for (int i = 0; i < 100 && status().store_behind().empty(); ++i) std::this_thread::sleep_for(20ms);
  auto st = status();
  EXPECT_EQ(st.dataplanes_newest(), 12u);
  EXPECT_NE(st.store_behind().find("runs generation 12"), std::string::npos) << st.store_behind();
  // The whole truth about generation 1: it is older than what runs there.
  ASSERT_FALSE(next_push(*dp, 300ms)) << "nothing is pushed to a dataplane ahead of the store";
  EXPECT_EQ(of(st, "dp").state(), pb::PENDING);

  // The way back: renumber past 12; the dataplane takes generation 13.
  pb::CliRequest q;
  q.mutable_renumber()->set_message("store restored from backup");
  auto r = ask(q);
  ASSERT_TRUE(r.ok()) << (r.errors_size() ? r.errors(0) : "");
  EXPECT_EQ(r.generation(), 13u);
  auto push = next_push(*dp, 5s);
  ASSERT_TRUE(push);
  EXPECT_EQ(push->rule_set().generation(), 13u);
  EXPECT_EQ(push->rule_set().rules_size(), 2) << "the store's current policy";
  ack(*dp, 13);
  ASSERT_TRUE(in_state(pb::ENFORCED));
  EXPECT_TRUE(status().store_behind().empty());
  pb::CliRequest h;
  h.mutable_history();
  const auto history = ask(h);
  ASSERT_EQ(history.history_size(), 2);
  EXPECT_EQ(history.history(1).number(), 13u);
  EXPECT_EQ(history.history(1).renumbered_from(), 1u);
  // Nothing left to renumber.
  EXPECT_FALSE(ask(q).ok());

  // An empty store behind its dataplanes: apply --renumber.
  stop();
  cfg_.store_dir = dir_.path() + "/lost-store";
  start();
  dp = client(zmq::socket_type::dealer, dp_keys_, cfg_.listen);
  hello(*dp, 13);
  for (int i = 0; i < 100 && status().store_behind().empty(); ++i) std::this_thread::sleep_for(20ms);
  pb::CliRequest a;
  a.mutable_apply()->set_source_name("p.yaml");
  a.mutable_apply()->set_source_text(policy(3));
  a.mutable_apply()->set_renumber(true);
  r = ask(a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.generation(), 14u);
  push = next_push(*dp, 5s);
  ASSERT_TRUE(push);
  EXPECT_EQ(push->rule_set().generation(), 14u);
}

TEST_F(Distribution, MessagesOfTheWrongShapeAreRefusedWholeAndLogsAreBounded) {
  ASSERT_EQ(apply(policy(2)), 1u);
  auto dp = client(zmq::socket_type::dealer, dp_keys_, cfg_.listen);
  hello(*dp, 0, "edge-1");
  ASSERT_TRUE(next_push(*dp, 5s));
  ack(*dp, 1);
  ASSERT_TRUE(runs(1));
  // Frames after the first: once read as new identity/body pairs, so that a
  // frame's contents could name any dataplane. Refused whole now.
  auto other = client(zmq::socket_type::dealer, dp2_keys_, cfg_.listen);
  testing::internal::CaptureStderr();
  pb::ControlMessage fake_ack;
  fake_ack.set_version(1);
  fake_ack.mutable_ack()->set_generation(1);
  other->send(zmq::buffer(fake_ack.SerializeAsString()), zmq::send_flags::sndmore);
  other->send(zmq::buffer(std::string("edge-1")), zmq::send_flags::sndmore);
  other->send(zmq::buffer(fake_ack.SerializeAsString()), zmq::send_flags::none);

  constexpr int kGarbage = 20000;
  pb::ControlMessage bad_name;  // protobuf itself logs each string of invalid UTF-8
  bad_name.set_version(1);
  bad_name.mutable_hello()->set_dataplane_id("ok");
  std::string invalid_utf8 = bad_name.SerializeAsString();
  invalid_utf8[invalid_utf8.size() - 1] = '\xff';
  for (int i = 0; i < kGarbage; ++i)
    other->send(zmq::buffer(i % 2 ? std::string("\xff\x01 garbage \x1b[31m", 16) : invalid_utf8));
  uint64_t refused = 0;
  for (int i = 0; i < 500 && refused < kGarbage + 1; ++i) {
    refused = status().refused_messages();
    std::this_thread::sleep_for(20ms);
  }
  // A line in the next second says how many were held back.
  std::this_thread::sleep_for(1100ms);
  other->send(zmq::buffer(std::string("more garbage")));
  for (int i = 0; i < 100 && refused < kGarbage + 2; ++i) {
    refused = status().refused_messages();
    std::this_thread::sleep_for(20ms);
  }
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(refused, kGarbage + 2u);
  size_t lines = 0;
  for (char c : log) lines += c == '\n';
  EXPECT_LE(lines, 60u) << "10 lines a second at most";
  EXPECT_NE(log.find("a message of 3 frames (1 expected)"), std::string::npos) << log.substr(0, 3000);
  EXPECT_EQ(log.find('\x1b'), std::string::npos) << "nothing from a peer is printed raw";
  EXPECT_NE(log.find("lines not shown"), std::string::npos);
  EXPECT_EQ(of(status(), "dp2").state(), pb::UNREACHABLE);
  EXPECT_EQ(of(status(), "dp").generation(), 1u);
}

TEST_F(Distribution, TheAuthorIsWhoTheControlPlaneKnowsSentIt) {
  pb::CliRequest q;
  q.set_author("mallory@elsewhere");
  q.mutable_apply()->set_source_name("p.yaml");
  q.mutable_apply()->set_source_text(policy(1));
  q.mutable_apply()->set_message("by the socket's user");
  ASSERT_TRUE(ask(q).ok());
  pb::CliRequest h;
  h.mutable_history();
  auto history = ask(h);
  ASSERT_EQ(history.history_size(), 1);
  EXPECT_EQ(history.history(0).author().rfind("uid " + std::to_string(getuid()), 0), 0u) << history.history(0).author();
  EXPECT_EQ(history.history(0).claimed_author(), "mallory@elsewhere");

  // The audit log: one JSON line per change, not world-readable.
  const std::string audit = cfg_.store_dir + "/audit.log";
  struct stat st {};
  ASSERT_EQ(::stat(audit.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07, 0u) << std::oct << st.st_mode;
  std::ifstream in(audit);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["generation"], 1);
  EXPECT_EQ(j["claimed_author"], "mallory@elsewhere");
  EXPECT_EQ(j["author"], history.history(0).author());

  // A remote operator on tcp with CURVE is its key's name.
  stop();
  const KeyPair ops = keypair(), stranger = keypair();
  cfg_.cli = "tcp://127.0.0.1:" + std::to_string(free_tcp_ports(1)[0]);
  cfg_.cli_keys = {key_file(dir_, "ops-alice.pub", ops, false)};
  start();
  q.mutable_apply()->set_source_text(policy(2));
  auto r = ask(q, &ops);
  ASSERT_TRUE(r.ok());
  history = ask(h, &ops);
  ASSERT_EQ(history.history_size(), 2);
  EXPECT_EQ(history.history(1).author(), "key ops-alice");
  EXPECT_EQ(history.history(1).claimed_author(), "mallory@elsewhere");
  // A change marked as forwarded by a standby names its author through
  // that standby: believed only from a control plane of the deployment
  // (their shared key, admitted with an etcd store: ha_controlplane_test.sh
  // forwards for real), never from an operator's.
  pb::CliRequest fwd = q;
  fwd.mutable_apply()->set_source_text(policy(3));
  fwd.mutable_forwarded()->set_by("cp-b");
  fwd.mutable_forwarded()->set_author("uid 0 (root)");
  r = ask(fwd, &ops);
  EXPECT_FALSE(r.ok());
  ASSERT_GT(r.errors_size(), 0);
  EXPECT_NE(r.errors(0).find("key ops-alice, which is not one"), std::string::npos) << r.errors(0);
  EXPECT_EQ(ask(h, &ops).history_size(), 2) << "an operator's forged mark stored nothing";
  // A key not admitted gets no answer at all.
  pb::CliRequest s;
  s.set_version(1);
  s.mutable_status();
  zmq::socket_t sock(ctx_, zmq::socket_type::req);
  sock.set(zmq::sockopt::curve_serverkey, server_keys_.pub);
  sock.set(zmq::sockopt::curve_publickey, stranger.pub);
  sock.set(zmq::sockopt::curve_secretkey, stranger.sec);
  sock.set(zmq::sockopt::rcvtimeo, 1000);
  sock.set(zmq::sockopt::linger, 0);
  sock.connect(cfg_.cli);
  sock.send(zmq::buffer(s.SerializeAsString()));
  zmq::message_t reply;
  EXPECT_FALSE(sock.recv(reply));
}

// A leader's change that etcd commits after answering it with an error
// (quorum lost, then back) reaches the store behind the leader's back: the
// leader sees the store's pointer pass the newest generation it holds,
// reads the store again and pushes that generation at once, with no Hello
// to prompt it. Played here by a second writer under the leader's own term.
TEST_F(Distribution, ALeaderPushesAGenerationEtcdCommittedLate) {
  EtcdCluster etcd(dir_.path() + "/etcd", 1);
  if (etcd.skipped()) GTEST_SKIP() << etcd.error();
  ASSERT_TRUE(etcd.up()) << etcd.error();
  stop();
  cfg_.store_dir = "etcd://" + etcd.endpoints() + "/bh";
  cfg_.name = "cp-a";
  cfg_.lease_ttl_s = 2;
  cfg_.state_dir = dir_.path() + "/state";
  mkdir(cfg_.state_dir.c_str(), 0700);
  start();
  pb::CliRequest q;
  q.mutable_apply()->set_source_name("p.yaml");
  q.mutable_apply()->set_source_text(policy(1));
  bool applied = false;
  for (int i = 0; i < 100 && !applied; ++i) {  // refused until it leads
    applied = ask(q).ok();
    if (!applied) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(applied) << "the control plane never led";
  auto dp = client(zmq::socket_type::dealer, dp_keys_, cfg_.listen);
  hello(*dp, 0);
  auto first = next_push(*dp, 5s);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->rule_set().generation(), 1u);
  const uint64_t term = first->leader_term();
  ack(*dp, 1);
  ASSERT_TRUE(runs(1));

  // Generation 2, written as the leader's late-committed change would be.
  controlplane::EtcdTarget target;
  std::string error;
  ASSERT_TRUE(controlplane::parse_etcd_url(cfg_.store_dir, target, error)) << error;
  auto backend = std::make_unique<controlplane::EtcdBackend>(target);
  backend->set_term(static_cast<int64_t>(term));
  auto late = controlplane::PolicyStore::open(std::move(backend), error);
  ASSERT_TRUE(late) << error;
  ASSERT_TRUE(late->apply(policy(2), "p.yaml", "alice", "committed late").ok());

  // No Hello from here on: only the re-read can send it.
  auto second = next_push(*dp, 3s);
  ASSERT_TRUE(second) << "generation 2 was not pushed after the re-read";
  EXPECT_EQ(second->rule_set().generation(), 2u);  // whole or a change: its header names it
  EXPECT_EQ(second->leader_term(), term);
}

}  // namespace
}  // namespace bulkhead::test
