// A generation as a change of another (controlplane/rule_change.h).
#include <gtest/gtest.h>

#include "controlplane/rule_change.h"
#include "rules/load.h"

namespace bulkhead::controlplane {
namespace {

pb::CompiledRuleSet compile(const std::string& rules, uint64_t generation) {
  auto r = rules::load_policy("version: 1\ndefaults: { action: deny }\nrules:\n" + rules, "p.yaml");
  EXPECT_TRUE(r.ok());
  r.value->set_generation(generation);
  return *r.value;
}

std::string rule(int i, int port) {
  return "  - { id: r" + std::to_string(i) + ", from: 10.0." + std::to_string(i) + ".0/24, proto: tcp, ports: [" +
         std::to_string(port) + "], action: allow }\n";
}

// The pieces as text: "b0+3" a run of base rules, "r:ID" a rule of its own.
std::string pieces(const pb::PushRuleSet& p) {
  std::string out;
  for (const auto& x : p.pieces())
    out += (out.empty() ? "" : " ") + (x.has_base() ? "b" + std::to_string(x.base().first()) + "+" +
                                                          std::to_string(x.base().count())
                                                    : "r:" + x.rule().id());
  return out;
}

TEST(RuleChange, NamesUnchangedRulesByRunsAndCarriesTheRest) {
  std::string a_text, b_text;
  for (int i = 0; i < 10; ++i) a_text += rule(i, 80);
  // r3 removed, r5 changed, a new rule before r8; a comment line shifts the
  // source locations of every rule after it, which does not make them new.
  for (int i = 0; i < 10; ++i) {
    if (i == 3) continue;
    if (i == 8) b_text += "  # new\n  - { id: n1, proto: udp, ports: [53], action: allow }\n";
    b_text += rule(i, i == 5 ? 443 : 80);
  }
  const auto a = compile(a_text, 4), b = compile(b_text, 5);
  pb::PushRuleSet push;
  ASSERT_TRUE(make_change(a, encode_rules(a), b, encode_rules(b), push));
  EXPECT_EQ(push.base_generation(), 4u);
  EXPECT_EQ(pieces(push), "b0+3 b4+1 r:r5 b6+2 r:n1 b8+2");
  EXPECT_EQ(push.rule_set().generation(), 5u);
  EXPECT_EQ(push.rule_set().rules_size(), 0) << "the rules travel as pieces only";
  EXPECT_EQ(push.rule_set().source_sha256(), b.source_sha256());
}

TEST(RuleChange, AChangeOfMostRulesIsNotWorthIt) {
  std::string a_text, b_text;
  for (int i = 0; i < 10; ++i) a_text += rule(i, 80), b_text += rule(i, i < 6 ? 81 : 80);
  const auto a = compile(a_text, 1), b = compile(b_text, 2);
  pb::PushRuleSet push;
  EXPECT_FALSE(make_change(a, encode_rules(a), b, encode_rules(b), push));
}

// copy_header names every field but the rules: a field added to the
// message must be added there too, or changes would drop it.
TEST(RuleChange, TheHeaderCopyKnowsEveryFieldOfACompiledSet) {
  EXPECT_EQ(pb::CompiledRuleSet::descriptor()->field_count(), 10)
      << "CompiledRuleSet gained a field: copy it in copy_header (rule_change.cpp)";
  auto full = compile(rule(1, 80), 9);
  full.set_mode(pb::MODE_AUDIT);
  full.set_default_action(pb::ACTION_ALLOW);
  full.add_segments()->set_name("web");
  full.add_tenants()->set_name("blue");
  full.mutable_names()->set_grace_seconds(60);
  pb::CompiledRuleSet header;
  copy_header(full, header);
  full.clear_rules();
  EXPECT_EQ(header.SerializeAsString(), full.SerializeAsString());
}

}  // namespace
}  // namespace bulkhead::controlplane
