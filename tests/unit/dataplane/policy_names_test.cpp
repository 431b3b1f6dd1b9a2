// What a rule set says about names: which rules a name satisfies, which
// resolvers are believed, and compiled sets that must be refused.
#include "dataplane/names/policy_names.h"

#include <gtest/gtest.h>

#include <string>

namespace bulkhead::dataplane::names {
namespace {

pb::CompiledRule* add_rule(pb::CompiledRuleSet& set, const std::string& id) {
  auto* r = set.add_rules();
  r->set_id(id);
  r->set_action(pb::ACTION_ALLOW);
  r->set_v4(true);
  return r;
}

pb::Prefix prefix(std::string addr, uint32_t len) {
  pb::Prefix p;
  p.set_addr(std::move(addr));
  p.set_prefix_len(len);
  return p;
}

TEST(PolicyNames, NoNamesNoObject) {
  pb::CompiledRuleSet set;
  add_rule(set, "plain");
  std::string error;
  EXPECT_EQ(PolicyNames::build(set, error), nullptr);
  EXPECT_TRUE(error.empty());
}

TEST(PolicyNames, BitsFollowRuleOrder) {
  pb::CompiledRuleSet set;
  add_rule(set, "plain");
  add_rule(set, "api")->add_fqdn("api.example.com");
  auto* both = add_rule(set, "cdn");
  both->add_fqdn("*.cdn.example.net");
  both->add_sni("*.cdn.example.net");
  add_rule(set, "gh")->add_sni("github.com");
  std::string error;
  auto names = PolicyNames::build(set, error);
  ASSERT_NE(names, nullptr) << error;
  EXPECT_EQ(names->fqdn_bit(0), PolicyNames::kNoBit);
  EXPECT_EQ(names->fqdn_bit(1), 0);
  EXPECT_EQ(names->fqdn_bit(2), 1);
  EXPECT_EQ(names->sni_bit(2), 0);
  EXPECT_EQ(names->sni_bit(3), 1);
  EXPECT_EQ(names->fqdn_bit(99), PolicyNames::kNoBit);
  EXPECT_EQ(names->fqdn_bits("api.example.com"), 1u);
  EXPECT_EQ(names->fqdn_bits("a.b.cdn.example.net"), 2u);
  EXPECT_EQ(names->fqdn_bits("cdn.example.net"), 0u);
  EXPECT_TRUE(names->mentions("api.example.com"));
  EXPECT_FALSE(names->mentions("github.com"));
  EXPECT_EQ(names->sni_bits("github.com"), 2u);
  EXPECT_EQ(names->fqdn_rules(), 2u);
  EXPECT_EQ(names->sni_rules(), 2u);
}

TEST(PolicyNames, TrustedResolversByPrefix) {
  pb::CompiledRuleSet set;
  add_rule(set, "api")->add_fqdn("api.example.com");
  *set.mutable_names()->add_trusted_resolvers() = prefix(std::string("\x0a\x00\x00\x35", 4), 32);
  *set.mutable_names()->add_trusted_resolvers() = prefix(std::string("\xc0\x00\x02\x80", 4), 25);
  std::string error;
  auto names = PolicyNames::build(set, error);
  ASSERT_NE(names, nullptr) << error;
  const uint8_t a[4] = {10, 0, 0, 53}, b[4] = {10, 0, 0, 54}, c[4] = {192, 0, 2, 200}, d[4] = {192, 0, 2, 100};
  EXPECT_TRUE(names->trusted_resolver(a, 4));
  EXPECT_FALSE(names->trusted_resolver(b, 4));
  EXPECT_TRUE(names->trusted_resolver(c, 4));
  EXPECT_FALSE(names->trusted_resolver(d, 4));
  uint8_t v6[16] = {10, 0, 0, 53};
  EXPECT_FALSE(names->trusted_resolver(v6, 6));
}

TEST(PolicyNames, LimitsDefaultWhereUnset) {
  pb::CompiledRuleSet set;
  add_rule(set, "api")->add_fqdn("api.example.com");
  set.mutable_names()->set_max_names(10);
  std::string error;
  auto names = PolicyNames::build(set, error);
  ASSERT_NE(names, nullptr) << error;
  EXPECT_EQ(names->limits().names, 10u);
  EXPECT_EQ(names->limits().bindings, BindingTable::Limits{}.bindings);
}

TEST(PolicyNames, RefusesWhatTheCompilerNeverWrites) {
  std::string error;
  {
    pb::CompiledRuleSet set;
    add_rule(set, "api")->add_fqdn("API.example.com.");
    EXPECT_EQ(PolicyNames::build(set, error), nullptr);
    EXPECT_NE(error.find("canonical"), std::string::npos) << error;
  }
  {
    pb::CompiledRuleSet set;
    add_rule(set, "api")->add_fqdn("api.example.com");
    *set.mutable_names()->add_trusted_resolvers() = prefix(std::string("\x0a\x00\x00", 3), 24);
    EXPECT_EQ(PolicyNames::build(set, error), nullptr);
    EXPECT_FALSE(error.empty());
  }
  {
    pb::CompiledRuleSet set;
    for (int i = 0; i <= 32; ++i) add_rule(set, "r" + std::to_string(i))->add_fqdn("a.example.com");
    EXPECT_EQ(PolicyNames::build(set, error), nullptr);
    EXPECT_NE(error.find("r32"), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace bulkhead::dataplane::names
