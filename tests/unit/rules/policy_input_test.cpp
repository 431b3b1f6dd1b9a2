// Hostile policy input: every reader of a policy (the CLI, the dataplane on
// SIGHUP, the control plane on apply) does work and prints output bounded
// by the documented limits, whatever the file holds.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "rules/compiler.h"
#include "rules/load.h"
#include "rules/parser.h"

namespace bulkhead::rules {
namespace {

size_t output_bytes(const std::vector<Diagnostic>& d) {
  size_t n = 0;
  for (const auto& x : d) n += x.str().size() + 1;
  return n;
}

bool mentions(const Diagnostic& d, const std::string& what) { return d.message.find(what) != std::string::npos; }

std::string segments(int n) {
  std::string t = "segments:\n";
  for (int i = 0; i < n; ++i)
    t += "  segment-" + std::to_string(i) + ": [10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) +
         ".0/24]\n";
  return t;
}

TEST(PolicyInput, UnknownSegmentErrorsAreBoundedWhateverTheirNumber) {
  // 2,000 segments and 8,000 unknown references: each error used to list
  // every segment (512 MB of output).
  std::string text = "version: 1\n" + segments(2000) + "rules:\n";
  for (int i = 0; i < 8000; ++i) text += "  - { id: r" + std::to_string(i) + ", from: nosuch-" + std::to_string(i) + ", action: allow }\n";
  const auto r = parse_policy(text, "p.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.diagnostics.size(), kPolicyLimits.max_diagnostics + 1);
  EXPECT_LT(output_bytes(r.diagnostics), 16u * 1024);
  EXPECT_TRUE(mentions(r.diagnostics.front(), "unknown segment 'nosuch-0' (2000 segments are defined; none is close)"))
      << r.diagnostics.front().str();
  EXPECT_TRUE(mentions(r.diagnostics.back(), "7950 more problems not shown")) << r.diagnostics.back().str();
  EXPECT_EQ(r.diagnostics.back().severity, Diagnostic::Severity::error);
}

TEST(PolicyInput, AnUnknownSegmentSuggestsTheClosestFew) {
  std::string text = "version: 1\n" + segments(40) + "rules:\n  - { id: a, from: segment-3x, action: allow }\n";
  const auto r = parse_policy(text, "p.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  // Within two edits: segment-3 (one), segment-30..39 (one), segment-1..9
  // (two): the three closest, then by name.
  EXPECT_EQ(r.diagnostics[0].message,
            "unknown segment 'segment-3x' (did you mean 'segment-3', 'segment-30' or 'segment-31'?)");
  // A few segments are all listed, as before.
  const auto few = parse_policy("version: 1\n" + segments(2) + "rules:\n  - { id: a, from: dbs, action: allow }\n", "p.yaml");
  ASSERT_FALSE(few.ok());
  EXPECT_EQ(few.diagnostics[0].message, "unknown segment 'dbs' (defined: segment-0, segment-1)");
}

TEST(PolicyInput, TheNestingLimitHoldsOnTheParsersOwnEvents) {
  // An apostrophe in a plain scalar switched the old pre-scan off (it
  // took the rest of the file for a quoted string); 40,000 levels then
  // took 7.5 s.
  const std::string flow = "version: 1\nrules:\n  - id: a\n    description: it's\n    from: " + std::string(40000, '[') + "\n";
  const auto r = parse_policy(flow, "p.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_TRUE(mentions(r.diagnostics[0], "nesting deeper than 32 levels")) << r.diagnostics[0].str();
  // The root map, the rules list, the rule map, then the 30th bracket.
  EXPECT_EQ(r.diagnostics[0].line, 5u);
  EXPECT_EQ(r.diagnostics[0].column, 11u + 29);

  std::string block = "version: 1\nrules:\n  - description: it's\n";
  for (int i = 0; i < 900; ++i) block += std::string(static_cast<size_t>(i) + 2, ' ') + "-\n";
  const auto b = parse_policy(block, "p.yaml");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(mentions(b.diagnostics[0], "nesting deeper than 32 levels")) << b.diagnostics[0].str();
}

TEST(PolicyInput, ADuplicateKeyNamesBothPlaces) {
  const auto r = parse_policy("version: 1\nrules:\n  - { id: a, action: allow, action: deny }\n", "p.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].str(), "p.yaml:3:29: error: duplicate key 'action' in rule (first at 3:14)");

  const auto rules = parse_policy(
      "version: 1\nrules:\n  - { id: a, action: allow }\nrules:\n  - { id: b, action: deny }\n", "p.yaml");
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.diagnostics[0].str(), "p.yaml:4:1: error: duplicate key 'rules' in policy (first at 2:1)");

  const auto seg = parse_policy("version: 1\nsegments:\n  web: [10.0.0.0/8]\n  web: [11.0.0.0/8]\n", "p.yaml");
  ASSERT_FALSE(seg.ok());
  EXPECT_EQ(seg.diagnostics[0].str(), "p.yaml:4:3: error: duplicate segment 'web' (first at 3:3)");

  const auto defaults = parse_policy("version: 1\ndefaults: { mode: audit, mode: enforce }\n", "p.yaml");
  ASSERT_FALSE(defaults.ok());
  EXPECT_TRUE(mentions(defaults.diagnostics[0], "duplicate key 'mode' in defaults (first at 2:13)"));
}

TEST(PolicyInput, AFileOfSeveralDocumentsIsRefused) {
  const auto r = parse_policy("version: 1\nrules: []\n---\nversion: 1\nrules:\n  - { id: a, action: allow }\n", "p.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.diagnostics[0].str(), "p.yaml:3:1: error: YAML syntax: a second YAML document starts here; a file holds one");
  // One document with its markers is fine.
  EXPECT_TRUE(parse_policy("---\nversion: 1\nrules: []\n...\n", "p.yaml").ok());
}

TEST(PolicyInput, AnExpiryIsATimeOrAnError) {
  for (const char* bad : {"0", "''", "9223372036854775807", "999999999999999999", "-1", "1.5"}) {
    const auto r = parse_policy(std::string("version: 1\nrules:\n  - { id: a, action: allow, expires: ") + bad + " }\n",
                                "p.yaml");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(mentions(r.diagnostics[0], "expires must be a UTC time")) << r.diagnostics[0].str();
  }
  const auto ok = parse_policy("version: 1\nrules:\n  - { id: a, action: allow, expires: 1 }\n", "p.yaml");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value->rules[0].expires_at, 1);
}

TEST(PolicyInput, EachLimitIsAClearError) {
  {
    std::string text = "version: 1\nrules:\n";
    for (size_t i = 0; i <= kPolicyLimits.max_rules; ++i) text += "  - { id: r" + std::to_string(i) + ", action: allow }\n";
    const auto r = parse_policy(text, "p.yaml");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.diagnostics[0].str(), "p.yaml:3:3: error: 50001 rules; a policy holds at most 50000");
  }
  {
    const auto r = parse_policy("version: 1\n" + segments(static_cast<int>(kPolicyLimits.max_segments) + 1), "p.yaml");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.diagnostics[0].str(), "p.yaml:3:3: error: 10001 segments; a policy holds at most 10000");
  }
  {
    std::string text = "version: 1\nsegments:\n  big: [";
    for (size_t i = 0; i <= kPolicyLimits.max_prefixes; ++i)
      text += (i ? ", " : "") + std::string("10.") + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) +
              "." + std::to_string(i % 256);
    text += "]\n";
    const auto r = parse_policy(text, "p.yaml");
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_TRUE(mentions(r.diagnostics[0], "more than 200000 CIDRs in one policy")) << r.diagnostics[0].str();
  }
  {
    std::string text = "version: 1\n# " + std::string(kPolicyLimits.max_bytes, 'x') + "\n";
    const auto r = parse_policy(text, "p.yaml");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.diagnostics[0].str(), "p.yaml: error: the file is larger than 16 MiB, the most a policy file may hold");
  }
  {
    // 2,000 x 2,000 host prefixes: one rule of 4,000,000 classifier
    // entries is allowed, one more entry is not.
    std::string text = "version: 1\nsegments:\n";
    for (const char* side : {"a", "b"}) {
      text += std::string("  ") + side + ": [";
      for (int i = 0; i < 2000; ++i)
        // Even addresses only: no two are halves of one /31 to merge.
        text += (i ? ", " : "") + std::string(side[0] == 'a' ? "10.0." : "10.1.") + std::to_string(i / 125) + "." +
                std::to_string(i % 125 * 2);
      text += "]\n";
    }
    text += "rules:\n  - { id: big, from: a, to: b, action: allow }\n";
    EXPECT_TRUE(load_policy(text, "p.yaml").ok());
    const auto r = load_policy(text + "  - { id: more, from: 10.9.9.9, to: 10.8.8.8, action: allow }\n", "p.yaml");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.diagnostics[0].str(),
              "p.yaml:7:5: error: the rules up to 'more' stand for more than 4000000 classifier entries (source x "
              "destination prefixes x port ranges); narrow or split them");
  }
}

TEST(PolicyInput, TextFromTheFileIsQuotedShortInErrors) {
  const std::string long_action(100000, 'z');
  const auto r = parse_policy("version: 1\nrules:\n  - { id: a, action: " + long_action + " }\n", "p.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.diagnostics[0].message.size(), 200u);
  EXPECT_TRUE(mentions(r.diagnostics[0], "zzz...'"));
}

// The set difference against a check of every address of a small space.
TEST(PolicyInput, SubtractingManyExceptionsIsExact) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<Prefix> set, remove;
    auto random_prefix = [&] {
      Prefix p;
      p.family = 4;
      p.addr = {10, 0, static_cast<uint8_t>(rng() % 4), static_cast<uint8_t>(rng() % 256)};
      p.len = static_cast<uint8_t>(22 + rng() % 11);
      for (unsigned b = p.len; b < 32; ++b) p.addr[b / 8] &= static_cast<uint8_t>(~(1u << (7 - b % 8)));
      return p;
    };
    for (int i = 0; i < 3; ++i) set.push_back(random_prefix());
    for (int i = 0; i < 12; ++i) remove.push_back(random_prefix());
    const auto result = subtract(set, remove);
    for (unsigned host = 0; host < 1024; ++host) {
      const std::array<uint8_t, 16> a{10, 0, static_cast<uint8_t>(host / 256), static_cast<uint8_t>(host % 256)};
      auto in = [&](const std::vector<Prefix>& v) {
        for (const auto& p : v)
          if (contains_address(p, 4, a)) return true;
        return false;
      };
      ASSERT_EQ(in(result), in(set) && !in(remove)) << "round " << round << " host " << host;
    }
  }
}

}  // namespace
}  // namespace bulkhead::rules
