// The learner on crafted flow aggregates: evidence thresholds, exact
// evidence (distinct clients; unanswered attempts never learned), scan-like
// sources, denied flows, service-side grouping and naming, inventories,
// public services, and that every proposal is a valid policy in canonical
// form that allows what was learned and nothing else.
#include <gtest/gtest.h>

#include <set>

#include "controlplane/flows/record.h"
#include "controlplane/learn/learner.h"
#include "rules/format.h"
#include "rules/load.h"
#include "rules/match.h"
#include "rules/parser.h"
#include "rules/prefix.h"
#include "tests/common/temp_dir.h"

namespace bulkhead::controlplane::learn {
namespace {

constexpr int64_t kT0 = 1'790'000'000'000;

pb::FlowAggregate flow(const std::string& src, const std::string& dst, uint32_t proto, uint32_t port,
                       uint64_t flows = 5) {
  pb::FlowAggregate a;
  std::string s, d;
  EXPECT_TRUE(flows::parse_address(src, s)) << src;
  EXPECT_TRUE(flows::parse_address(dst, d)) << dst;
  a.set_src(s);
  a.set_dst(d);
  a.set_protocol(proto);
  a.set_dst_port(port);
  a.set_src_port(proto == 1 ? 8 : 45000);
  a.set_flows(flows);
  a.set_allowed(flows);
  a.set_learnable(flows);
  a.set_answered(flows);
  a.set_packets(flows * 6);
  a.set_first_ms(kT0);
  a.set_last_ms(kT0 + 3'600'000);
  return a;
}

// The proposal parsed back into the policy model.
rules::Policy parsed(const Proposal& p) {
  auto r = rules::parse_policy(p.policy, "proposal");
  EXPECT_TRUE(r.ok()) << p.policy;
  return r.ok() ? *r.value : rules::Policy{};
}

// The texts of a side of the rule allowing `port` (empty when none does).
std::vector<std::string> side_of(const Proposal& p, uint16_t port, bool from) {
  for (const auto& r : parsed(p).rules)
    for (const auto& range : r.ports)
      if (range.lo <= port && port <= range.hi) {
        std::vector<std::string> v;
        for (const auto& it : from ? r.from : r.to) v.push_back(it.text);
        return v;
      }
  return {};
}

// The description of the rule allowing `port`.
std::string description_of(const Proposal& p, uint16_t port) {
  for (const auto& r : parsed(p).rules)
    for (const auto& range : r.ports)
      if (range.lo <= port && port <= range.hi) return r.description;
  return {};
}

// The verdict of the proposal for one flow, by the reference matcher.
bool allows(const Proposal& p, const std::string& src, const std::string& dst, uint8_t proto, uint16_t port) {
  auto compiled = rules::load_policy(p.policy, "proposal");
  EXPECT_TRUE(compiled.ok());
  rules::Tuple t;
  EXPECT_TRUE(rules::parse_address(src, t.family, t.src));
  EXPECT_TRUE(rules::parse_address(dst, t.family, t.dst));
  t.proto = proto;
  t.sport = proto == 1 ? 8 : 45000;
  t.dport = proto == 1 ? 0 : port;
  const int i = rules::match_first(*compiled.value, t, kT0 / 1000);
  return i >= 0 && compiled.value->rules(i).action() == pb::ACTION_ALLOW;
}

std::vector<pb::FlowAggregate> three_tier() {
  std::vector<pb::FlowAggregate> v;
  for (int w = 1; w <= 3; ++w)
    for (int a = 1; a <= 2; ++a) v.push_back(flow("10.0.1." + std::to_string(w), "10.0.2." + std::to_string(a), 6, 8080));
  for (int a = 1; a <= 2; ++a) v.push_back(flow("10.0.2." + std::to_string(a), "10.0.3.1", 6, 5432, 20));
  for (int c = 1; c <= 20; ++c)
    for (int w = 1; w <= 3; ++w) v.push_back(flow("198.51.100." + std::to_string(c), "10.0.1." + std::to_string(w), 6, 443, 2));
  return v;
}

TEST(Learner, LearnsEachServiceAndDeniesTheRest) {
  const auto p = propose(three_tier(), nullptr, {});
  EXPECT_EQ(p.rules, 3u);
  EXPECT_TRUE(allows(p, "10.0.1.2", "10.0.2.1", 6, 8080));
  EXPECT_TRUE(allows(p, "10.0.2.2", "10.0.3.1", 6, 5432));
  EXPECT_TRUE(allows(p, "198.51.100.77", "10.0.1.3", 6, 443));  // a public service: new clients too
  EXPECT_FALSE(allows(p, "10.0.1.2", "10.0.3.1", 6, 5432));      // web never talked to db
  EXPECT_FALSE(allows(p, "10.0.2.1", "10.0.1.1", 6, 8080));      // not the other way round
  EXPECT_FALSE(allows(p, "10.0.1.2", "10.0.2.1", 6, 8081));      // not another port
  EXPECT_FALSE(allows(p, "198.51.100.77", "10.0.3.1", 6, 5432)); // the internet reaches only web
  EXPECT_NE(p.policy.find("defaults: { action: deny"), std::string::npos);
}

TEST(Learner, GroupsServersByWhatTheyOfferAndNamesThem) {
  const auto p = propose(three_tier(), nullptr, {});
  std::map<std::string, SegmentReport> by_name;
  for (const auto& s : p.segments) by_name[s.name] = s;
  ASSERT_TRUE(by_name.count("https")) << p.policy;
  ASSERT_TRUE(by_name.count("http-alt")) << p.policy;
  ASSERT_TRUE(by_name.count("postgres")) << p.policy;
  EXPECT_EQ(by_name["https"].hosts, 3u);
  EXPECT_EQ(by_name["https"].cidrs, std::vector<std::string>{"10.0.1.0/24"});
  EXPECT_EQ(by_name["postgres"].cidrs, std::vector<std::string>{"10.0.3.1"});  // one host: not widened
  LearnOptions exact;
  exact.subnets = false;
  const auto q = propose(three_tier(), nullptr, exact);
  for (const auto& s : q.segments) {
    if (s.name == "https") {
      EXPECT_EQ(s.cidrs.size(), 3u);
    }
  }
}

TEST(Learner, RequiresEvidenceBeforeARule) {
  auto v = three_tier();
  v.push_back(flow("10.0.1.1", "10.0.3.1", 6, 22, 2));
  LearnOptions opt;
  opt.min_flows = 3;
  auto p = propose(v, nullptr, opt);
  EXPECT_FALSE(allows(p, "10.0.1.1", "10.0.3.1", 6, 22));
  EXPECT_EQ(p.flows_below_threshold, 2u);
  bool reported = false;
  for (const auto& l : p.not_learned) reported |= l.find(":22: 2 connections") != std::string::npos;
  EXPECT_TRUE(reported);
  opt.min_flows = 2;
  p = propose(v, nullptr, opt);
  EXPECT_TRUE(allows(p, "10.0.1.1", "10.0.3.1", 6, 22));
}

TEST(Learner, ScanLikeSourcesAreReportedNotLearned) {
  auto v = three_tier();
  for (uint32_t port = 1000; port < 1100; ++port) {  // SYNs to 100 ports, reset
    auto a = flow("10.0.1.3", "10.0.3.1", 6, port, 1);
    a.set_answered(0);
    v.push_back(a);
  }
  const auto p = propose(v, nullptr, {});
  EXPECT_EQ(p.flows_scan, 100u + 10u);  // its web-tier flows too: nothing learned from a scanner
  EXPECT_FALSE(allows(p, "10.0.1.3", "10.0.3.1", 6, 1050));
  ASSERT_FALSE(p.not_learned.empty());
  EXPECT_NE(p.not_learned[0].find("10.0.1.3: scan-like"), std::string::npos);
  EXPECT_TRUE(allows(p, "10.0.1.3", "10.0.2.1", 6, 8080));  // its peers' evidence still counts for its group
}

TEST(Learner, FlowsDeniedInEnforceModeAreNeverLearned) {
  auto v = three_tier();
  auto denied = flow("10.0.2.1", "10.0.1.1", 6, 22, 50);
  denied.set_allowed(0);
  denied.set_denied(50);
  denied.set_learnable(0);
  v.push_back(denied);
  const auto p = propose(v, nullptr, {});
  EXPECT_FALSE(allows(p, "10.0.2.1", "10.0.1.1", 6, 22));
  EXPECT_EQ(p.flows_denied, 50u);
}

TEST(Learner, NeverProposesAnyPort) {
  std::vector<pb::FlowAggregate> v;
  for (uint32_t port = 30000; port < 30040; ++port) v.push_back(flow("10.0.5.1", "10.0.6.1", 6, port, 3));
  v.push_back(flow("10.0.5.1", "10.0.6.1", 6, 8000, 3));
  const auto p = propose(v, nullptr, {});
  EXPECT_NE(p.policy.find("ports: [8000, \"30000-30039\"]"), std::string::npos) << p.policy;
  EXPECT_FALSE(allows(p, "10.0.5.1", "10.0.6.1", 6, 30040));
}

TEST(Learner, FewExternalPeersStayIndividualAddresses) {
  std::vector<pb::FlowAggregate> v;
  v.push_back(flow("10.0.2.1", "203.0.113.10", 6, 443, 30));
  v.push_back(flow("10.0.2.2", "203.0.113.10", 6, 443, 30));
  const auto p = propose(v, nullptr, {});
  EXPECT_EQ(side_of(p, 443, false), std::vector<std::string>{"203.0.113.10"}) << p.policy;
  EXPECT_EQ(p.policy.find("internet"), std::string::npos);
  EXPECT_FALSE(allows(p, "10.0.2.1", "203.0.113.11", 6, 443));
}

TEST(Learner, DestinationsDnsNamedAreLearnedByNameNotByAddress) {
  std::vector<pb::FlowAggregate> v;
  // 20 public servers, 18 of them named by DNS answers (one address for two
  // names), two not: the named ones become rules by name, the rest stay
  // addresses, and the resolver the clients asked is trusted.
  for (int i = 0; i < 20; ++i) {
    for (const char* client : {"10.0.2.1", "10.0.2.2"}) {
      auto a = flow(client, "198.51.100." + std::to_string(10 + i), 6, 443, 3);
      if (i < 17) a.add_dns_names("s" + std::to_string(i) + ".example.com");
      if (i == 17) {
        a.add_dns_names("a.cdn.example.net");
        a.add_dns_names("b.cdn.example.net");
      }
      v.push_back(a);
    }
  }
  v.push_back(flow("10.0.2.1", "10.0.9.53", 17, 53, 40));
  v.push_back(flow("10.0.2.2", "10.0.9.53", 17, 53, 40));
  const auto p = propose(v, nullptr, {});
  const auto policy = parsed(p);
  size_t by_name = 0;
  std::set<std::string> names;
  for (const auto& r : policy.rules)
    for (const auto& it : r.to)
      if (it.kind == rules::AddressItem::Kind::fqdn) {
        ++by_name;
        names.insert(it.pattern.text());
      }
  EXPECT_EQ(by_name, 19u) << p.policy;
  EXPECT_TRUE(names.count("a.cdn.example.net") && names.count("b.cdn.example.net") && names.count("s0.example.com"));
  EXPECT_EQ(p.policy.find("internet"), std::string::npos) << p.policy;
  EXPECT_EQ(p.policy.find("198.51.100.10,"), std::string::npos) << p.policy;
  EXPECT_NE(p.policy.find("198.51.100.28"), std::string::npos) << p.policy;  // unnamed: by address
  ASSERT_EQ(policy.dns.trusted.size(), 1u) << p.policy;
  EXPECT_EQ(policy.dns.trusted[0].text, "10.0.9.53");
}

TEST(Learner, UsesTheInventorysSegments) {
  test::TempDir dir;
  const std::string inv = dir.file("inventory.yaml",
                                   "segments:\n  frontend: [10.0.1.0/24]\n  backend: [10.0.2.0/23]\n  dns: 10.0.9.53\n");
  auto compiled = rules::load_inventory_file(inv);
  ASSERT_TRUE(compiled.ok());
  auto v = three_tier();
  v.push_back(flow("10.0.3.1", "10.0.9.53", 17, 53, 10));
  v.push_back(flow("10.0.7.7", "10.0.9.53", 17, 53, 10));  // outside every inventory segment
  const auto p = propose(v, &*compiled.value, {});
  EXPECT_EQ(side_of(p, 8080, true), std::vector<std::string>{"frontend"}) << p.policy;
  EXPECT_EQ(side_of(p, 8080, false), std::vector<std::string>{"backend"}) << p.policy;
  EXPECT_EQ(side_of(p, 5432, true), std::vector<std::string>{"backend"}) << p.policy;
  EXPECT_EQ(side_of(p, 53, true), std::vector<std::string>{"10.0.7.7"}) << p.policy;
  EXPECT_EQ(side_of(p, 53, false), std::vector<std::string>{"dns"}) << p.policy;
  EXPECT_TRUE(allows(p, "10.0.1.200", "10.0.3.7", 6, 8080));  // any frontend host to any backend host
  EXPECT_FALSE(allows(p, "10.0.7.8", "10.0.9.53", 17, 53));
}

TEST(Learner, InventoryErrorsCarryTheirLocation) {
  test::TempDir dir;
  auto r = rules::load_inventory_file(dir.file("inv.yaml", "segments:\n  web: [10.0.1.5/24]\nrules: []\n"));
  ASSERT_FALSE(r.ok());
  std::string all;
  for (const auto& d : r.diagnostics) all += d.str() + "\n";
  EXPECT_NE(all.find("inv.yaml:2:"), std::string::npos) << all;
  EXPECT_NE(all.find("inv.yaml:3:1: error: unknown key 'rules'"), std::string::npos) << all;
  EXPECT_FALSE(rules::load_inventory_file(dir.file("inv2.yaml", "[1, 2]\n")).ok());
}

TEST(Learner, IcmpEchoAndIpv6AreLearnedToo) {
  std::vector<pb::FlowAggregate> v;
  v.push_back(flow("10.0.4.1", "10.0.4.2", 1, 0, 5));
  v.push_back(flow("fd00:1::5", "fd00:2::9", 6, 443, 5));
  const auto p = propose(v, nullptr, {});
  EXPECT_NE(p.policy.find("icmp_types: [echo-request]"), std::string::npos) << p.policy;
  EXPECT_TRUE(allows(p, "10.0.4.1", "10.0.4.2", 1, 0));
  EXPECT_TRUE(allows(p, "fd00:1::5", "fd00:2::9", 6, 443));
  EXPECT_FALSE(allows(p, "fd00:2::9", "fd00:1::5", 6, 443));
}

TEST(Learner, ClientsCountsDistinctClientAddresses) {
  // 50 hosts each use ports 22 and 5432 of one server: one rule, 50
  // clients (not 100: one per host and port).
  std::vector<pb::FlowAggregate> v;
  for (int h = 1; h <= 50; ++h)
    for (uint32_t port : {22u, 5432u}) v.push_back(flow("10.0.1." + std::to_string(h), "10.0.2.9", 6, port, 4));
  const auto p = propose(v, nullptr, {});
  ASSERT_EQ(p.rules, 1u) << p.policy;
  const std::string d = description_of(p, 5432);
  EXPECT_NE(d.find("400 connections, 50 clients, 1 server"), std::string::npos) << d;
}

TEST(Learner, AttemptsNeverAnsweredAreReportedNotLearned) {
  auto v = three_tier();
  // 200 SYNs to tcp/22 that no server answered: each ended unanswered.
  auto ssh = flow("10.0.1.1", "10.0.3.1", 6, 22, 200);
  ssh.set_answered(0);
  ssh.set_unanswered(200);
  v.push_back(ssh);
  const auto p = propose(v, nullptr, {});
  EXPECT_FALSE(allows(p, "10.0.1.1", "10.0.3.1", 6, 22)) << p.policy;
  EXPECT_EQ(p.flows_unanswered, 200u);
  EXPECT_EQ(p.flows_used + p.flows_unanswered + p.flows_below_threshold + p.flows_scan + p.flows_denied, p.flows_total);
  bool reported = false;
  for (const auto& l : p.not_learned) reported |= l.find(":22: 200 attempts never answered") != std::string::npos;
  EXPECT_TRUE(reported) << format_report(p);
  EXPECT_NE(format_report(p).find("200 attempts never answered"), std::string::npos);
  // The unanswered attempts are no evidence for the host's group either:
  // the database still offers only postgres.
  EXPECT_EQ(p.segments.size(), 3u);
}

TEST(Learner, OnlyTheAnsweredPartOfAServiceIsEvidence) {
  auto v = three_tier();
  auto mixed = flow("10.0.1.1", "10.0.3.1", 6, 443, 10);
  mixed.set_answered(2);
  mixed.set_unanswered(8);
  v.push_back(mixed);
  LearnOptions opt;
  opt.min_flows = 3;
  const auto p = propose(v, nullptr, opt);
  EXPECT_FALSE(allows(p, "10.0.1.1", "10.0.3.1", 6, 443)) << "2 answered of 10: below the threshold of 3";
  EXPECT_EQ(p.flows_unanswered, 8u);
  EXPECT_EQ(p.flows_below_threshold, 2u);
}

TEST(Learner, SilenceIsNoRefusalForOneWayUdp) {
  std::vector<pb::FlowAggregate> v;
  for (int h = 1; h <= 3; ++h) {
    auto syslog = flow("10.0.1." + std::to_string(h), "10.0.9.5", 17, 514, 20);
    syslog.set_answered(0);
    syslog.set_unanswered(20);  // syslog never answers
    v.push_back(syslog);
  }
  const auto p = propose(v, nullptr, {});
  EXPECT_TRUE(allows(p, "10.0.1.2", "10.0.9.5", 17, 514)) << p.policy;
  EXPECT_EQ(p.flows_unanswered, 0u);
}

TEST(Learner, TheProposalIsInCanonicalFormWithItsEvidence) {
  test::TempDir dir;
  const std::string inv = dir.file("inventory.yaml", "segments:\n  frontend: [10.0.1.0/24]\n  backend: [10.0.2.0/23]\n");
  auto compiled = rules::load_inventory_file(inv);
  ASSERT_TRUE(compiled.ok());
  const pb::CompiledRuleSet* inventories[] = {nullptr, &*compiled.value};
  for (const pb::CompiledRuleSet* inventory : inventories) {
    LearnOptions opt;
    opt.mode = "audit";
    opt.source_note = "a test";
    const auto p = propose(three_tier(), inventory, opt);
    // What `bulkhead policy fmt` would write is what the learner wrote.
    auto pol = parsed(p);
    pol.source_text = p.policy;
    EXPECT_EQ(rules::format_policy(pol), p.policy);
    EXPECT_EQ(pol.mode, rules::PolicyMode::audit);
    EXPECT_EQ(p.policy.rfind("# Proposed by bulkhead learn from a test.", 0), 0u) << p.policy;
    for (const auto& r : pol.rules) {
      EXPECT_EQ(r.action, rules::Action::allow);
      EXPECT_EQ(r.description.rfind("learned: ", 0), 0u) << r.description;
    }
  }
}

TEST(Learner, NoFlowsIsAnEmptyDenyPolicy) {
  const auto p = propose({}, nullptr, {});
  EXPECT_EQ(p.rules, 0u);
  EXPECT_NE(p.policy.find("rules: []"), std::string::npos);
  EXPECT_FALSE(format_report(p).empty());
}

}  // namespace
}  // namespace bulkhead::learn
