// The policy as written: the parsed model of a policy file, before
// compilation. Every element keeps where it was written so later stages
// (compiler, analysis, explain) can point at it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/protocols.h"
#include "rules/prefix.h"

namespace bulkhead::rules {

struct Location {
  uint32_t line = 0;    // 1-based
  uint32_t column = 0;  // 1-based
};

enum class Action { deny, allow };
enum class PolicyMode { enforce, audit, learn };

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  bool operator==(const PortRange&) const = default;
};

// One element of `from` / `to`.
struct AddressItem {
  enum class Kind { any, segment, literal };
  Kind kind = Kind::any;
  std::string text;  // as written: segment name, CIDR literal or "any"
  Prefix prefix;     // for literals
  Location loc;
};

struct SegmentDef {
  std::string name;
  std::vector<Prefix> cidrs;
  std::vector<Prefix> except;
  Location loc;
  // The built-in `internet` (rules/internet.h), added because a rule names
  // it: never written back into the file.
  bool builtin = false;
};

struct RuleDef {
  std::string id;
  Location loc;
  std::vector<AddressItem> from;  // empty: any
  std::vector<AddressItem> to;    // empty: any
  bool any_proto = true;
  uint8_t proto = 0;
  std::string proto_text;         // as written, for formatting
  std::vector<PortRange> ports;   // destination; empty: any
  std::vector<PortRange> sports;  // source; empty: any
  std::vector<uint8_t> icmp_types;
  Action action = Action::deny;
  bool log = false;
  int64_t expires_at = 0;  // unix seconds; 0 = never
  std::string description;
};

// Where a list of rules sits in the source, for edits that keep the rest
// of the file as written: the line of its `rules:` key (0: the list is
// absent), the line of the next key after the list at its level or an outer
// one (0: the list runs to the end of the file), whether it is written
// inline, and, for a list that is absent, where its key would go.
struct RuleListPlace {
  uint32_t rules_line = 0;
  uint32_t after_rules_line = 0;
  bool rules_inline = false;
  uint32_t key_column = 1;   // where `rules:` starts (absent: would start)
  uint32_t insert_after = 0;  // absent: the line after which `rules:` goes (0: the end of the file)
  bool map_inline = false;    // absent: its map is written inline, so no key can be added as a line
};

// A tenant of one-armed insertion: the traffic that comes under one load
// balancer endpoint id (AWS GWLB) or VNI (VXLAN, GENEVE without AWS's
// options), and the rules judged for it alone, before the shared ones.
struct TenantDef {
  std::string name;
  bool by_endpoint = true;  // id is an endpoint id (else a VNI)
  uint64_t id = 0;
  Location loc;
  std::vector<RuleDef> rules;
  RuleListPlace place;
};

struct Policy {
  RuleListPlace place;  // where the shared rules sit in the source

  std::string source_name;
  std::string source_text;
  int version = 1;
  Action default_action = Action::deny;
  PolicyMode mode = PolicyMode::enforce;
  std::vector<SegmentDef> segments;
  std::vector<RuleDef> rules;      // the shared rules: every packet's
  std::vector<TenantDef> tenants;  // each with its own rules, judged first
};

}  // namespace bulkhead::rules
