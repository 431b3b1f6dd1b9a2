// The `tenants:` section: parsing with file:line:column errors, the
// compiled order (a tenant's rules before the shared ones), the reference
// matcher, the analysis and the canonical form.
#include <gtest/gtest.h>

#include "rules/analysis.h"
#include "rules/format.h"
#include "rules/load.h"
#include "rules/match.h"
#include "rules/parser.h"

namespace bulkhead::rules {
namespace {

const char* kPolicy =
    "version: 1\n"
    "segments:\n"
    "  web: [10.0.1.0/24]\n"
    "rules:\n"
    "  - { id: web-in, to: web, proto: tcp, ports: [80], action: allow }\n"
    "tenants:\n"
    "  blue:\n"
    "    endpoint: 0x0a0b0c0d01020304\n"
    "    rules:\n"
    "      - { id: blue-ssh, to: web, proto: tcp, ports: [22], action: allow }\n"
    "  red:\n"
    "    vni: 801\n"
    "    rules:\n"
    "      - { id: red-no-web, to: web, proto: tcp, ports: [80], action: deny }\n";

Tuple tcp_to(uint16_t port, std::string tenant = {}) {
  Tuple t;
  t.family = 4;
  t.src = {10, 0, 9, 1};
  t.dst = {10, 0, 1, 5};
  t.proto = 6;
  t.sport = 40000;
  t.dport = port;
  t.tenant = std::move(tenant);
  return t;
}

TEST(Tenants, ParseIntoTheirOwnRules) {
  auto r = parse_policy(kPolicy, "p.yaml");
  ASSERT_TRUE(r.ok()) << r.diagnostics[0].str();
  const Policy& p = *r.value;
  ASSERT_EQ(p.rules.size(), 1u);
  ASSERT_EQ(p.tenants.size(), 2u);
  EXPECT_EQ(p.tenants[0].name, "blue");
  EXPECT_TRUE(p.tenants[0].by_endpoint);
  EXPECT_EQ(p.tenants[0].id, 0x0a0b0c0d01020304u);
  EXPECT_EQ(p.tenants[0].loc.line, 7u);
  ASSERT_EQ(p.tenants[0].rules.size(), 1u);
  EXPECT_EQ(p.tenants[0].rules[0].id, "blue-ssh");
  EXPECT_FALSE(p.tenants[1].by_endpoint);
  EXPECT_EQ(p.tenants[1].id, 801u);
}

TEST(Tenants, CompileTenantRulesFirstAndNamed) {
  auto r = load_policy(kPolicy, "p.yaml");
  ASSERT_TRUE(r.ok()) << r.diagnostics[0].str();
  const auto& set = *r.value;
  ASSERT_EQ(set.tenants_size(), 2);
  EXPECT_EQ(set.tenants(0).name(), "blue");
  EXPECT_EQ(set.tenants(0).kind(), pb::Tenant::ENDPOINT);
  EXPECT_EQ(set.tenants(1).kind(), pb::Tenant::VNI);
  EXPECT_EQ(set.tenants(1).id(), 801u);
  EXPECT_EQ(set.tenants(0).tag(), 0u);
  ASSERT_EQ(set.rules_size(), 3);
  EXPECT_EQ(set.rules(0).id(), "blue-ssh");
  EXPECT_EQ(set.rules(0).tenant(), "blue");
  EXPECT_EQ(set.rules(1).id(), "red-no-web");
  EXPECT_EQ(set.rules(1).tenant(), "red");
  EXPECT_EQ(set.rules(2).id(), "web-in");
  EXPECT_EQ(set.rules(2).tenant(), "");
}

TEST(Tenants, TheSameFlowGetsEachTenantsVerdict) {
  const auto set = *load_policy(kPolicy, "p.yaml").value;
  // Port 80: shared allow for inline and blue; red's own deny comes first.
  EXPECT_EQ(match_first(set, tcp_to(80), 0), 2);
  EXPECT_EQ(match_first(set, tcp_to(80, "blue"), 0), 2);
  EXPECT_EQ(match_first(set, tcp_to(80, "red"), 0), 1);
  // Port 22: only blue's rule allows it.
  EXPECT_EQ(match_first(set, tcp_to(22), 0), -1);
  EXPECT_EQ(match_first(set, tcp_to(22, "blue"), 0), 0);
  EXPECT_EQ(match_first(set, tcp_to(22, "red"), 0), -1);
  EXPECT_EQ(match_rule(set.rules(0), tcp_to(22, "red"), 0), Mismatch::tenant);
}

TEST(Tenants, RuleIdsAreUniqueAcrossThePolicy) {
  const std::string text = std::string(kPolicy) + "      - { id: web-in, action: deny }\n";
  auto r = parse_policy(text, "p.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.diagnostics[0].line, 15u);
  EXPECT_NE(r.diagnostics[0].message.find("duplicate rule id 'web-in'"), std::string::npos)
      << r.diagnostics[0].str();
}

struct TenantError {
  const char* name;
  const char* text;
  uint32_t line;
  uint32_t column;
  const char* message;
};

class TenantErrors : public ::testing::TestWithParam<TenantError> {};

TEST_P(TenantErrors, NameLineColumnAndWhat) {
  const auto& c = GetParam();
  auto r = parse_policy(std::string("version: 1\ntenants:\n") + c.text, "p.yaml");
  ASSERT_FALSE(r.ok());
  const auto& d = r.diagnostics.front();
  EXPECT_EQ(d.line, c.line) << d.str();
  EXPECT_EQ(d.column, c.column) << d.str();
  EXPECT_NE(d.message.find(c.message), std::string::npos) << d.str();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TenantErrors,
    ::testing::Values(
        TenantError{"no_id", "  blue: { rules: [] }\n", 3, 3, "needs an endpoint"},
        TenantError{"both_ids", "  blue: { endpoint: 0x1, vni: 5 }\n", 3, 31, "both an endpoint and a vni"},
        TenantError{"bad_endpoint", "  blue: { endpoint: 12 }\n", 3, 21, "is not 0x and 1-16 hex digits"},
        TenantError{"long_endpoint", "  blue: { endpoint: 0x11112222333344445 }\n", 3, 21, "1-16 hex digits"},
        TenantError{"vni_too_big", "  blue: { vni: 16777216 }\n", 3, 16, "0-16777215"},
        TenantError{"duplicate_vni", "  blue: { vni: 5 }\n  red: { vni: 5 }\n", 4, 15, "repeats the vni"},
        TenantError{"duplicate_name", "  blue: { vni: 5 }\n  blue: { vni: 6 }\n", 4, 3, "duplicate tenant 'blue'"},
        TenantError{"bad_name", "  \"b l\": { vni: 5 }\n", 3, 3, "tenant name"},
        TenantError{"unknown_key", "  blue: { vni: 5, segments: [] }\n", 3, 19, "unknown key 'segments' in tenant"},
        TenantError{"not_a_map", "  blue: 5\n", 3, 9, "must be a map"},
        TenantError{"rules_not_a_list", "  blue: { vni: 5, rules: 7 }\n", 3, 26, "tenant rules must be a list"},
        TenantError{"bad_rule", "  blue: { vni: 5, rules: [ { id: a, action: permit } ] }\n", 3, 45, "allow or deny"},
        TenantError{"unknown_segment", "  blue: { vni: 5, rules: [ { id: a, to: web, action: allow } ] }\n", 3, 41,
                    "unknown segment 'web'"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Tenants, TenantsIsAMap) {
  auto r = parse_policy("version: 1\ntenants: [blue]\n", "p.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.diagnostics[0].line, 2u);
  EXPECT_NE(r.diagnostics[0].message.find("tenants must be a map"), std::string::npos);
}

std::vector<const Finding*> of(const std::vector<Finding>& f, Finding::Kind k) {
  std::vector<const Finding*> out;
  for (const auto& x : f)
    if (x.kind == k) out.push_back(&x);
  return out;
}

TEST(Tenants, AnalysisKeepsTenantsApart) {
  AnalysisOptions opt;
  // A tenant's deny before the shared allow of the same flows overrides it
  // for that tenant alone: neither shadowed nor a conflict.
  auto f = analyse(*load_policy(kPolicy, "p.yaml").value, opt);
  EXPECT_TRUE(of(f, Finding::Kind::shadowed).empty());
  EXPECT_TRUE(of(f, Finding::Kind::conflict).empty());
  // Within one tenant, shadowing is found as anywhere else.
  const std::string text = std::string(kPolicy) + "      - { id: red-web-again, to: web, proto: tcp, ports: [80], action: allow }\n";
  f = analyse(*load_policy(text, "p.yaml").value, opt);
  const auto shadowed = of(f, Finding::Kind::shadowed);
  ASSERT_EQ(shadowed.size(), 1u);
  EXPECT_EQ(shadowed[0]->rules[0], "red-web-again");
  EXPECT_EQ(shadowed[0]->severity, Finding::Severity::error);
}

TEST(Tenants, FindingsNameTheTenant) {
  const std::string text = std::string(kPolicy) + "      - { id: red-web-again, to: web, proto: tcp, ports: [80], action: allow }\n";
  const auto f = analyse(*load_policy(text, "p.yaml").value, AnalysisOptions{});
  const auto shadowed = of(f, Finding::Kind::shadowed);
  ASSERT_EQ(shadowed.size(), 1u);
  EXPECT_EQ(shadowed[0]->tenant, "red");
  EXPECT_NE(shadowed[0]->message.find("rule 'red-web-again' of tenant red"), std::string::npos) << shadowed[0]->message;
  for (const auto& x : f) {
    if (!x.rules.empty() && x.rules[0] == "web-in") {
      EXPECT_EQ(x.tenant, "");
    }
  }
}

// The text edits of `bulkhead rule add|remove|move --tenant`: one tenant's
// list changes, every other line stays as written.
TEST(Tenants, EditsOfOneTenantsRules) {
  const auto p = *parse_policy(kPolicy, "p.yaml").value;
  auto e = insert_rule_text(p, "blue", 0, "{ id: blue-dns, proto: udp, ports: [53], action: allow }");
  ASSERT_EQ(e.error, "");
  auto q = parse_policy(e.text, "p.yaml");
  ASSERT_TRUE(q.ok()) << e.text;
  ASSERT_EQ(q.value->tenants[0].rules.size(), 2u);
  EXPECT_EQ(q.value->tenants[0].rules[0].id, "blue-dns");
  EXPECT_EQ(q.value->tenants[1].rules.size(), 1u);
  EXPECT_EQ(q.value->rules.size(), 1u);
  EXPECT_NE(e.text.find("    rules:\n      - { id: blue-dns, proto: udp"), std::string::npos) << e.text;
  // Appending to the last tenant stays in its list.
  e = insert_rule_text(*q.value, "red", 1, "{ id: red-dns, proto: udp, ports: [53], action: allow }");
  ASSERT_EQ(e.error, "");
  q = parse_policy(e.text, "p.yaml");
  ASSERT_TRUE(q.ok()) << e.text;
  ASSERT_EQ(q.value->tenants[1].rules.size(), 2u);
  EXPECT_EQ(q.value->tenants[1].rules[1].id, "red-dns");
  e = move_rule_text(*q.value, "red", 1, 0);
  ASSERT_EQ(e.error, "");
  q = parse_policy(e.text, "p.yaml");
  ASSERT_TRUE(q.ok()) << e.text;
  EXPECT_EQ(q.value->tenants[1].rules[0].id, "red-dns");
  // Removing a tenant's last rules leaves an empty list, not a null one.
  e = remove_rule_text(*q.value, "red", 0);
  q = parse_policy(e.text, "p.yaml");
  e = remove_rule_text(*q.value, "red", 0);
  ASSERT_EQ(e.error, "");
  q = parse_policy(e.text, "p.yaml");
  ASSERT_TRUE(q.ok()) << q.diagnostics[0].str() << "\n" << e.text;
  EXPECT_TRUE(q.value->tenants[1].rules.empty());
  EXPECT_EQ(q.value->tenants[0].rules.size(), 2u);
  EXPECT_EQ(insert_rule_text(p, "green", 0, "{ id: g, action: allow }").error, "the policy has no tenant 'green'");
}

TEST(Tenants, AnEditGivesATenantItsFirstRulesList) {
  const auto p = *parse_policy("version: 1\ntenants:\n  blue:\n    vni: 5\n\n  red: { vni: 6 }\n", "p.yaml").value;
  const auto e = insert_rule_text(p, "blue", 0, "{ id: b, action: allow }");
  ASSERT_EQ(e.error, "");
  EXPECT_EQ(e.text, "version: 1\ntenants:\n  blue:\n    vni: 5\n    rules:\n      - { id: b, action: allow }\n\n  red: { vni: 6 }\n");
  EXPECT_NE(insert_rule_text(p, "red", 0, "{ id: r, action: allow }").error.find("inline map"), std::string::npos);
}

TEST(Tenants, TheCanonicalFormReadsBackTheSame) {
  const auto p = *parse_policy(kPolicy, "p.yaml").value;
  const std::string text = format_policy(p);
  auto again = parse_policy(text, "fmt.yaml");
  ASSERT_TRUE(again.ok()) << again.diagnostics[0].str() << "\n" << text;
  EXPECT_EQ(format_policy(*again.value), text);
  ASSERT_EQ(again.value->tenants.size(), 2u);
  EXPECT_EQ(again.value->tenants[0].id, 0x0a0b0c0d01020304u);
  EXPECT_EQ(again.value->tenants[1].rules[0].id, "red-no-web");
  EXPECT_NE(text.find("endpoint: 0x0a0b0c0d01020304"), std::string::npos) << text;
}

}  // namespace
}  // namespace bulkhead::rules
