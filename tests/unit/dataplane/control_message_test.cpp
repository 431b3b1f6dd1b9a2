// Validation of control-channel pushes and of the rule sets they carry,
// without sockets: what a hostile control plane holding the real server key
// may send is refused here before anything is built.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "dataplane/control_message.h"
#include "rules/load.h"

namespace bulkhead::dataplane {
namespace {

std::string push(uint32_t version, uint64_t generation, uint64_t term = 0) {
  pb::ControlMessage m;
  m.set_version(version);
  m.mutable_push()->mutable_rule_set()->set_format_version(1);
  m.mutable_push()->mutable_rule_set()->set_generation(generation);
  m.mutable_push()->set_leader_term(term);
  return m.SerializeAsString();
}

PushCheck check(const std::string& bytes, uint64_t running, std::string* reason = nullptr, uint64_t highest_term = 0) {
  pb::ControlMessage m;
  std::string r;
  const auto c = check_push(bytes.data(), bytes.size(), running, highest_term, m, r);
  if (reason) *reason = r;
  return c;
}

TEST(ControlMessage, NewerGenerationsAreAccepted) {
  EXPECT_EQ(check(push(1, 1), 0), PushCheck::accept);
  EXPECT_EQ(check(push(1, 8), 7), PushCheck::accept);
}

TEST(ControlMessage, ReplayedAndReorderedGenerationsAreStale) {
  std::string reason;
  EXPECT_EQ(check(push(1, 7), 7, &reason), PushCheck::stale);
  EXPECT_NE(reason.find("not newer than the running 7"), std::string::npos);
  EXPECT_EQ(check(push(1, 3), 7), PushCheck::stale);
  EXPECT_EQ(check(push(1, 0), 0), PushCheck::stale);
}

TEST(ControlMessage, ALowerLeaderTermIsDeposed) {
  std::string reason;
  EXPECT_EQ(check(push(1, 8, 3), 7, &reason, 3), PushCheck::accept) << "the same leader";
  EXPECT_EQ(check(push(1, 8, 4), 7, &reason, 3), PushCheck::accept) << "a new leader";
  EXPECT_EQ(check(push(1, 8, 2), 7, &reason, 3), PushCheck::deposed);
  EXPECT_NE(reason.find("leader term 2 is lower than the highest accepted, 3"), std::string::npos) << reason;
  EXPECT_EQ(check(push(1, 3, 2), 7, &reason, 3), PushCheck::deposed) << "the term is judged first";
  EXPECT_EQ(check(push(1, 8, 0), 7, &reason, 3), PushCheck::deposed) << "a file-store control plane after a leader";
  EXPECT_NE(reason.find("leader term 0"), std::string::npos) << reason;
  EXPECT_NE(reason.find("remove leader_term from its state directory"), std::string::npos) << reason;
  EXPECT_EQ(check(push(1, 8, 0), 7, &reason, 0), PushCheck::accept) << "term 0 while no leader was ever accepted";
}

TEST(ControlMessage, ANewLeaderMayPushTheRunningGeneration) {
  std::string reason;
  EXPECT_EQ(check(push(1, 7, 4), 7, &reason, 3), PushCheck::accept);
  EXPECT_EQ(check(push(1, 7, 3), 7, &reason, 3), PushCheck::stale) << "the same leader: a replay";
  EXPECT_EQ(check(push(1, 6, 4), 7, &reason, 3), PushCheck::stale) << "older, whoever sends it";
  EXPECT_EQ(check(push(1, 0, 4), 0, &reason, 3), PushCheck::stale) << "generation 0 is never a rule set";
}

TEST(ControlMessage, MalformedMessagesAreRefused) {
  EXPECT_EQ(check("", 0), PushCheck::malformed) << "empty";
  EXPECT_EQ(check("\xff\xff\xff garbage", 0), PushCheck::malformed);
  EXPECT_EQ(check(push(2, 5), 0), PushCheck::malformed) << "another channel version";
  pb::ControlMessage hello;
  hello.set_version(1);
  hello.mutable_hello()->set_generation(3);
  EXPECT_EQ(check(hello.SerializeAsString(), 0), PushCheck::malformed) << "not a push";
  pb::ControlMessage empty_push;
  empty_push.set_version(1);
  empty_push.mutable_push();
  EXPECT_EQ(check(empty_push.SerializeAsString(), 0), PushCheck::malformed) << "a push without a rule set";
}


pb::CompiledRuleSet example_set() {
  auto r = rules::load_policy(
      "version: 1\nsegments:\n  web: [10.0.1.0/24, fd00:1::/64]\n  db: [10.0.2.0/24]\nrules:\n"
      "  - { id: web-db, from: web, to: db, proto: tcp, ports: [5432, 6000-6010], action: allow }\n"
      "  - { id: ping, proto: icmp, icmp_types: [8], action: allow }\n"
      "  - { id: any, to: 203.0.113.0/24, action: deny, log: true }\n",
      "example.yaml");
  EXPECT_TRUE(r.ok());
  return *r.value;
}

TEST(RuleSetValidation, WhatTheCompilerMakesIsValid) {
  std::string error;
  EXPECT_TRUE(validate_rule_set(example_set(), error)) << error;
  std::ifstream in(std::string(BULKHEAD_SOURCE_DIR) + "/docs/examples/lab-policy.yaml");
  std::stringstream text;
  text << in.rdbuf();
  auto lab = rules::load_policy(text.str(), "lab-policy.yaml");
  ASSERT_TRUE(lab.ok());
  EXPECT_TRUE(validate_rule_set(*lab.value, error)) << error;
}

TEST(RuleSetValidation, ContradictoryAndMalformedSetsAreRefused) {
  struct Case {
    const char* what;
    void (*spoil)(pb::CompiledRuleSet&);
    const char* says;
  };
  const Case cases[] = {
      {"a rule named twice", [](pb::CompiledRuleSet& s) { s.mutable_rules(1)->set_id("web-db"); }, "used twice"},
      {"a segment named twice", [](pb::CompiledRuleSet& s) { s.mutable_segments(1)->set_name("web"); },
       "defined twice"},
      {"a rule without an id", [](pb::CompiledRuleSet& s) { s.mutable_rules(0)->clear_id(); }, "empty name"},
      {"an id of 4 KB", [](pb::CompiledRuleSet& s) { s.mutable_rules(0)->set_id(std::string(4096, 'x')); },
       "4096 bytes"},
      {"an unknown action", [](pb::CompiledRuleSet& s) { s.mutable_rules(0)->set_action(static_cast<pb::Action>(7)); },
       "unknown action"},
      {"an unknown mode", [](pb::CompiledRuleSet& s) { s.set_mode(static_cast<pb::Mode>(9)); }, "unknown default"},
      {"another format", [](pb::CompiledRuleSet& s) { s.set_format_version(2); }, "format version 2"},
      {"protocol 300", [](pb::CompiledRuleSet& s) { s.mutable_rules(0)->set_proto(300); }, "protocol 300"},
      {"a 5-byte address", [](pb::CompiledRuleSet& s) { s.mutable_rules(0)->mutable_src(0)->set_addr("12345"); },
       "5 bytes"},
      {"a /33", [](pb::CompiledRuleSet& s) { s.mutable_rules(0)->mutable_dst(0)->set_prefix_len(33); },
       "prefix length of 33"},
      {"host bits set", [](pb::CompiledRuleSet& s) { s.mutable_rules(0)->mutable_src(0)->set_prefix_len(8); },
       "host bits"},
      {"a reversed port range",
       [](pb::CompiledRuleSet& s) {
         s.mutable_rules(0)->mutable_dports(0)->set_lo(9000);
       },
       "port range 9000-5432"},
      {"port 70000", [](pb::CompiledRuleSet& s) { s.mutable_rules(0)->mutable_dports(1)->set_hi(70000); },
       "6000-70000"},
      {"a bad segment prefix", [](pb::CompiledRuleSet& s) { s.mutable_segments(0)->mutable_prefixes(0)->set_prefix_len(99); },
       "segment 0"},
      {"a negative expiry", [](pb::CompiledRuleSet& s) { s.mutable_rules(2)->set_expires_at(-5); }, "negative"},
  };
  for (const auto& c : cases) {
    pb::CompiledRuleSet s = example_set();
    c.spoil(s);
    std::string error;
    EXPECT_FALSE(validate_rule_set(s, error)) << c.what;
    EXPECT_NE(error.find(c.says), std::string::npos) << c.what << ": " << error;
  }
}

TEST(RuleSetValidation, NamesInErrorsArePrintable) {
  pb::CompiledRuleSet s = example_set();
  s.mutable_rules(0)->set_id(std::string("evil\n\x1b[31mred", 13));
  s.mutable_rules(0)->mutable_src(0)->set_prefix_len(8);
  std::string error;
  ASSERT_FALSE(validate_rule_set(s, error));
  for (char c : error) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << error;
}

TEST(ControlMessage, ChangesMustBeWellFormed) {
  auto change = [](uint64_t generation, uint64_t base) {
    pb::ControlMessage m;
    m.set_version(1);
    m.mutable_push()->mutable_rule_set()->set_format_version(1);
    m.mutable_push()->mutable_rule_set()->set_generation(generation);
    m.mutable_push()->set_base_generation(base);
    auto* run = m.mutable_push()->add_pieces()->mutable_base();
    run->set_first(0);
    run->set_count(2);
    return m;
  };
  std::string reason;
  EXPECT_EQ(check(change(6, 5).SerializeAsString(), 5), PushCheck::accept);
  auto whole_with_pieces = change(6, 0);
  EXPECT_EQ(check(whole_with_pieces.SerializeAsString(), 5, &reason), PushCheck::malformed);
  EXPECT_NE(reason.find("whole rule set with change pieces"), std::string::npos) << reason;
  auto with_rules = change(6, 5);
  with_rules.mutable_push()->mutable_rule_set()->add_rules()->set_id("x");
  EXPECT_EQ(check(with_rules.SerializeAsString(), 5, &reason), PushCheck::malformed);
  EXPECT_NE(reason.find("outside its pieces"), std::string::npos) << reason;
  auto empty_piece = change(6, 5);
  empty_piece.mutable_push()->add_pieces();
  EXPECT_EQ(check(empty_piece.SerializeAsString(), 5, &reason), PushCheck::malformed);
  EXPECT_NE(reason.find("piece 1 is empty"), std::string::npos) << reason;
  auto empty_run = change(6, 5);
  empty_run.mutable_push()->mutable_pieces(0)->mutable_base()->set_count(0);
  EXPECT_EQ(check(empty_run.SerializeAsString(), 5), PushCheck::malformed);
  EXPECT_EQ(check(change(6, 9).SerializeAsString(), 5, &reason), PushCheck::malformed) << "a base after the result";
}

}  // namespace
}  // namespace bulkhead::dataplane
