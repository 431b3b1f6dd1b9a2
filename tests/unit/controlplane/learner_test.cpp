// The learner on crafted flow aggregates: evidence thresholds, scan-like
// sources, denied flows, service-side grouping and naming, inventories,
// public services, and that every proposal is a valid policy that allows
// what was learned and nothing else.
#include <gtest/gtest.h>

#include "controlplane/flows/record.h"
#include "controlplane/learn/learner.h"
#include "rules/load.h"
#include "rules/match.h"
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
  EXPECT_NE(p.policy.find("to: [203.0.113.10]"), std::string::npos) << p.policy;
  EXPECT_EQ(p.policy.find("internet"), std::string::npos);
  EXPECT_FALSE(allows(p, "10.0.2.1", "203.0.113.11", 6, 443));
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
  EXPECT_NE(p.policy.find("from: frontend, to: backend"), std::string::npos) << p.policy;
  EXPECT_NE(p.policy.find("from: backend, to: backend"), std::string::npos) << p.policy;
  EXPECT_NE(p.policy.find("from: [10.0.7.7], to: dns"), std::string::npos) << p.policy;
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

TEST(Learner, NoFlowsIsAnEmptyDenyPolicy) {
  const auto p = propose({}, nullptr, {});
  EXPECT_EQ(p.rules, 0u);
  EXPECT_NE(p.policy.find("rules: []"), std::string::npos);
  EXPECT_FALSE(format_report(p).empty());
}

}  // namespace
}  // namespace bulkhead::learn
