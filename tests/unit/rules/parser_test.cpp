#include <gtest/gtest.h>

#include "rules/load.h"
#include "rules/parser.h"

namespace bulkhead::rules {
namespace {

// A policy that should fail, and the first error it must report.
struct ErrorCase {
  const char* name;
  const char* text;
  uint32_t line;
  uint32_t column;
  const char* message;  // substring
};

class ParserErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParserErrors, NamesLineColumnAndWhat) {
  const auto& c = GetParam();
  auto r = parse_policy(c.text, "p.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_FALSE(r.diagnostics.empty());
  const auto& d = r.diagnostics.front();
  EXPECT_EQ(d.line, c.line) << d.str();
  EXPECT_EQ(d.column, c.column) << d.str();
  EXPECT_NE(d.message.find(c.message), std::string::npos) << d.str();
  EXPECT_EQ(d.str().rfind("p.yaml:" + std::to_string(c.line) + ":" + std::to_string(c.column) + ": error: ", 0), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParserErrors,
    ::testing::Values(
        ErrorCase{"unknown_segment", "version: 1\nrules:\n  - { id: a, from: nowhere, action: allow }\n", 3, 20,
                  "unknown segment 'nowhere'"},
        ErrorCase{"bad_cidr", "version: 1\nsegments:\n  web: [10.0.1.0/33]\n", 3, 9, "prefix length must be 0-32"},
        ErrorCase{"host_bits", "version: 1\nsegments:\n  web: [10.0.1.5/24]\n", 3, 9, "did you mean 10.0.1.0/24"},
        ErrorCase{"port_out_of_range", "version: 1\nrules:\n  - { id: a, proto: tcp, ports: [70000], action: allow }\n",
                  3, 34, "port 70000 out of range"},
        ErrorCase{"port_range_backwards",
                  "version: 1\nrules:\n  - { id: a, proto: tcp, ports: [\"90-80\"], action: allow }\n", 3, 34,
                  "runs backwards"},
        ErrorCase{"duplicate_id",
                  "version: 1\nrules:\n  - { id: a, action: allow }\n  - { id: a, action: deny }\n", 4, 11,
                  "duplicate rule id 'a'"},
        ErrorCase{"unknown_rule_key", "version: 1\nrules:\n  - { id: a, action: allow, port: 80 }\n", 3, 29,
                  "unknown key 'port'"},
        ErrorCase{"unknown_top_key", "version: 1\nrulez: []\n", 2, 1, "unknown key 'rulez'"},
        ErrorCase{"missing_action", "version: 1\nrules:\n  - { id: a }\n", 3, 5, "has no action"},
        ErrorCase{"bad_action", "version: 1\nrules:\n  - { id: a, action: permit }\n", 3, 22, "allow or deny"},
        ErrorCase{"bad_proto", "version: 1\nrules:\n  - { id: a, proto: gre2, action: allow }\n", 3, 21,
                  "proto must be"},
        ErrorCase{"ports_on_icmp", "version: 1\nrules:\n  - { id: a, proto: icmp, ports: [1], action: allow }\n", 3,
                  34, "ports apply only"},
        ErrorCase{"icmp_types_on_tcp",
                  "version: 1\nrules:\n  - { id: a, proto: tcp, icmp_types: [8], action: allow }\n", 3, 38,
                  "icmp_types needs"},
        ErrorCase{"unknown_icmp_type",
                  "version: 1\nrules:\n  - { id: a, proto: icmp, icmp_types: [pong], action: allow }\n", 3, 40,
                  "unknown icmp type 'pong'"},
        ErrorCase{"bad_version", "version: 2\n", 1, 10, "unsupported policy version"},
        ErrorCase{"missing_version", "rules: []\n", 1, 1, "missing 'version: 1'"},
        ErrorCase{"duplicate_segment", "version: 1\nsegments:\n  web: [10.0.0.0/8]\n  web: [10.0.0.0/8]\n", 4, 3,
                  "duplicate segment 'web'"},
        ErrorCase{"yaml_syntax", "version: 1\nrules: [ { id: a\n", 3, 1, "YAML syntax"},
        ErrorCase{"bad_mode", "version: 1\ndefaults: { mode: maybe }\n", 2, 19, "mode must be"},
        ErrorCase{"bad_expiry", "version: 1\nrules:\n  - { id: a, action: allow, expires: tomorrow }\n", 3, 38,
                  "expires must be"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Parser, CollectsEveryErrorInFileOrder) {
  auto r = parse_policy(
      "version: 1\n"
      "segments:\n"
      "  web: [10.0.1.0/33]\n"
      "rules:\n"
      "  - { id: a, from: nowhere, action: allow }\n"
      "  - { id: b, proto: tcp, ports: [99999], action: allow }\n",
      "p.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 3u);
  EXPECT_EQ(r.diagnostics[0].line, 3u);
  EXPECT_EQ(r.diagnostics[1].line, 5u);
  EXPECT_EQ(r.diagnostics[2].line, 6u);
}

TEST(Parser, ReadsEveryField) {
  auto r = parse_policy(
      "version: 1\n"
      "defaults: { action: allow, mode: audit }\n"
      "segments:\n"
      "  web: [10.0.1.0/24, \"fd00:1::/64\"]\n"
      "  inet: { cidrs: [0.0.0.0/0], except: [10.0.0.0/8] }\n"
      "rules:\n"
      "  - id: r1\n"
      "    from: [web, 192.168.1.1]\n"
      "    to: inet\n"
      "    proto: udp\n"
      "    ports: [53, \"1000-2000\"]\n"
      "    sports: 5353\n"
      "    action: deny\n"
      "    log: true\n"
      "    expires: 2030-01-01T00:00:00Z\n"
      "    description: a test\n",
      "p.yaml");
  ASSERT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : r.diagnostics[0].str());
  const Policy& p = *r.value;
  EXPECT_EQ(p.default_action, Action::allow);
  EXPECT_EQ(p.mode, PolicyMode::audit);
  ASSERT_EQ(p.segments.size(), 2u);
  EXPECT_EQ(p.segments[1].except.size(), 1u);
  ASSERT_EQ(p.rules.size(), 1u);
  const RuleDef& rule = p.rules[0];
  EXPECT_EQ(rule.loc.line, 7u);
  ASSERT_EQ(rule.from.size(), 2u);
  EXPECT_EQ(rule.from[0].kind, AddressItem::Kind::segment);
  EXPECT_EQ(rule.from[1].kind, AddressItem::Kind::literal);
  EXPECT_EQ(rule.proto, 17);
  EXPECT_EQ(rule.ports, (std::vector<PortRange>{{53, 53}, {1000, 2000}}));
  EXPECT_EQ(rule.sports, (std::vector<PortRange>{{5353, 5353}}));
  EXPECT_TRUE(rule.log);
  EXPECT_EQ(rule.expires_at, 1893456000);
  EXPECT_EQ(rule.description, "a test");
}

TEST(Parser, TheLabExamplePolicyLoads) {
  auto r = load_policy_file(std::string(BULKHEAD_SOURCE_DIR) + "/docs/examples/lab-policy.yaml");
  ASSERT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : r.diagnostics[0].str());
  EXPECT_EQ(r.value->rules_size(), 7);
}

TEST(Parser, MissingFileIsAnError) {
  auto r = parse_policy_file("/nonexistent/policy.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.diagnostics[0].str().find("/nonexistent/policy.yaml: error: cannot open"), std::string::npos);
}

}  // namespace
}  // namespace bulkhead::rules

namespace bulkhead::rules {
namespace {

TEST(ParserHostile, DeepNestingIsRefusedNotRecursedInto) {
  const std::string deep = "version: 1\nrules: " + std::string(100000, '[') + "\n";
  auto r = parse_policy(deep, "deep.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.diagnostics[0].message.find("nesting deeper"), std::string::npos);
  std::string block = "version: 1\nrules:\n";
  for (int i = 0; i < 2000; ++i) block += std::string(static_cast<size_t>(2 * i), ' ') + "- \n";
  auto b = parse_policy(block, "block.yaml");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.diagnostics[0].message.find("nesting deeper"), std::string::npos) << b.diagnostics[0].str();
}

TEST(ParserHostile, RandomMutationsNeverCrash) {
  const std::string base =
      "version: 1\n"
      "defaults: { action: deny, mode: enforce }\n"
      "segments:\n"
      "  web: [10.0.1.0/24, \"fd00:1::/64\"]\n"
      "  inet: { cidrs: [\"0.0.0.0/0\"], except: [10.0.0.0/8] }\n"
      "rules:\n"
      "  - { id: a, from: web, to: inet, proto: tcp, ports: [443, \"8000-8080\"], action: allow, log: true }\n"
      "  - id: b\n"
      "    from: [web, 10.9.0.1]\n"
      "    proto: icmp\n"
      "    icmp_types: [echo-request, 3]\n"
      "    action: deny\n";
  const char alphabet[] = "[]{}:,-'\"# \n\t0123456789abcdefxyz./\\&*!|>%@`";
  uint32_t seed = 20261124;
  auto next = [&] {
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
  };
  size_t ok = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string t = base;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < edits; ++k) {
      const size_t at = next() % t.size();
      switch (next() % 3) {
        case 0: t[at] = alphabet[next() % (sizeof(alphabet) - 1)]; break;
        case 1: t.erase(at, 1 + next() % 8); break;
        default: t.insert(at, 1, alphabet[next() % (sizeof(alphabet) - 1)]);
      }
      if (t.empty()) t = "x";
    }
    auto r = load_policy(t, "fuzz.yaml");
    if (r.ok()) {
      ++ok;
    } else {
      ++refused;
      ASSERT_TRUE(r.has_errors()) << "refused without an error:\n" << t;
    }
  }
  EXPECT_GT(refused, 0u);
  EXPECT_GT(ok, 0u);
}

}  // namespace
}  // namespace bulkhead::rules
