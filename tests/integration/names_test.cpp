// Rules written with names in the dataplane: the classifier's name bits
// (dataplane/acl_key.h) and the worker's decisions on them (docs/egress.md,
// "How the dataplane decides"). Rule sets are built directly in their
// compiled form, as the control plane would send them. Each case names
// what it proves.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <string>
#include <vector>

#include "dataplane/acl_key.h"
#include "dataplane/ruleset.h"
#include "tests/integration/harness.h"

namespace bulkhead::test {
namespace {

using dataplane::kNoRule;

pb::Prefix prefix(const std::string& text) {
  pb::Prefix p;
  const auto slash = text.find('/');
  const std::string addr = text.substr(0, slash);
  uint8_t buf[16];
  if (addr.find(':') != std::string::npos) {
    inet_pton(AF_INET6, addr.c_str(), buf);
    p.set_addr(buf, 16);
    p.set_prefix_len(slash == std::string::npos ? 128 : std::stoi(text.substr(slash + 1)));
  } else {
    inet_pton(AF_INET, addr.c_str(), buf);
    p.set_addr(buf, 4);
    p.set_prefix_len(slash == std::string::npos ? 32 : std::stoi(text.substr(slash + 1)));
  }
  return p;
}

struct RuleSpec {
  std::string id;
  std::vector<std::string> src, dst, fqdn, sni;
  uint16_t port = 443;  // 0: any
  bool allow = true;
  pb::RuleMode mode = pb::RULE_MODE_POLICY;
};

pb::CompiledRule compiled_rule(const RuleSpec& s) {
  pb::CompiledRule r;
  r.set_id(s.id);
  r.set_action(s.allow ? pb::ACTION_ALLOW : pb::ACTION_DENY);
  for (const auto& x : s.src) *r.add_src() = prefix(x);
  for (const auto& x : s.dst) *r.add_dst() = prefix(x);
  for (const auto& x : s.fqdn) r.add_fqdn(x);
  for (const auto& x : s.sni) r.add_sni(x);
  r.set_v4(true);
  r.set_v6(true);
  r.set_proto(6);
  if (s.port != 0) {
    auto* p = r.add_dports();
    p->set_lo(s.port);
    p->set_hi(s.port);
  }
  r.set_mode(s.mode);
  return r;
}

// The set the cases share: a name rule, an SNI-only rule, a rule with both
// and an address beside the name, then a deny of the rest of TCP.
pb::CompiledRuleSet names_set() {
  pb::CompiledRuleSet set;
  set.set_format_version(1);
  set.set_default_action(pb::ACTION_DENY);
  *set.add_rules() = compiled_rule({"stripe", {"10.1.0.0/16"}, {}, {"api.stripe.com"}, {}});
  *set.add_rules() = compiled_rule({"gh", {"10.1.0.0/16"}, {}, {}, {"*.github.com"}});
  *set.add_rules() =
      compiled_rule({"both", {"10.1.0.0/16"}, {"198.51.100.7/32"}, {"x.example.com"}, {"x.example.com"}});
  *set.add_rules() = compiled_rule({"rest", {}, {}, {}, {}, 0, false});
  auto* n = set.mutable_names();
  *n->add_trusted_resolvers() = prefix("10.0.0.53/32");
  n->set_grace_seconds(60);
  auto* p = n->add_tls_ports();
  p->set_lo(443);
  p->set_hi(443);
  *n->add_quic_ports() = *p;
  n->set_hello_packets(8);
  n->set_hello_ms(3000);
  n->set_reset(true);
  return set;
}

// The rule a first packet (or a later lookup with these bits) finds.
uint32_t classify_with(const dataplane::RuleSet& rs, const std::string& src, const std::string& dst, uint16_t dport,
                       uint32_t fqdn_bits, uint32_t sni_bits) {
  dataplane::FlowTuple t{};
  const bool v6 = src.find(':') != std::string::npos;
  t.family = v6 ? 6 : 4;
  t.proto = 6;
  inet_pton(v6 ? AF_INET6 : AF_INET, src.c_str(), t.src);
  inet_pton(v6 ? AF_INET6 : AF_INET, dst.c_str(), t.dst);
  t.sport = 40000;
  t.dport = dport;
  uint32_t out = kNoRule;
  if (v6) {
    dataplane::AclKey6 k;
    dataplane::make_acl_key(t, 0, k, fqdn_bits, sni_bits);
    const dataplane::AclKey6* p = &k;
    rs.classify6(&p, 1, &out);
  } else {
    dataplane::AclKey4 k;
    dataplane::make_acl_key(t, 0, k, fqdn_bits, sni_bits);
    const dataplane::AclKey4* p = &k;
    rs.classify4(&p, 1, &out);
  }
  return out;
}

uint32_t classify4(const dataplane::RuleSet& rs, const std::string& src, const std::string& dst, uint16_t dport,
                   uint32_t fqdn_bits, uint32_t sni_bits) {
  return classify_with(rs, src, dst, dport, fqdn_bits, sni_bits);
}

uint32_t classify6(const dataplane::RuleSet& rs, const std::string& src, const std::string& dst, uint32_t fqdn_bits,
                   uint32_t sni_bits) {
  return classify_with(rs, src, dst, 443, fqdn_bits, sni_bits);
}

std::unique_ptr<dataplane::RuleSet> build(const pb::CompiledRuleSet& set) {
  init_eal();
  std::string error;
  auto rs = dataplane::RuleSet::build(set, dataplane::Mode::enforce, 1, 1, 0, error);
  EXPECT_TRUE(rs) << error;
  return rs;
}

// --- the classifier -----------------------------------------------------------

TEST(NameClassifier, FirstLookupTakesEveryNameConditionAsMet) {
  const auto rs = build(names_set());
  ASSERT_TRUE(rs && rs->names());
  // All ones: the name rule's part "any destination" wins for any address.
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 443, ~0u, ~0u), 0u);
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 80, ~0u, ~0u), 3u) << "ports still decide";
  EXPECT_EQ(classify4(*rs, "10.9.0.5", "203.0.113.9", 443, ~0u, ~0u), 3u) << "sources still decide";
}

TEST(NameClassifier, BitsSayWhichNameConditionsHold) {
  const auto rs = build(names_set());
  ASSERT_TRUE(rs);
  const uint32_t stripe = 1u << rs->names()->fqdn_bit(0);
  const uint32_t gh = 1u << rs->names()->sni_bit(1);
  const uint32_t both_fqdn = 1u << rs->names()->fqdn_bit(2);
  const uint32_t both_sni = 1u << rs->names()->sni_bit(2);
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 443, stripe, ~0u), 0u) << "bound to api.stripe.com";
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 443, 0, ~0u), 1u) << "no binding: the SNI rule is next";
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 443, 0, gh), 1u) << "its server name matched";
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 443, 0, 0), 3u) << "neither";
  // The address written beside the name needs no binding, only the server name.
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "198.51.100.7", 443, 0, both_sni), 2u);
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "198.51.100.7", 443, 0, gh), 1u);
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "198.51.100.7", 443, 0, 0), 3u);
  // The name part needs both its bits.
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 443, both_fqdn, both_sni), 2u);
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 443, both_fqdn, 0), 3u);
}

TEST(NameClassifier, NamePartCoversIpv6Too) {
  pb::CompiledRuleSet set = names_set();
  set.mutable_rules(0)->clear_src();
  const auto rs = build(set);
  ASSERT_TRUE(rs);
  EXPECT_EQ(classify6(*rs, "fd00::5", "2001:db8::9", 1u << rs->names()->fqdn_bit(0), 0), 0u);
  EXPECT_EQ(classify6(*rs, "fd00::5", "2001:db8::9", 0, 0), 3u);
}

TEST(NameClassifier, ANameRuleWithOnlyAddressesOfTheOtherFamilyStillMatchesByName) {
  pb::CompiledRuleSet set = names_set();
  *set.mutable_rules(0)->add_dst() = prefix("2001:db8::1/128");
  const auto rs = build(set);
  ASSERT_TRUE(rs);
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 443, 1u << rs->names()->fqdn_bit(0), 0), 0u);
  EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 443, 0, 0), 3u);
}

TEST(NameClassifier, SetWithoutNamesClassifiesWhateverTheBits) {
  pb::CompiledRuleSet set = names_set();
  set.clear_names();
  for (auto& r : *set.mutable_rules()) {
    r.clear_fqdn();
    r.clear_sni();
  }
  const auto rs = build(set);
  ASSERT_TRUE(rs);
  EXPECT_EQ(rs->names(), nullptr);
  for (uint32_t bits : {0u, ~0u, 5u}) {
    EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 443, bits, bits), 0u);
    EXPECT_EQ(classify4(*rs, "10.1.0.5", "203.0.113.9", 80, bits, bits), 3u);
  }
}

TEST(NameClassifier, AChangeThatRenumbersNameBitsIsBuiltInFull) {
  const auto base = build(names_set());
  ASSERT_TRUE(base);
  pb::CompiledRuleSet next = names_set();
  // A new name rule first: every kept rule's fqdn bit moves on by one.
  auto* rules = next.mutable_rules();
  rules->Add(compiled_rule({"first", {"10.2.0.0/16"}, {}, {"a.example.com"}, {}}));
  std::rotate(rules->begin(), rules->end() - 1, rules->end());
  std::vector<uint32_t> base_of = {dataplane::kNewRule, 0, 1, 2, 3};
  std::string error;
  auto changed = dataplane::RuleSet::change(next, *base, base_of, dataplane::Mode::enforce, 2, 0, error);
  EXPECT_FALSE(changed);
  EXPECT_TRUE(error.empty()) << error;
  // After the last rule with names, nothing is renumbered: built as a change.
  pb::CompiledRuleSet later = names_set();
  later.mutable_rules()->Add(compiled_rule({"later", {"10.2.0.0/16"}, {}, {"a.example.com"}, {}}));
  std::rotate(later.mutable_rules()->begin() + 3, later.mutable_rules()->end() - 1, later.mutable_rules()->end());
  changed = dataplane::RuleSet::change(later, *base, {0, 1, 2, dataplane::kNewRule, 3}, dataplane::Mode::enforce, 2,
                                       0, error);
  ASSERT_TRUE(changed) << error;
  EXPECT_EQ(classify4(*changed, "10.1.0.5", "203.0.113.9", 443, 1u << changed->names()->fqdn_bit(0), 0), 0u);
  EXPECT_EQ(classify4(*changed, "10.2.0.5", "203.0.113.9", 443, 1u << changed->names()->fqdn_bit(3), 0), 3u);
  EXPECT_EQ(classify4(*changed, "10.2.0.5", "203.0.113.9", 443, 0, 0), 4u);
}

}  // namespace
}  // namespace bulkhead::test
