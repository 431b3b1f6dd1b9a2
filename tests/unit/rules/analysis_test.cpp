// The analysis on constructed policies with known answers.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "rules/analysis.h"
#include "rules/load.h"

namespace bulkhead::rules {
namespace {

std::vector<Finding> run(const std::string& rules_yaml, const std::string& extra = "", int64_t now = 1000) {
  const std::string text = "version: 1\ndefaults: { action: deny }\nsegments:\n"
                           "  web: [10.0.1.0/24, \"fd00:1::/64\"]\n"
                           "  db: [10.0.2.0/24, \"fd00:2::/64\"]\n" +
                           extra + "rules:\n" + rules_yaml;
  auto r = load_policy(text, "p.yaml");
  EXPECT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : r.diagnostics[0].str());
  AnalysisOptions opt;
  opt.now_unix = now;
  return analyse(*r.value, opt);
}

std::vector<const Finding*> of(const std::vector<Finding>& f, Finding::Kind k) {
  std::vector<const Finding*> out;
  for (const auto& x : f)
    if (x.kind == k) out.push_back(&x);
  return out;
}

TEST(Analysis, ShadowedBySameActionIsAWarning) {
  const auto f = run("  - { id: a, from: web, to: db, proto: tcp, ports: [\"1-1000\"], action: allow }\n"
                     "  - { id: b, from: 10.0.1.5, to: db, proto: tcp, ports: [22], action: allow }\n");
  const auto s = of(f, Finding::Kind::shadowed);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->severity, Finding::Severity::warning);
  EXPECT_EQ(s[0]->rules, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(s[0]->lines[0], 8u);
  EXPECT_EQ(s[0]->lines[1], 7u);
}

TEST(Analysis, ShadowedByTheOppositeActionIsAnError) {
  const auto f = run("  - { id: deny-all-db, to: db, action: deny }\n"
                     "  - { id: web-db, from: web, to: db, proto: tcp, ports: [5432], action: allow }\n");
  const auto s = of(f, Finding::Kind::shadowed);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->severity, Finding::Severity::error);
  EXPECT_EQ(s[0]->rules[0], "web-db");
  ASSERT_FALSE(s[0]->examples.empty());
}

TEST(Analysis, ShadowedByTheUnionOfSeveralPortRanges) {
  const auto f = run("  - { id: low, from: web, to: db, proto: tcp, ports: [\"1-100\"], action: allow }\n"
                     "  - { id: high, from: web, to: db, proto: tcp, ports: [\"101-200\"], action: allow }\n"
                     "  - { id: mid, from: web, to: db, proto: tcp, ports: [\"50-150\"], action: allow }\n"
                     "  - { id: wider, from: web, to: db, proto: tcp, ports: [\"50-201\"], action: allow }\n");
  const auto s = of(f, Finding::Kind::shadowed);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->rules, (std::vector<std::string>{"mid", "low", "high"}));
}

TEST(Analysis, Ipv6ShadowingCountsPerFamily) {
  // web-db6 is shadowed over IPv6 only: the IPv4 half of web is not covered.
  const auto f = run("  - { id: v6, from: \"fd00:1::/48\", to: \"fd00:2::/64\", action: allow }\n"
                     "  - { id: web-db, from: web, to: db, action: allow }\n"
                     "  - { id: only6, from: \"fd00:1::5\", to: \"fd00:2::9\", proto: udp, action: allow }\n");
  const auto s = of(f, Finding::Kind::shadowed);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->rules[0], "only6");
  EXPECT_NE(s[0]->examples[0].find("[fd00:1::5]"), std::string::npos) << s[0]->examples[0];
}

TEST(Analysis, RedundantWhenLaterRulesDecideTheSame) {
  const auto f = run("  - { id: narrow, from: 10.0.1.0/25, to: db, proto: tcp, ports: [80], action: allow }\n"
                     "  - { id: broad, from: web, to: db, proto: tcp, ports: [\"80-90\"], action: allow }\n"
                     "  - { id: deny-same-as-default, from: web, to: db, proto: udp, action: deny }\n"
                     "  - { id: needed, from: web, to: db, proto: tcp, ports: [443], action: allow }\n");
  const auto r = of(f, Finding::Kind::redundant);
  std::vector<std::string> ids;
  for (const auto* x : r) ids.push_back(x->rules[0]);
  EXPECT_EQ(ids, (std::vector<std::string>{"narrow", "deny-same-as-default"}));
}

TEST(Analysis, NotRedundantWhenAnInterveningRuleDiffers) {
  const auto f = run("  - { id: allow-host, from: 10.0.1.5, to: db, proto: tcp, ports: [22], action: allow }\n"
                     "  - { id: deny-web-ssh, from: web, to: db, proto: tcp, ports: [22], action: deny }\n"
                     "  - { id: allow-all-ssh, to: db, proto: tcp, ports: [22], action: allow }\n");
  for (const auto* x : of(f, Finding::Kind::redundant)) EXPECT_NE(x->rules[0], "allow-host");
  // The earlier, narrower allow is an intended exception, not a conflict.
  for (const auto* x : of(f, Finding::Kind::conflict)) EXPECT_NE(x->rules[0], "deny-web-ssh");
}

TEST(Analysis, PartialOverlapOfAllowAndDenyGivesAnExampleOfEach) {
  const auto f = run("  - { id: allow-ports, from: web, to: db, proto: tcp, ports: [\"1000-2000\"], action: allow }\n"
                     "  - { id: deny-half, from: 10.0.1.0/25, to: db, proto: tcp, ports: [\"1500-3000\"], action: deny }\n"
                     "  - { id: other, from: web, to: db, proto: udp, ports: [53], action: allow }\n");
  const auto c = of(f, Finding::Kind::conflict);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]->rules, (std::vector<std::string>{"deny-half", "allow-ports"}));
  ASSERT_EQ(c[0]->examples.size(), 2u);
  EXPECT_NE(c[0]->examples[0].find("allowed by allow-ports"), std::string::npos) << c[0]->examples[0];
  EXPECT_NE(c[0]->examples[1].find("denied by deny-half"), std::string::npos) << c[0]->examples[1];
  EXPECT_NE(c[0]->examples[1].find(":2001"), std::string::npos) << "a port only the deny rule decides";
}

TEST(Analysis, TooBroadAllows) {
  const auto f = run("  - { id: db-from-anywhere, to: db, proto: tcp, ports: [5432], action: allow }\n"
                     "  - { id: all-ports, from: web, to: db, proto: tcp, action: allow }\n"
                     "  - { id: all-protocols, from: web, to: 10.0.9.0/24, action: allow }\n"
                     "  - { id: public-https, to: 10.0.3.0/24, proto: tcp, ports: [443], action: allow }\n"
                     "  - { id: zero-source, from: 0.0.0.0/0, to: 10.0.4.1, proto: tcp, ports: [\"3000-3400\"], action: allow }\n");
  std::vector<std::string> ids;
  for (const auto* x : of(f, Finding::Kind::too_broad)) ids.push_back(x->rules[0]);
  EXPECT_EQ(ids, (std::vector<std::string>{"db-from-anywhere", "all-ports", "all-protocols", "zero-source"}));
  EXPECT_NE(of(f, Finding::Kind::too_broad)[0]->message.find("port 5432"), std::string::npos);
  EXPECT_NE(of(f, Finding::Kind::too_broad)[3]->message.find("port 3306"), std::string::npos);
}

TEST(Analysis, DeadReferences) {
  const auto f = run("  - { id: a, from: web, to: db, proto: tcp, ports: [80], action: allow }\n"
                     "  - { id: old, from: web, to: db, proto: tcp, ports: [81], action: allow, expires: 500 }\n",
                     "  unused: [10.9.0.0/16]\n  gone: { cidrs: [10.8.0.0/24], except: [10.8.0.0/16] }\n");
  ASSERT_EQ(of(f, Finding::Kind::expired_rule).size(), 1u);
  EXPECT_EQ(of(f, Finding::Kind::expired_rule)[0]->rules[0], "old");
  std::vector<std::string> unused;
  for (const auto* x : of(f, Finding::Kind::unused_segment)) unused.push_back(x->message);
  EXPECT_EQ(unused.size(), 2u);
  ASSERT_EQ(of(f, Finding::Kind::empty_segment).size(), 1u);
  EXPECT_NE(of(f, Finding::Kind::empty_segment)[0]->message.find("'gone'"), std::string::npos);
}

TEST(Analysis, ARuleThatExpiresDoesNotShadowAPermanentOne) {
  // now = 1000; the broad rule lives until 5000.
  const auto f = run("  - { id: jit, from: web, to: db, proto: tcp, action: allow, expires: 5000 }\n"
                     "  - { id: db, from: web, to: db, proto: tcp, ports: [5432], action: allow }\n");
  EXPECT_TRUE(of(f, Finding::Kind::shadowed).empty()) << f[0].str("p.yaml");
  // A permanent rule still shadows one that expires.
  const auto g = run("  - { id: db, from: web, to: db, proto: tcp, action: allow }\n"
                     "  - { id: jit, from: web, to: db, proto: tcp, ports: [5432], action: allow, expires: 5000 }\n");
  const auto s = of(g, Finding::Kind::shadowed);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->rules[0], "jit");
}

TEST(Analysis, ARuleThatExpiresDoesNotMakeAPermanentOneRedundant) {
  const auto f = run("  - { id: db, from: web, to: db, proto: tcp, ports: [5432], action: allow }\n"
                     "  - { id: jit, from: web, to: db, proto: tcp, action: allow, expires: 5000 }\n");
  EXPECT_TRUE(of(f, Finding::Kind::redundant).empty()) << f[0].str("p.yaml");
  // One that expires later than the rule it covers does.
  const auto g = run("  - { id: db, from: web, to: db, proto: tcp, ports: [5432], action: allow, expires: 3000 }\n"
                     "  - { id: jit, from: web, to: db, proto: tcp, action: allow, expires: 5000 }\n");
  const auto r = of(g, Finding::Kind::redundant);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0]->rules[0], "db");
}

TEST(Analysis, FindingsCarryFileLineAndColumn) {
  const auto f = run("  - { id: deny-db, to: db, action: deny }\n"
                     "  -   { id: web-db, from: web, to: db, proto: tcp, ports: [5432], action: allow }\n",
                     "  spare: [10.0.9.0/24]\n");
  const auto s = of(f, Finding::Kind::shadowed);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->columns, (std::vector<uint32_t>{7, 5}));
  EXPECT_EQ(s[0]->str("p.yaml").rfind("p.yaml:9:7: error: [shadowed] rule 'web-db' can never match", 0), 0u)
      << s[0]->str("p.yaml");
  const auto u = of(f, Finding::Kind::unused_segment);
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0]->str("p.yaml"), "p.yaml:6:3: warning: [unused-segment] segment 'spare' is not used by any rule");
}

TEST(Analysis, ARuleOfTooManyCombinationsIsNotExpanded) {
  std::string many = "[";
  for (int i = 0; i < 100; ++i) many += (i ? ", " : "") + std::string("10.0.1.") + std::to_string(i * 2);
  many += "]";
  // 100 x 100 addresses x 2 port ranges: 20,000 boxes past a limit of 2,000.
  const auto f = run("  - { id: wide, from: " + many + ", to: " + many +
                     ", proto: tcp, ports: [1, 3], action: deny }\n"
                     "  - { id: after, from: 10.0.1.0, to: 10.0.1.0, proto: tcp, ports: [1], action: allow }\n");
  const auto inc = of(f, Finding::Kind::incomplete);
  ASSERT_EQ(inc.size(), 2u);
  EXPECT_EQ(inc[0]->rules[0], "wide");
  // What its bounding box covers is not taken for what it covers.
  EXPECT_EQ(inc[1]->rules[0], "after");
  EXPECT_TRUE(of(f, Finding::Kind::shadowed).empty());
}

TEST(Analysis, CleanPolicyHasNoFindings) {
  const auto f = run("  - { id: a, from: web, to: db, proto: tcp, ports: [5432], action: allow }\n"
                     "  - { id: b, from: web, to: db, proto: udp, ports: [53], action: allow }\n");
  EXPECT_TRUE(f.empty()) << f[0].message;
}

}  // namespace
}  // namespace bulkhead::rules
