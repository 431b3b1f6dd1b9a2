// Rules written with names (docs/egress.md, "Writing rules with names"):
// how `fqdn:`, `sni:`, `mode:`, `dns:` and `tls:` are read, refused and
// compiled.
#include <gtest/gtest.h>

#include <algorithm>

#include "rules/analysis.h"
#include "rules/compiler.h"
#include "rules/format.h"
#include "rules/load.h"
#include "rules/match.h"
#include "rules/parser.h"
#include "rules/prefix.h"
#include "tests/common/compiled_set.h"

namespace bulkhead::rules {
namespace {

const std::string kHeader =
    "version: 1\n"
    "segments:\n"
    "  payments: [10.1.0.0/16]\n"
    "  resolvers: [10.0.0.53]\n"
    "  stripe:\n"
    "    fqdn: [api.stripe.com, \"*.stripe.network\"]\n"
    "  new-egress:\n"
    "    cidrs: [10.2.0.0/16]\n"
    "    mode: audit\n"
    "dns:\n"
    "  trusted: [resolvers, 192.0.2.53]\n";

pb::CompiledRuleSet load(const std::string& text) {
  auto r = load_policy(text, "p.yaml");
  EXPECT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : r.diagnostics[0].str());
  return r.value.value_or(pb::CompiledRuleSet{});
}

std::vector<std::string> texts(const google::protobuf::RepeatedPtrField<std::string>& v) { return {v.begin(), v.end()}; }

using test::meaning;

std::vector<std::string> prefixes(const google::protobuf::RepeatedPtrField<pb::Prefix>& v) {
  return test::prefix_texts(v);
}

TEST(NamesPolicy, TheSpecExampleCompiles) {
  const auto set = load(kHeader +
                        "rules:\n"
                        "  - { id: stripe-api, from: payments, to: [fqdn: api.stripe.com], proto: tcp, ports: [443], action: allow }\n"
                        "  - { id: stripe-any, from: payments, to: stripe, proto: tcp, ports: [443], action: allow, mode: audit }\n"
                        "  - { id: gh, from: payments, to: [internet, sni: \"*.github.com\"], proto: tcp, ports: [443], action: allow }\n"
                        "  - { id: both, from: payments, to: [fqdn: x.example.com, sni: x.example.com], proto: tcp, ports: [443], action: allow }\n"
                        "  - { id: plain, from: payments, to: new-egress, action: allow }\n");
  ASSERT_EQ(set.rules_size(), 5);
  const auto& api = set.rules(0);
  EXPECT_EQ(texts(api.fqdn()), (std::vector<std::string>{"api.stripe.com"}));
  EXPECT_EQ(api.dst_size(), 0);  // no address destination, not any
  EXPECT_EQ(api.sni_size(), 0);
  EXPECT_TRUE(api.v4());
  EXPECT_FALSE(api.v6());  // the sources are IPv4 alone
  EXPECT_EQ(api.mode(), pb::RULE_MODE_POLICY);
  EXPECT_EQ(texts(api.to_names()), (std::vector<std::string>{"fqdn:api.stripe.com"}));

  const auto& any = set.rules(1);
  EXPECT_EQ(texts(any.fqdn()), (std::vector<std::string>{"api.stripe.com", "*.stripe.network"}));
  EXPECT_EQ(any.dst_size(), 0);
  EXPECT_EQ(any.mode(), pb::RULE_MODE_AUDIT);

  const auto& gh = set.rules(2);
  EXPECT_EQ(gh.fqdn_size(), 0);
  EXPECT_EQ(texts(gh.sni()), (std::vector<std::string>{"*.github.com"}));
  EXPECT_GT(gh.dst_size(), 0);  // the internet's addresses

  const auto& both = set.rules(3);
  EXPECT_EQ(texts(both.fqdn()), (std::vector<std::string>{"x.example.com"}));
  EXPECT_EQ(texts(both.sni()), (std::vector<std::string>{"x.example.com"}));

  EXPECT_EQ(set.rules(4).mode(), pb::RULE_MODE_AUDIT);  // its segment's

  ASSERT_TRUE(set.has_names());
  const auto& n = set.names();
  EXPECT_EQ(prefixes(n.trusted_resolvers()), (std::vector<std::string>{"10.0.0.53/32", "192.0.2.53/32"}));
  EXPECT_EQ(texts(n.trusted_resolver_names()), (std::vector<std::string>{"resolvers", "192.0.2.53"}));
  EXPECT_EQ(n.grace_seconds(), 60u);
  EXPECT_EQ(n.max_addresses_per_name(), 1024u);
  EXPECT_EQ(n.max_names(), 16384u);
  EXPECT_EQ(n.max_bindings(), 65536u);
  ASSERT_EQ(n.tls_ports_size(), 1);
  EXPECT_EQ(n.tls_ports(0).lo(), 443u);
  EXPECT_EQ(n.tls_ports(0).hi(), 443u);
  ASSERT_EQ(n.quic_ports_size(), 1);
  EXPECT_EQ(n.hello_packets(), 8u);
  EXPECT_EQ(n.hello_ms(), 3000u);
  EXPECT_EQ(n.no_sni(), pb::SNI_DENY);
  EXPECT_EQ(n.timeout(), pb::SNI_DENY);
  EXPECT_EQ(n.ech(), pb::SNI_ALLOW);
  EXPECT_EQ(n.mismatch(), pb::SNI_ALLOW);
  EXPECT_TRUE(n.reset());
}

TEST(NamesPolicy, NamesAreCanonicalAndEachOnce) {
  const auto set = load(kHeader +
                        "rules:\n"
                        "  - id: a\n"
                        "    from: payments\n"
                        "    to:\n"
                        "      - fqdn: [API.Stripe.COM., api.stripe.com, \"bücher.example\"]\n"
                        "      - stripe\n"
                        "      - 10.9.0.0/16\n"
                        "    action: allow\n");
  const auto& r = set.rules(0);
  EXPECT_EQ(texts(r.fqdn()), (std::vector<std::string>{"api.stripe.com", "xn--bcher-kva.example", "*.stripe.network"}));
  EXPECT_EQ(prefixes(r.dst()), (std::vector<std::string>{"10.9.0.0/16"}));
}

TEST(NamesPolicy, SettingsAreRead) {
  const auto set = load(
      "version: 1\n"
      "segments: { clients: [10.1.0.0/16, \"fd00:1::/64\"] }\n"
      "dns: { trusted: [\"10.0.0.0/30\", \"fd00::53\"], grace: 0, max_addresses_per_name: 8, max_names: 100, max_bindings: 1000 }\n"
      "tls:\n"
      "  ports: [443, \"8443-8444\"]\n"
      "  quic_ports: 4433\n"
      "  hello_packets: 3\n"
      "  hello_ms: 500\n"
      "  no_sni: allow\n"
      "  timeout: allow\n"
      "  ech: deny\n"
      "  mismatch: deny\n"
      "  reset: false\n"
      "rules:\n"
      "  - { id: a, from: clients, to: {fqdn: a.example.com}, action: allow }\n");
  const auto& n = set.names();
  EXPECT_EQ(prefixes(n.trusted_resolvers()), (std::vector<std::string>{"10.0.0.0/30", "fd00::53/128"}));
  EXPECT_EQ(n.grace_seconds(), 0u);
  EXPECT_EQ(n.max_addresses_per_name(), 8u);
  EXPECT_EQ(n.max_names(), 100u);
  EXPECT_EQ(n.max_bindings(), 1000u);
  ASSERT_EQ(n.tls_ports_size(), 2);
  EXPECT_EQ(n.tls_ports(1).lo(), 8443u);
  EXPECT_EQ(n.tls_ports(1).hi(), 8444u);
  ASSERT_EQ(n.quic_ports_size(), 1);
  EXPECT_EQ(n.quic_ports(0).lo(), 4433u);
  EXPECT_EQ(n.hello_packets(), 3u);
  EXPECT_EQ(n.hello_ms(), 500u);
  EXPECT_EQ(n.no_sni(), pb::SNI_ALLOW);
  EXPECT_EQ(n.timeout(), pb::SNI_ALLOW);
  EXPECT_EQ(n.ech(), pb::SNI_DENY);
  EXPECT_EQ(n.mismatch(), pb::SNI_DENY);
  EXPECT_FALSE(n.reset());
  // Names bind both families: the rule applies to its sources' two.
  EXPECT_TRUE(set.rules(0).v4());
  EXPECT_TRUE(set.rules(0).v6());
}

TEST(NamesPolicy, NoNamesNoSettings) {
  const auto set = load(kHeader + "tls: { ports: [443] }\nrules:\n  - { id: a, from: payments, to: resolvers, action: allow }\n");
  EXPECT_FALSE(set.has_names());
  EXPECT_EQ(set.rules(0).mode(), pb::RULE_MODE_POLICY);
}

TEST(NamesPolicy, SniAloneNeedsNoResolverAndReachesAny) {
  const auto set = load("version: 1\nrules:\n  - { id: a, to: [sni: a.example.com], proto: tcp, ports: [443], action: allow }\n");
  const auto& r = set.rules(0);
  EXPECT_EQ(r.dst_size(), 0);
  EXPECT_EQ(r.fqdn_size(), 0);
  EXPECT_TRUE(r.v4() && r.v6());
  ASSERT_TRUE(set.has_names());
  EXPECT_EQ(set.names().trusted_resolvers_size(), 0);
}

TEST(NamesPolicy, RuleModeOverridesSegments) {
  const auto set = load(
      "version: 1\n"
      "segments:\n"
      "  a: { cidrs: [10.1.0.0/16], mode: audit }\n"
      "  b: { cidrs: [10.2.0.0/16], mode: learn }\n"
      "  c: [10.3.0.0/16]\n"
      "rules:\n"
      "  - { id: r1, from: a, to: b, action: allow, mode: enforce }\n"
      "  - { id: r2, from: c, to: b, action: allow }\n"
      "  - { id: r3, from: a, to: [c, a], action: deny }\n");
  EXPECT_EQ(set.rules(0).mode(), pb::RULE_MODE_ENFORCE);
  EXPECT_EQ(set.rules(1).mode(), pb::RULE_MODE_LEARN);
  EXPECT_EQ(set.rules(2).mode(), pb::RULE_MODE_AUDIT);
}

TEST(NamesPolicy, SegmentsOfDifferentModesNeedARuleMode) {
  auto r = load_policy(
      "version: 1\n"
      "segments:\n"
      "  a: { cidrs: [10.1.0.0/16], mode: audit }\n"
      "  b: { cidrs: [10.2.0.0/16], mode: enforce }\n"
      "rules:\n"
      "  - { id: r1, from: a, to: b, action: allow }\n",
      "p.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.diagnostics[0].line, 6u);
  EXPECT_EQ(r.diagnostics[0].column, 28u);
  EXPECT_NE(r.diagnostics[0].message.find("segments of different modes ('a': audit, 'b': enforce)"), std::string::npos)
      << r.diagnostics[0].str();
}

TEST(NamesPolicy, AnyBesideNamesDropsThemWithAWarning) {
  auto r = load_policy(kHeader + "rules:\n  - { id: a, from: payments, to: [any, fqdn: a.example.com], action: allow }\n",
                       "p.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value->rules(0).fqdn_size(), 0);
  EXPECT_EQ(r.value->rules(0).dst_size(), 0);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].message.find("fqdn names add nothing"), std::string::npos);
}

std::string many_rules(const char* kind, uint32_t n) {
  std::string s = kHeader + "rules:\n";
  for (uint32_t i = 0; i < n; ++i)
    s += "  - { id: r" + std::to_string(i) + ", from: payments, to: [" + kind + ": n" + std::to_string(i) +
         ".example.com], action: allow }\n";
  return s;
}

TEST(NamesPolicy, AtMostSoManyRulesWithNames) {
  EXPECT_TRUE(load_policy(many_rules("fqdn", kMaxFqdnRules), "p.yaml").ok());
  EXPECT_TRUE(load_policy(many_rules("sni", kMaxSniRules), "p.yaml").ok());
  for (const char* kind : {"fqdn", "sni"}) {
    auto r = load_policy(many_rules(kind, kMaxFqdnRules + 2), "p.yaml");
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.diagnostics.size(), 1u);  // the first rule past it, alone
    EXPECT_NE(r.diagnostics[0].message.find("rule 'r32' is rule 33 with " + std::string(kind)), std::string::npos)
        << r.diagnostics[0].str();
  }
}

struct ErrorCase {
  const char* name;
  std::string text;
  uint32_t line, column;
  const char* message;
};

class NamesPolicyErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(NamesPolicyErrors, NamesLineColumnAndWhat) {
  const auto& c = GetParam();
  auto r = load_policy(c.text, "p.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_FALSE(r.diagnostics.empty());
  const auto& d = r.diagnostics.front();
  EXPECT_EQ(d.severity, Diagnostic::Severity::error);
  EXPECT_EQ(d.line, c.line) << d.str();
  EXPECT_EQ(d.column, c.column) << d.str();
  EXPECT_NE(d.message.find(c.message), std::string::npos) << d.str();
}

// kHeader is 11 lines; its rules start on line 13.
INSTANTIATE_TEST_SUITE_P(
    Cases, NamesPolicyErrors,
    ::testing::Values(
        ErrorCase{"fqdn_in_from", kHeader + "rules:\n  - { id: a, from: [fqdn: a.example.com], action: allow }\n", 13, 21,
                  "they go in a rule's to:, not in from"},
        ErrorCase{"name_segment_in_from", kHeader + "rules:\n  - { id: a, from: stripe, action: allow }\n", 13, 20,
                  "segment 'stripe' holds names"},
        ErrorCase{"star_alone", kHeader + "rules:\n  - { id: a, to: [fqdn: \"*\"], action: allow }\n", 13, 25,
                  "'*' alone matches every name"},
        ErrorCase{"star_inside", kHeader + "rules:\n  - { id: a, to: [sni: \"a.*.com\"], action: allow }\n", 13, 24,
                  "'*' may only stand as the whole leftmost label"},
        ErrorCase{"bad_label", kHeader + "rules:\n  - { id: a, to: [fqdn: \"a..com\"], action: allow }\n", 13, 25,
                  "empty label"},
        ErrorCase{"empty_names", kHeader + "rules:\n  - { id: a, to: [fqdn: []], action: allow }\n", 13, 25,
                  "fqdn is an empty list"},
        ErrorCase{"unknown_to_key", kHeader + "rules:\n  - { id: a, to: [fqdm: a.com], action: allow }\n", 13, 19,
                  "unknown key 'fqdm' in to (allowed: fqdn, sni)"},
        ErrorCase{"bad_rule_mode", kHeader + "rules:\n  - { id: a, action: allow, mode: loud }\n", 13, 35,
                  "mode must be enforce, audit or learn"},
        ErrorCase{"bad_segment_mode", "version: 1\nsegments:\n  a: { cidrs: [10.0.0.0/8], mode: x }\n", 3, 35,
                  "mode must be"},
        ErrorCase{"segment_needs_something", "version: 1\nsegments:\n  a: { mode: audit }\n", 3, 6,
                  "needs cidrs or fqdn"},
        ErrorCase{"no_resolver", "version: 1\nrules:\n  - { id: a, to: [fqdn: a.example.com], action: allow }\n", 3,
                  25, "trusts no resolver"},
        ErrorCase{"no_resolver_segment",
                  "version: 1\nsegments:\n  s: { fqdn: a.example.com }\nrules:\n  - { id: a, to: s, action: allow }\n",
                  5, 18, "trusts no resolver"},
        ErrorCase{"trusted_any", "version: 1\ndns: { trusted: any }\n", 2, 17, "'any' would let every host"},
        ErrorCase{"trusted_names", "version: 1\nsegments:\n  s: { fqdn: a.com }\ndns: { trusted: [s] }\n", 4, 18,
                  "segment 's' holds names"},
        ErrorCase{"unknown_dns_key", "version: 1\ndns: { trusted: [10.0.0.1], ttl: 5 }\n", 2, 29,
                  "unknown key 'ttl' in dns"},
        ErrorCase{"grace_range", "version: 1\ndns: { grace: 86401 }\n", 2, 15, "grace must be a whole number from 0 to 86400"},
        ErrorCase{"grace_negative", "version: 1\ndns: { grace: -1 }\n", 2, 15, "grace must be"},
        ErrorCase{"max_names_zero", "version: 1\ndns: { max_names: 0 }\n", 2, 19, "max_names must be a whole number from 1"},
        ErrorCase{"hello_packets_range", "version: 1\ntls: { hello_packets: 65 }\n", 2, 23, "from 1 to 64"},
        ErrorCase{"hello_ms_range", "version: 1\ntls: { hello_ms: 0 }\n", 2, 18, "from 1 to 60000"},
        ErrorCase{"tls_port", "version: 1\ntls: { ports: [70000] }\n", 2, 16, "port 70000 out of range"},
        ErrorCase{"tls_ports_empty", "version: 1\ntls: { quic_ports: [] }\n", 2, 20, "quic_ports is an empty list"},
        ErrorCase{"no_sni_value", "version: 1\ntls: { no_sni: maybe }\n", 2, 16, "no_sni must be deny or allow"},
        ErrorCase{"reset_value", "version: 1\ntls: { reset: 2 }\n", 2, 15, "reset must be true or false"},
        ErrorCase{"unknown_tls_key", "version: 1\ntls: { sni: x }\n", 2, 8, "unknown key 'sni' in tls"},
        ErrorCase{"dns_not_a_map", "version: 1\ndns: [10.0.0.1]\n", 2, 6, "dns must be a map"}),
    [](const auto& info) { return std::string(info.param.name); });

const std::string kWritten =
    "# egress by name\n"
    "version: 1\n"
    "defaults: { action: deny, mode: enforce }\n"
    "segments:\n"
    "  payments: [10.1.0.0/16]\n"
    "  resolvers: [10.0.0.53]\n"
    "  stripe:\n"
    "    fqdn: [API.stripe.com, \"*.stripe.network\"]\n"
    "  new-egress:\n"
    "    cidrs: [10.2.0.0/16]\n"
    "    except: [10.2.9.0/24]\n"
    "    mode: audit\n"
    "dns:\n"
    "  trusted: [resolvers, 192.0.2.53]   # the site's resolvers\n"
    "  grace: 120\n"
    "tls:\n"
    "  ports: [443, \"8443-8444\"]\n"
    "  no_sni: allow\n"
    "  reset: false\n"
    "rules:\n"
    "  - { id: stripe-api, from: payments, to: [fqdn: api.stripe.com], proto: tcp, ports: [443], action: allow }\n"
    "  # watched before it is enforced\n"
    "  - { id: stripe-any, from: payments, to: stripe, proto: tcp, ports: [443], action: allow, mode: audit }\n"
    "  - id: gh\n"
    "    from: payments\n"
    "    to:\n"
    "      - internet\n"
    "      - sni: [\"*.github.com\", github.com]\n"
    "    proto: tcp\n"
    "    ports: [443]\n"
    "    action: allow\n"
    "  - { id: both, from: payments, to: [fqdn: x.example.com, sni: x.example.com, 10.9.0.1], proto: tcp, ports: [443], action: allow }\n"
    "  - { id: new, from: payments, to: new-egress, action: allow }\n";

TEST(NamesPolicy, TheCanonicalFormMeansTheSame) {
  const auto p = parse_policy(kWritten, "p.yaml");
  ASSERT_TRUE(p.ok()) << p.diagnostics[0].str();
  const std::string text = format_policy(*p.value);
  const auto again = parse_policy(text, "fmt.yaml");
  ASSERT_TRUE(again.ok()) << again.diagnostics[0].str() << "\n" << text;
  EXPECT_EQ(format_policy(*again.value), text);
  EXPECT_EQ(meaning(*compile(*again.value).value), meaning(*compile(*p.value).value)) << text;
  EXPECT_NE(text.find("  stripe: { fqdn: [api.stripe.com, \"*.stripe.network\"] }\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  new-egress: { cidrs: [10.2.0.0/16], except: [10.2.9.0/24], mode: audit }\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dns: { trusted: [resolvers, 192.0.2.53], grace: 120 }\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tls: { ports: [443, \"8443-8444\"], no_sni: allow, reset: false }\n"), std::string::npos) << text;
  EXPECT_NE(text.find("to: [internet, sni: [\"*.github.com\", github.com]]"), std::string::npos) << text;
  EXPECT_NE(text.find("to: [fqdn: x.example.com, sni: x.example.com, 10.9.0.1]"), std::string::npos) << text;
  EXPECT_NE(text.find("action: allow, mode: audit }"), std::string::npos) << text;
}

// A trusted resolver's address is named as the formatter writes it, so a
// policy and its canonical form compile to the same set (found by the
// policy fuzz target: "fd00::06" became "fd00::6").
TEST(NamesPolicy, TrustedAddressesAreNamedCanonically) {
  const char* text =
      "version: 1\n"
      "segments: { web: [10.0.1.0/24], dns: [10.0.0.53] }\n"
      "dns: { trusted: [dns, \"fd00::06\", 10.0.0.0/8] }\n"
      "rules:\n"
      "  - { id: d, from: web, to: [dns, \"fd00::06\"], proto: udp, ports: [53], action: allow }\n"
      "  - { id: a, from: web, to: [fqdn: api.example.com], proto: tcp, ports: [443], action: allow }\n";
  const auto p = parse_policy(text, "p.yaml");
  ASSERT_TRUE(p.ok()) << p.diagnostics[0].str();
  const auto set = compile(*p.value);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(texts(set.value->names().trusted_resolver_names()), (std::vector<std::string>{"dns", "fd00::6", "10.0.0.0/8"}));
  const auto again = parse_policy(format_policy(*p.value), "fmt.yaml");
  ASSERT_TRUE(again.ok()) << again.diagnostics[0].str();
  EXPECT_EQ(meaning(*compile(*again.value).value), meaning(*set.value));
}

TEST(NamesPolicy, RuleEditsKeepNamesAsWritten) {
  const auto p = *parse_policy(kWritten, "p.yaml").value;
  auto e = insert_rule_text(p, "", 1, "{ id: cdn, from: payments, to: [fqdn: \"*.cdn.example\"], action: allow, mode: learn }");
  ASSERT_EQ(e.error, "");
  auto q = parse_policy(e.text, "p.yaml");
  ASSERT_TRUE(q.ok()) << q.diagnostics[0].str() << "\n" << e.text;
  ASSERT_EQ(q.value->rules.size(), 6u);
  EXPECT_EQ(q.value->rules[1].id, "cdn");
  EXPECT_EQ(q.value->rules[1].mode, PolicyMode::learn);
  EXPECT_EQ(e.text.substr(0, e.text.find("rules:\n")), kWritten.substr(0, kWritten.find("rules:\n")));
  e = move_rule_text(*q.value, "", 3, 0);  // gh, written over several lines
  ASSERT_EQ(e.error, "");
  q = parse_policy(e.text, "p.yaml");
  ASSERT_TRUE(q.ok()) << e.text;
  EXPECT_EQ(q.value->rules[0].id, "gh");
  EXPECT_NE(e.text.find("rules:\n  - id: gh\n    from: payments\n    to:\n      - internet\n"), std::string::npos) << e.text;
  e = remove_rule_text(*q.value, "", 0);
  ASSERT_EQ(e.error, "");
  q = parse_policy(e.text, "p.yaml");
  ASSERT_TRUE(q.ok()) << e.text;
  EXPECT_EQ(q.value->rules.size(), 5u);
  EXPECT_NE(e.text.find("  trusted: [resolvers, 192.0.2.53]   # the site's resolvers\n"), std::string::npos);
  EXPECT_NE(e.text.find("  # watched before it is enforced\n"), std::string::npos);
  // A rule as `rule list --json` writes it reads back the same.
  for (const auto& r : q.value->rules) {
    const auto one = parse_policy(kWritten.substr(0, kWritten.find("rules:\n")) + "rules:\n  - " + format_rule(r) + "\n",
                                  "one.yaml");
    ASSERT_TRUE(one.ok()) << format_rule(r);
    EXPECT_EQ(format_rule(one.value->rules[0]), format_rule(r));
  }
}

std::vector<Finding> analysed(const std::string& rules, const std::string& extra = "", const char* dflt = "deny") {
  const std::string text = std::string("version: 1\ndefaults: { action: ") + dflt +
                           " }\nsegments:\n"
                           "  web: [10.0.1.0/24, \"fd00:1::/64\"]\n"
                           "  db: [10.0.2.0/24]\n"
                           "  resolvers: [10.0.0.53]\n"
                           "dns: { trusted: [resolvers] }\n" +
                           extra + "rules:\n" + rules;
  auto r = load_policy(text, "p.yaml");
  EXPECT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : r.diagnostics[0].str());
  AnalysisOptions opt;
  opt.now_unix = 1000;
  return r.ok() ? analyse(*r.value, opt) : std::vector<Finding>{};
}

// "kind:rule" of every finding about what rules can match, in order.
std::vector<std::string> kinds(const std::vector<Finding>& findings) {
  std::vector<std::string> out;
  for (const auto& f : findings)
    if (f.kind != Finding::Kind::unused_segment && f.kind != Finding::Kind::too_broad && f.kind != Finding::Kind::conflict)
      out.push_back(std::string(finding_kind_name(f.kind)) + ":" + (f.rules.empty() ? "" : f.rules[0]));
  return out;
}

std::vector<const Finding*> only(const std::vector<Finding>& findings, Finding::Kind kind) {
  std::vector<const Finding*> out;
  for (const auto& f : findings)
    if (f.kind == kind) out.push_back(&f);
  return out;
}

const std::string kDns = "  - { id: dns, from: web, to: resolvers, proto: udp, ports: [53], action: allow }\n";

TEST(NamesAnalysis, ARuleWithNamesShadowsOnlyByItsAddresses) {
  const auto f = analysed(kDns +
                          "  - { id: by-name, from: web, to: [fqdn: api.example.com], proto: tcp, ports: [443], action: allow }\n"
                          "  - { id: by-sni, from: web, to: [db, sni: db.example.com], proto: tcp, ports: [443], action: allow }\n"
                          "  - { id: both, from: web, to: [fqdn: x.example.com, 10.0.2.0/25], proto: tcp, ports: [443], action: allow }\n"
                          "  - { id: db-low, from: web, to: 10.0.2.5, proto: tcp, ports: [443], action: deny }\n"
                          "  - { id: db-https, from: web, to: db, proto: tcp, ports: [443], action: deny }\n");
  // by-name and by-sni may match db-https's flows, never surely (and what
  // db-https decides, the default would too); only both's addresses cover
  // db-low (with the opposite action).
  ASSERT_EQ(kinds(f), (std::vector<std::string>{"shadowed:db-low", "redundant:db-https"}));
  const auto& shadowed = *std::find_if(f.begin(), f.end(), [](const Finding& x) { return x.kind == Finding::Kind::shadowed; });
  EXPECT_EQ(shadowed.severity, Finding::Severity::error);
  EXPECT_EQ(shadowed.rules, (std::vector<std::string>{"db-low", "both"}));
}

TEST(NamesAnalysis, ARuleWithNamesIsShadowedByWhatItCouldReach) {
  const auto f = analysed(kDns +
                          "  - { id: web-out, from: web, proto: tcp, ports: [443], action: allow }\n"
                          "  - { id: by-name, from: web, to: [fqdn: api.example.com], proto: tcp, ports: [443], action: allow }\n"
                          "  - { id: by-sni, from: web, to: [sni: api.example.com], proto: tcp, ports: [443], action: allow }\n");
  EXPECT_EQ(kinds(f), (std::vector<std::string>{"shadowed:by-name", "shadowed:by-sni"}));
}

TEST(NamesAnalysis, ALaterRuleWithNamesTakesNothingOver) {
  // Without `early`, its flows to db would be allowed by `by-sni` only
  // when their server name matched: `early` is not redundant (by-sni,
  // which can reach nothing early does not take, is shadowed).
  const auto f = analysed(kDns +
                          "  - { id: early, from: web, to: db, proto: tcp, ports: [443], action: allow }\n"
                          "  - { id: by-sni, from: web, to: [db, sni: db.example.com], proto: tcp, ports: [443], action: allow }\n");
  EXPECT_EQ(kinds(f), std::vector<std::string>{"shadowed:by-sni"});
}

TEST(NamesAnalysis, NoResolverTheClientsMayAsk) {
  const std::string rule =
      "  - { id: by-name, from: web, to: [fqdn: api.example.com], proto: tcp, ports: [443], action: allow }\n";
  const auto f = analysed(rule);
  ASSERT_EQ(kinds(f), (std::vector<std::string>{"no-resolver:by-name"}));
  EXPECT_NE(only(f, Finding::Kind::no_resolver)[0]->message.find("no rule lets its clients ask a trusted resolver"), std::string::npos);
  // Over TCP, over UDP, by the default action: answered.
  EXPECT_EQ(kinds(analysed(kDns + rule)), std::vector<std::string>{});
  EXPECT_EQ(kinds(analysed("  - { id: dns, from: 10.0.1.0/28, to: 10.0.0.0/24, proto: tcp, ports: [\"50-60\"], action: allow }\n" + rule)),
            std::vector<std::string>{});
  EXPECT_EQ(kinds(analysed(rule, "", "allow")), std::vector<std::string>{"redundant:by-name"});
  // Denied first, or allowed for other clients only: not answered.
  EXPECT_EQ(kinds(analysed("  - { id: no-dns, from: web, to: any, proto: udp, ports: [53], action: deny }\n" + kDns + rule)),
            (std::vector<std::string>{"shadowed:dns", "no-resolver:by-name"}));
  EXPECT_EQ(kinds(analysed("  - { id: dns, from: db, to: resolvers, proto: udp, ports: [53], action: allow }\n" + rule)),
            (std::vector<std::string>{"no-resolver:by-name"}));
  // A deny written with names may not match: the query may pass it.
  EXPECT_EQ(kinds(analysed("  - { id: no-dns, from: web, to: [sni: x.example.com], proto: udp, ports: [53], action: deny }\n" +
                           kDns + rule)),
            (std::vector<std::string>{"name-never-matches:no-dns"}));
}

TEST(NamesAnalysis, ServerNamesOnPortsNotRead) {
  const auto f = analysed(
      "  - { id: http, from: web, to: [sni: a.example.com], proto: tcp, ports: [80], action: allow }\n"
      "  - { id: quic, from: web, to: [sni: a.example.com], proto: udp, ports: [443], action: allow }\n"
      "  - { id: alt, from: web, to: [sni: a.example.com], proto: tcp, ports: [\"8000-8443\"], action: allow }\n"
      "  - { id: ping, from: web, to: [sni: a.example.com], proto: icmp, action: allow }\n"
      "  - { id: wide, from: web, to: [sni: a.example.com], action: allow }\n",
      "tls: { ports: [443, 8443] }\n");
  ASSERT_EQ(kinds(f), (std::vector<std::string>{"name-never-matches:http", "name-never-matches:ping"}));
  const auto n = only(f, Finding::Kind::name_never_matches);
  EXPECT_NE(n[0]->message.find("tls.ports (443, 8443)"), std::string::npos) << n[0]->message;
  EXPECT_NE(n[1]->message.find("not its protocol"), std::string::npos) << n[1]->message;
}

// The reference matcher takes every name condition as met, as the
// classifier's first lookup does; destination_holds tells the address part.
TEST(NamesMatch, NameConditionsAreTakenAsMet) {
  const auto set = load(kHeader +
                        "rules:\n"
                        "  - { id: by-name, from: payments, to: [fqdn: a.example.com, 198.51.100.0/24], proto: tcp, action: allow }\n"
                        "  - { id: by-sni, from: payments, to: [10.9.0.0/16, sni: a.example.com], action: allow }\n");
  Tuple t;
  std::string error;
  const auto src = parse_prefix("10.1.0.5", error), named = parse_prefix("203.0.113.9", error),
             written = parse_prefix("198.51.100.7", error), other = parse_prefix("10.9.0.1", error);
  t.src = src->addr;
  t.proto = 6;
  t.dst = named->addr;
  EXPECT_EQ(match_first(set, t, 0), 0);
  EXPECT_FALSE(destination_holds(set.rules(0), t));
  t.dst = written->addr;
  EXPECT_TRUE(destination_holds(set.rules(0), t));
  t.proto = 17;
  t.dst = other->addr;
  EXPECT_EQ(match_first(set, t, 0), 1);
  EXPECT_TRUE(destination_holds(set.rules(1), t));
  t.dst = named->addr;
  EXPECT_EQ(match_rule(set.rules(1), t, 0), Mismatch::destination);
}

TEST(NamesPolicy, InventorySegmentsHoldNoNames) {
  auto r = parse_inventory("version: 1\nsegments:\n  s: { fqdn: a.example.com }\n", "inv.yaml");
  ASSERT_FALSE(r.ok());
  bool refused = false;
  for (const auto& d : r.diagnostics) refused = refused || d.message.find("unknown key 'fqdn' in segment") != std::string::npos;
  EXPECT_TRUE(refused);
}

}  // namespace
}  // namespace bulkhead::rules
