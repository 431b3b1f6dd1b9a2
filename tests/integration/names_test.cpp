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

#include "common/protocols.h"
#include "dataplane/acl_key.h"
#include "dataplane/names/bindings.h"
#include "dataplane/ruleset.h"
#include "tests/common/hello_builder.h"
#include "tests/common/packet_builder.h"
#include "tests/integration/harness.h"

namespace bulkhead::test {
namespace {

using dataplane::DropReason;
using dataplane::PacketMeta;
using dataplane::kNoRule;
using dataplane::WorkerCounter;

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


// --- the worker's decisions -----------------------------------------------------

constexpr const char* kClient = "10.1.0.5";

// Clients may reach api.stripe.com by name and 198.51.100.0/24 by address;
// `other` (other clients) mentions tracker.example.org; `watch` is a new
// allow-list in audit.
constexpr const char* kNamesPolicy = R"(version: 1
defaults: { action: deny, mode: enforce }
segments:
  clients: [10.1.0.0/16, "fd00:1::/64"]
  others: [10.2.0.0/16]
  resolvers: [10.0.0.53]
dns: { trusted: [resolvers], grace: 60 }
rules:
  - { id: dns, from: clients, to: resolvers, proto: udp, ports: [53], action: allow }
  - { id: stripe, from: clients, to: [fqdn: api.stripe.com], proto: tcp, ports: [443], action: allow }
  - { id: other, from: others, to: [fqdn: tracker.example.org], proto: tcp, ports: [443], action: allow }
  - { id: watch, from: clients, to: [fqdn: "*.new.example"], proto: tcp, ports: [8443], action: allow, mode: audit }
  - { id: corp, from: clients, to: 198.51.100.0/24, proto: tcp, ports: [443], action: allow }
  - { id: no-telnet, from: clients, to: any, proto: tcp, ports: [23], action: deny, mode: audit }
)";

void recording(dataplane::Config& c) {
  c.record_flows = true;
  c.sweep_period_ms = 1000;
  c.denied_interval_ms = 1;
}

uint32_t seconds(Harness& h) { return h.engine().clock().now_seconds(); }

// What a trusted resolver's answer would bind: `name` for `client` at
// `server`, for `ttl` seconds plus the policy's grace.
void answer(Harness& h, const std::string& client, const std::string& server, const std::string& name,
            uint32_t ttl = 300) {
  auto* table = h.engine().bindings();
  ASSERT_NE(table, nullptr);
  dataplane::names::BindingKey k;
  const bool v6 = client.find(':') != std::string::npos;
  k.family = v6 ? 6 : 4;
  inet_pton(v6 ? AF_INET6 : AF_INET, client.c_str(), k.client.data());
  inet_pton(v6 ? AF_INET6 : AF_INET, server.c_str(), k.server.data());
  const uint32_t now = seconds(h);
  table->bind(k, name, now, now + ttl + 60);
}

Frame syn(const std::string& client, const std::string& server, uint16_t sport = 41000, uint16_t port = 443) {
  return build_packet(tcp_spec(client, server, sport, port));
}

std::vector<pb::FlowRecord> drain(Harness& h) {
  std::vector<pb::FlowRecord> out;
  h.settle();
  h.engine().drain_flows(out, 1000);
  return out;
}

const pb::FlowRecord* record_of(const std::vector<pb::FlowRecord>& recs, pb::FlowRecord::Kind kind) {
  for (const auto& r : recs)
    if (r.kind() == kind) return &r;
  return nullptr;
}

// A TCP handshake of `c` through `h`, every segment forwarded.
void handshake(Harness& h, const PacketSpec& c) {
  const auto hs = tcp_handshake(c);
  for (size_t k = 0; k < hs.size(); ++k) EXPECT_EQ(h.pass(k == 1 ? 1 : 0, hs[k]).size(), 1u) << "segment " << k;
}

struct NamesHarness : Harness {
  explicit NamesHarness(void (*tweak)(dataplane::Config&) = recording) : Harness(kNamesPolicy, 1, tweak) {
    EXPECT_TRUE(loaded()) << error();
    EXPECT_NE(engine().rules().acquire()->names(), nullptr);
  }
};

TEST(NameDecisions, AConnectionToAnAddressAnsweredForTheNameIsAllowed) {
  NamesHarness h;
  answer(h, kClient, "203.0.113.9", "api.stripe.com");
  EXPECT_EQ(h.pass(0, syn(kClient, "203.0.113.9")).size(), 1u);
  EXPECT_EQ(h.rule("stripe").connections, 1u);
  const auto recs = drain(h);
  const auto* start = record_of(recs, pb::FlowRecord::START);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->rule_id(), "stripe");
  EXPECT_EQ(start->dns_name(), "api.stripe.com");
  EXPECT_LE(start->dns_age_s(), 2u);
  EXPECT_EQ(start->name_reason().rfind("answered for api.stripe.com ", 0), 0u) << start->name_reason();
}

TEST(NameDecisions, ANameReachesTheRecordWhenTheDrainStopsBetweenItAndItsEvent) {
  // The note rides in the ring slots after its event: a drain taking one
  // slot at a time takes the note with the event all the same.
  NamesHarness h;
  answer(h, kClient, "203.0.113.9", "api.stripe.com");
  EXPECT_EQ(h.pass(0, syn(kClient, "203.0.113.9")).size(), 1u);
  EXPECT_TRUE(h.pass(0, syn(kClient, "203.0.113.77", 41001)).empty()) << "no answer: denied";
  h.settle();
  std::vector<pb::FlowRecord> recs;
  while (h.engine().drain_flows(recs, 1) == 1) {
  }
  ASSERT_EQ(recs.size(), 2u);
  const auto* start = record_of(recs, pb::FlowRecord::START);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->dns_name(), "api.stripe.com");
  const auto* denied = record_of(recs, pb::FlowRecord::DENIED);
  ASSERT_NE(denied, nullptr);
  EXPECT_EQ(denied->name_reason(), "no DNS answer seen for this address");
}

TEST(NameDecisions, WithoutAnAnswerTheAddressIsDeniedAndTheRecordSaysWhy) {
  NamesHarness h;
  EXPECT_TRUE(h.pass(0, syn(kClient, "203.0.113.9")).empty());
  EXPECT_EQ(h.drops(DropReason::policy_deny), 1u);
  const auto recs = drain(h);
  const auto* denied = record_of(recs, pb::FlowRecord::DENIED);
  ASSERT_NE(denied, nullptr);
  EXPECT_EQ(denied->rule_id(), "");
  EXPECT_EQ(denied->name_reason(), "no DNS answer seen for this address");
}

TEST(NameDecisions, AnAnswerForANameTheRuleDoesNotAllowDenies) {
  NamesHarness h;
  answer(h, kClient, "203.0.113.9", "tracker.example.org");
  EXPECT_TRUE(h.pass(0, syn(kClient, "203.0.113.9")).empty());
  const auto recs = drain(h);
  const auto* denied = record_of(recs, pb::FlowRecord::DENIED);
  ASSERT_NE(denied, nullptr);
  EXPECT_EQ(denied->dns_name(), "tracker.example.org");
  EXPECT_EQ(denied->name_reason(), "answered for tracker.example.org, not allowed");
}

TEST(NameDecisions, BindingsArePerClient) {
  NamesHarness h;
  answer(h, kClient, "203.0.113.9", "api.stripe.com");
  EXPECT_TRUE(h.pass(0, syn("10.1.0.6", "203.0.113.9")).empty()) << "another client was not answered";
  EXPECT_EQ(h.pass(0, syn(kClient, "203.0.113.9")).size(), 1u);
}

TEST(NameDecisions, AddressesStillDecideBesideNames) {
  NamesHarness h;
  EXPECT_EQ(h.pass(0, syn(kClient, "198.51.100.7")).size(), 1u);
  EXPECT_EQ(h.rule("corp").connections, 1u);
  const auto recs = drain(h);
  const auto* start = record_of(recs, pb::FlowRecord::START);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->name_reason(), "no DNS answer seen for this address") << "the name rule was in reach";
}

TEST(NameDecisions, AnExpiredBindingDeniesAfterItsGrace) {
  NamesHarness h;
  // Two addresses answered alike: 10 s of TTL + 60 s of grace each. The
  // first is tried within the grace (and its connection keeps its binding
  // alive from then on), the second after it.
  answer(h, kClient, "203.0.113.9", "api.stripe.com", 10);
  answer(h, kClient, "203.0.113.10", "api.stripe.com", 10);
  h.engine().clock().advance(65'000);
  EXPECT_EQ(h.pass(0, syn(kClient, "203.0.113.9", 41001)).size(), 1u) << "within the grace";
  h.engine().clock().advance(6'000);
  EXPECT_TRUE(h.pass(0, syn(kClient, "203.0.113.10", 41002)).empty()) << "TTL and grace are over";
}

TEST(NameDecisions, AConnectionOutlivesItsBindingAndKeepsItAlive) {
  NamesHarness h;
  answer(h, kClient, "203.0.113.9", "api.stripe.com", 5);
  const auto c = tcp_spec(kClient, "203.0.113.9", 41000, 443);
  handshake(h, c);
  // Long past TTL and grace in one step, before any sweep: the connection's
  // packets never look at the bindings.
  h.engine().clock().advance(120'000);
  auto data = c;
  data.tcp_flags = common::kTcpAck;
  data.payload_len = 100;
  EXPECT_EQ(h.pass(0, build_packet(data)).size(), 1u);
  EXPECT_EQ(h.pass(1, build_packet(reversed(data))).size(), 1u);
  // The sweep bound it again for the connection: a second connection from
  // the client to the address is allowed while the first lives.
  h.settle();
  EXPECT_EQ(h.pass(0, syn(kClient, "203.0.113.9", 41005)).size(), 1u);
  const auto recs = drain(h);
  size_t named = 0;
  for (const auto& r : recs) named += r.dns_name() == "api.stripe.com";
  EXPECT_GE(named, 2u);
}

// The sweep remembers how long a connection's binding lasts and looks at
// the table only when that nears or something was evicted: a binding given
// up for others while its connection lives is bound again at the next
// visit. (max_bindings 8: one bucket, so nine bindings evict.)
TEST(NameDecisions, ABindingEvictedWhileItsConnectionLivesIsBoundAgain) {
  std::string policy = kNamesPolicy;
  const std::string dns = "dns: { trusted: [resolvers], grace: 60 }";
  policy.replace(policy.find(dns), dns.size(), "dns: { trusted: [resolvers], grace: 60, max_bindings: 8 }");
  Harness h(policy, 1, recording);
  ASSERT_TRUE(h.loaded()) << h.error();
  answer(h, kClient, "203.0.113.9", "api.stripe.com");
  handshake(h, tcp_spec(kClient, "203.0.113.9", 41000, 443));
  h.settle();  // the sweep learns the binding's expiry
  for (int k = 0; k < 8; ++k) answer(h, kClient, "203.0.113." + std::to_string(20 + k), "api.stripe.com", 3000);
  EXPECT_EQ(h.pass(0, syn(kClient, "203.0.113.9", 41001)).size(), 0u);  // given up for the others
  h.settle();
  EXPECT_EQ(h.pass(0, syn(kClient, "203.0.113.9", 41002)).size(), 1u);  // bound again for the live connection
}

TEST(NameDecisions, AConnectionAdmittedByANameSurvivesAReload) {
  NamesHarness h;
  answer(h, kClient, "203.0.113.9", "api.stripe.com", 1);
  const auto c = tcp_spec(kClient, "203.0.113.9", 41000, 443);
  handshake(h, c);
  // The binding expires (no sweep ran), then the policy is reloaded with a
  // rule before the name rule: the connection is re-checked with the name
  // it was admitted by, not with today's bindings.
  h.engine().clock().advance(70'000);
  std::string policy = kNamesPolicy;
  policy += "  - { id: extra, from: others, to: any, proto: udp, ports: [9], action: allow }\n";
  ASSERT_TRUE(h.reload(policy));
  auto data = c;
  data.tcp_flags = common::kTcpAck;
  EXPECT_EQ(h.pass(0, build_packet(data)).size(), 1u);
  EXPECT_EQ(h.events(WorkerCounter::conn_revoked), 0u);
  EXPECT_EQ(h.events(WorkerCounter::conn_rechecked), 1u);
}

TEST(NameDecisions, Ipv6ByName) {
  NamesHarness h;
  answer(h, "fd00:1::5", "2001:db8::9", "api.stripe.com");
  EXPECT_EQ(h.pass(0, syn("fd00:1::5", "2001:db8::9")).size(), 1u);
  EXPECT_TRUE(h.pass(0, syn("fd00:1::5", "2001:db8::10")).empty());
}

TEST(NameDecisions, ABurstOfFirstPacketsIsLookedUpAgainTogether) {
  NamesHarness h;
  answer(h, kClient, "203.0.113.9", "api.stripe.com");
  answer(h, kClient, "203.0.113.10", "api.stripe.com");
  for (uint16_t p = 0; p < 8; ++p) h.send(0, syn(kClient, p % 2 ? "203.0.113.9" : "203.0.113.10", 42000 + p));
  h.send(0, syn(kClient, "203.0.113.11", 42100));
  h.run();
  EXPECT_EQ(h.received(1).size(), 8u);
  EXPECT_EQ(h.events(WorkerCounter::classify_calls), 2u) << "one first lookup, one more for the names";
}

TEST(NameDecisions, AConnectionIsReCheckedWithItsOwnNameNotWithTodaysBindings) {
  NamesHarness h;
  answer(h, kClient, "203.0.113.9", "api.stripe.com");
  handshake(h, tcp_spec(kClient, "203.0.113.9", 41000, 443));
  // The rule now names another name: the binding for api.stripe.com is
  // still alive, but the connection it admitted is no longer allowed.
  std::string policy = kNamesPolicy;
  policy.replace(policy.find("fqdn: api.stripe.com"), 20, "fqdn: api2.stripe.com");
  ASSERT_TRUE(h.reload(policy));
  auto data = tcp_spec(kClient, "203.0.113.9", 41000, 443, common::kTcpAck);
  EXPECT_TRUE(h.pass(0, build_packet(data)).empty());
  EXPECT_EQ(h.events(WorkerCounter::conn_revoked), 1u);
}

// --- per-rule mode ------------------------------------------------------------

TEST(RuleModes, AnAuditRuleWithNamesForwardsWhatItsNamesWouldDeny) {
  NamesHarness h;
  // Port 8443 reaches only the audited allow-list of *.new.example; no
  // answer was seen: the default would deny, the rule's mode forwards.
  EXPECT_EQ(h.pass(0, syn(kClient, "203.0.113.20", 41000, 8443)).size(), 1u);
  EXPECT_EQ(h.events(WorkerCounter::audit_would_drop), 1u);
  EXPECT_EQ(h.drops(DropReason::policy_deny), 0u);
  auto data = tcp_spec(kClient, "203.0.113.20", 41000, 8443, common::kTcpAck);
  EXPECT_EQ(h.pass(0, build_packet(data)).size(), 1u);
  EXPECT_EQ(h.events(WorkerCounter::audit_would_drop), 2u) << "its later packets are counted too";
  const auto recs = drain(h);
  const auto* start = record_of(recs, pb::FlowRecord::START);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->verdict(), pb::FlowRecord::WOULD_DENY);
  EXPECT_EQ(start->mode(), "audit");
  EXPECT_EQ(start->name_reason(), "no DNS answer seen for this address");
  // With an answer it is simply allowed.
  answer(h, kClient, "203.0.113.21", "a.new.example");
  EXPECT_EQ(h.pass(0, syn(kClient, "203.0.113.21", 41001, 8443)).size(), 1u);
  EXPECT_EQ(h.events(WorkerCounter::audit_would_drop), 2u);
  EXPECT_EQ(h.rule("watch").connections, 1u);
}

TEST(RuleModes, AnAuditDenyRuleForwardsItsMatchesWhileTheRestIsEnforced) {
  NamesHarness h;
  EXPECT_EQ(h.pass(0, syn(kClient, "203.0.113.9", 41000, 23)).size(), 1u);
  EXPECT_EQ(h.events(WorkerCounter::audit_would_drop), 1u);
  EXPECT_TRUE(h.pass(0, syn(kClient, "203.0.113.9", 41000, 22)).empty()) << "the default still drops";
  EXPECT_EQ(h.drops(DropReason::policy_deny), 1u);
  const auto recs = drain(h);
  const auto* start = record_of(recs, pb::FlowRecord::START);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->rule_id(), "no-telnet");
  EXPECT_EQ(start->verdict(), pb::FlowRecord::WOULD_DENY);
  EXPECT_EQ(start->mode(), "audit");
}

// --- server names -------------------------------------------------------------

// *.github.com on 443, over TLS and QUIC, anywhere on the internet.
constexpr const char* kSniPolicy = R"(version: 1
defaults: { action: deny, mode: enforce }
segments:
  clients: [10.1.0.0/16]
tls: { hello_packets: 4, hello_ms: 3000%s }
rules:
  - { id: no-evil, from: clients, to: [internet, sni: "*.evil.example"], proto: tcp, ports: [443], action: deny }
  - { id: gh, from: clients, to: [internet, sni: "*.github.com"], proto: tcp, ports: [443], action: allow }
  - { id: gh-quic, from: clients, to: [internet, sni: "*.github.com"], proto: udp, ports: [443], action: allow }
)";

std::string sni_policy(const std::string& tls = "") {
  std::string p = kSniPolicy;
  p.replace(p.find("%s"), 2, tls);
  return p;
}

// Resets only where a case asks for them: the others count forwarded frames.
struct SniHarness : Harness {
  explicit SniHarness(const std::string& tls = "")
      : Harness(sni_policy(tls.find("reset") == std::string::npos ? tls + ", reset: false" : tls), 1, recording) {
    EXPECT_TRUE(loaded()) << error();
  }
};

constexpr const char* kServer = "203.0.113.9";
constexpr uint32_t kIsn = 1000;

PacketSpec client_segment(uint32_t offset, std::vector<uint8_t> payload, uint16_t sport = 41000) {
  PacketSpec s = tcp_spec(kClient, kServer, sport, 443, common::kTcpAck | common::kTcpPsh);
  s.tcp_seq = kIsn + 1 + offset;
  s.payload = std::move(payload);
  return s;
}

// The handshake of a connection to kServer:443 from `sport`, all forwarded.
void open_tls(Harness& h, uint16_t sport = 41000) {
  PacketSpec c = tcp_spec(kClient, kServer, sport, 443);
  c.tcp_seq = kIsn;
  handshake(h, c);
}

// The ClientHello's TLS records, cut into `pieces` segments.
std::vector<std::vector<uint8_t>> hello_pieces(const HelloSpec& spec, size_t pieces) {
  const auto stream = tls_records(build_client_hello(spec));
  std::vector<std::vector<uint8_t>> out;
  const size_t step = (stream.size() + pieces - 1) / pieces;
  for (size_t at = 0; at < stream.size(); at += step)
    out.emplace_back(stream.begin() + at, stream.begin() + std::min(stream.size(), at + step));
  return out;
}

// Sends the pieces in order from offset 0; how many were forwarded.
size_t send_hello(Harness& h, const std::vector<std::vector<uint8_t>>& pieces, uint16_t sport = 41000) {
  size_t forwarded = 0;
  uint32_t offset = 0;
  for (const auto& p : pieces) {
    forwarded += h.pass(0, build_packet(client_segment(offset, p, sport))).size();
    offset += static_cast<uint32_t>(p.size());
  }
  return forwarded;
}

TEST(ServerNames, AnAllowedNameAcrossSegmentsLetsTheConnectionOn) {
  SniHarness h;
  open_tls(h);
  EXPECT_EQ(h.events(WorkerCounter::hello_waiting), 1u);
  const auto pieces = hello_pieces({.sni = "api.github.com"}, 3);
  EXPECT_EQ(send_hello(h, pieces), 3u);
  EXPECT_EQ(h.events(WorkerCounter::hello_allowed), 1u);
  uint32_t after = 0;
  for (const auto& p : pieces) after += static_cast<uint32_t>(p.size());
  EXPECT_EQ(h.pass(0, build_packet(client_segment(after, {1, 2, 3}))).size(), 1u);
  EXPECT_EQ(h.pass(1, build_packet(reversed(client_segment(0, {4, 5})))).size(), 1u);
  h.engine().clock().advance(7'201'000);
  const auto recs = drain(h);
  const auto* end = record_of(recs, pb::FlowRecord::END);
  ASSERT_NE(end, nullptr);
  EXPECT_EQ(end->rule_id(), "gh");
  EXPECT_EQ(end->sni(), "api.github.com");
  EXPECT_EQ(end->name_reason(), "");
}

TEST(ServerNames, ANameNotAllowedIsCutOnTheSegmentThatCompletesIt) {
  SniHarness h;
  open_tls(h);
  const auto pieces = hello_pieces({.sni = "evil.example"}, 3);
  EXPECT_EQ(send_hello(h, pieces), 2u) << "the pieces before the last are only ClientHello";
  EXPECT_EQ(h.events(WorkerCounter::hello_cut), 1u);
  EXPECT_EQ(h.drops(DropReason::sni_cut), 1u);
  EXPECT_TRUE(h.pass(0, build_packet(client_segment(4000, {1}))).empty());
  EXPECT_TRUE(h.pass(1, build_packet(reversed(client_segment(0, {1})))).empty()) << "both ways";
  EXPECT_EQ(h.drops(DropReason::sni_cut), 3u);
  // Its record, when it ends, names the server name that cut it.
  h.engine().clock().advance(7'201'000);
  const auto recs = drain(h);
  const auto* end = record_of(recs, pb::FlowRecord::END);
  ASSERT_NE(end, nullptr);
  EXPECT_EQ(end->sni(), "evil.example");
  EXPECT_EQ(end->name_reason(), "server name evil.example, not allowed");
}

TEST(ServerNames, SegmentsPastAGapWaitForTheDecision) {
  SniHarness h;
  open_tls(h);
  const auto pieces = hello_pieces({.sni = "api.github.com"}, 2);
  EXPECT_TRUE(h.pass(0, build_packet(client_segment(static_cast<uint32_t>(pieces[0].size()), pieces[1]))).empty());
  EXPECT_EQ(h.drops(DropReason::hello_held), 1u);
  // The first piece joins the held one: the ClientHello is whole, allowed.
  EXPECT_EQ(h.pass(0, build_packet(client_segment(0, pieces[0]))).size(), 1u);
  EXPECT_EQ(h.events(WorkerCounter::hello_allowed), 1u);
  EXPECT_EQ(h.pass(0, build_packet(client_segment(static_cast<uint32_t>(pieces[0].size()), pieces[1]))).size(), 1u)
      << "its retransmission leaves";
}

TEST(ServerNames, AClientHelloInTheSynIsJudgedThere) {
  SniHarness h;
  for (const char* name : {"api.github.com", "evil.example"}) {
    PacketSpec s = tcp_spec(kClient, kServer, name[0] == 'a' ? 41000 : 41001, 443);
    s.tcp_seq = kIsn;
    s.payload = tls_records(build_client_hello({.sni = std::string(name)}));
    EXPECT_EQ(h.pass(0, build_packet(s)).size(), name[0] == 'a' ? 1u : 0u) << name;
  }
  EXPECT_EQ(h.events(WorkerCounter::hello_allowed), 1u);
  EXPECT_EQ(h.events(WorkerCounter::hello_cut), 1u);
}

std::vector<uint8_t> initial(uint32_t version, const HelloSpec& spec) {
  InitialSpec i;
  i.version = version;
  i.frames = crypto_frame(build_client_hello(spec));
  return protect_initial(i);
}

TEST(ServerNames, QuicInitialsOfBothVersionsAreJudged) {
  SniHarness h;
  uint16_t sport = 50000;
  for (uint32_t version : {dataplane::names::kQuicV1, dataplane::names::kQuicV2}) {
    for (const char* name : {"api.github.com", "evil.example"}) {
      PacketSpec s = udp_spec(kClient, kServer, sport++, 443);
      s.payload = initial(version, {.sni = std::string(name)});
      EXPECT_EQ(h.pass(0, build_packet(s)).size(), name[0] == 'a' ? 1u : 0u) << name << " v" << version;
    }
  }
  EXPECT_EQ(h.events(WorkerCounter::hello_allowed), 2u);
  EXPECT_EQ(h.events(WorkerCounter::hello_cut), 2u);
}

TEST(ServerNames, EchIsJudgedByTheOuterNameOrCutAsThePolicySays) {
  {
    SniHarness h;
    open_tls(h);
    EXPECT_EQ(send_hello(h, hello_pieces({.sni = "public.github.com", .ech = true}, 1)), 1u);
    EXPECT_EQ(h.events(WorkerCounter::hello_allowed), 1u);
  }
  SniHarness h(", ech: deny");
  open_tls(h);
  EXPECT_EQ(send_hello(h, hello_pieces({.sni = "public.github.com", .ech = true}, 1)), 0u);
  EXPECT_EQ(h.events(WorkerCounter::hello_cut), 1u);
}

TEST(ServerNames, NoServerNameFollowsThePolicy) {
  {
    SniHarness h;
    open_tls(h);
    EXPECT_EQ(send_hello(h, hello_pieces({.sni = std::nullopt}, 1)), 0u) << "no_sni: deny by default";
  }
  SniHarness h(", no_sni: allow");
  open_tls(h);
  EXPECT_EQ(send_hello(h, hello_pieces({.sni = std::nullopt}, 1)), 1u);
}

TEST(ServerNames, NoClientHelloInTimeFollowsThePolicy) {
  {
    // Not TLS at all: decided at once.
    SniHarness h;
    open_tls(h);
    const std::string get = "GET / HTTP/1.1\r\n";
    EXPECT_TRUE(h.pass(0, build_packet(client_segment(0, {get.begin(), get.end()}))).empty());
    EXPECT_EQ(h.events(WorkerCounter::hello_cut), 1u);
  }
  {
    // A ClientHello that does not end within hello_packets segments.
    SniHarness h;
    open_tls(h);
    EXPECT_EQ(send_hello(h, hello_pieces({.sni = "api.github.com", .padding = 600}, 6)), 3u);
    EXPECT_EQ(h.events(WorkerCounter::hello_cut), 1u);
  }
  {
    // Nor within hello_ms; with timeout: allow, it goes on.
    SniHarness h(", timeout: allow");
    open_tls(h);
    const auto pieces = hello_pieces({.sni = "evil.example"}, 2);
    EXPECT_EQ(h.pass(0, build_packet(client_segment(0, pieces[0]))).size(), 1u);
    h.engine().clock().advance(3'500);
    EXPECT_EQ(h.pass(0, build_packet(client_segment(0, pieces[0]))).size(), 1u);
    EXPECT_EQ(h.events(WorkerCounter::hello_allowed), 1u);
  }
}

TEST(ServerNames, ADenyRuleWithANameWaitsForTheNameToo) {
  SniHarness h(", no_sni: allow");
  open_tls(h);  // the deny rule is the first one found: the SYN still passes, provisionally
  EXPECT_EQ(send_hello(h, hello_pieces({.sni = "www.evil.example"}, 1)), 0u);
  open_tls(h, 41001);
  EXPECT_EQ(send_hello(h, hello_pieces({.sni = "api.github.com"}, 1), 41001), 1u);
  EXPECT_EQ(h.rule("no-evil").connections, 2u) << "both were let in provisionally by it";
  EXPECT_EQ(h.events(WorkerCounter::hello_cut), 1u);
  EXPECT_EQ(h.events(WorkerCounter::hello_allowed), 1u);
}

bool is_reset_of(const Frame& f, const std::string& src, const std::string& dst, uint32_t seq) {
  PacketMeta m;
  dataplane::parse_packet(f.data(), static_cast<uint32_t>(f.size()), m);
  uint8_t s[4], d[4];
  inet_pton(AF_INET, src.c_str(), s);
  inet_pton(AF_INET, dst.c_str(), d);
  const uint8_t* tcp = f.data() + m.l4_offset;
  const uint32_t got = uint32_t{tcp[4]} << 24 | uint32_t{tcp[5]} << 16 | uint32_t{tcp[6]} << 8 | tcp[7];
  return m.kind == dataplane::PacketKind::ip && m.tuple.proto == common::kProtoTcp &&
         m.tcp_flags == common::kTcpRst && std::memcmp(m.tuple.src, s, 4) == 0 && std::memcmp(m.tuple.dst, d, 4) == 0 &&
         got == seq;
}

TEST(ServerNames, ACutConnectionsEndsAreReset) {
  const auto pieces = hello_pieces({.sni = "evil.example"}, 1);
  const Frame seg = build_packet(client_segment(0, pieces[0]));
  {
    SniHarness h(", reset: true");
    open_tls(h);
    h.send(0, seg);
    h.run();
    const auto to_server = h.received(1);
    const auto to_client = h.received(0);
    ASSERT_EQ(to_server.size(), 1u);
    ASSERT_EQ(to_client.size(), 1u);
    EXPECT_TRUE(is_reset_of(to_server[0], kClient, kServer, kIsn + 1)) << "in place of the segment";
    EXPECT_TRUE(is_reset_of(to_client[0], kServer, kClient, 0x02020202)) << "at what the client acknowledged";
    EXPECT_EQ(h.events(WorkerCounter::resets_sent), 2u);
  }
  SniHarness quiet(", reset: false");
  open_tls(quiet);
  quiet.send(0, seg);
  quiet.run();
  EXPECT_TRUE(quiet.received(1).empty());
  EXPECT_TRUE(quiet.received(0).empty());
}

TEST(ServerNames, AMismatchWithTheClientsAnswersFollowsThePolicy) {
  SniHarness h(", mismatch: deny");
  // The client was answered kServer for another name: api.github.com is not
  // believed there.
  answer(h, kClient, kServer, "cdn.example.net");
  open_tls(h);
  EXPECT_EQ(send_hello(h, hello_pieces({.sni = "api.github.com"}, 1)), 0u);
  EXPECT_EQ(h.events(WorkerCounter::hello_cut), 1u);
  // Answered for the name it asks: allowed.
  answer(h, kClient, kServer, "api.github.com");
  open_tls(h, 41001);
  EXPECT_EQ(send_hello(h, hello_pieces({.sni = "api.github.com"}, 1), 41001), 1u);
  EXPECT_EQ(h.events(WorkerCounter::hello_allowed), 1u);
}

TEST(ServerNames, AnAuditRuleWithANameForwardsWhatItsNameWouldCut) {
  SniHarness h;
  std::string policy = sni_policy(", reset: false");
  policy.replace(policy.find("ports: [443], action: allow }"), 29, "ports: [443], action: allow, mode: audit }");
  policy.erase(policy.find("  - { id: no-evil"), policy.find("  - { id: gh,") - policy.find("  - { id: no-evil"));
  ASSERT_TRUE(h.reload(policy));
  open_tls(h);
  EXPECT_EQ(send_hello(h, hello_pieces({.sni = "other.example"}, 1)), 1u);
  EXPECT_EQ(h.events(WorkerCounter::hello_allowed), 1u) << "let go on, as audit says";
  EXPECT_GE(h.events(WorkerCounter::audit_would_drop), 1u);
}

}  // namespace
}  // namespace bulkhead::test
