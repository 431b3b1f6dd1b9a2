// The policy as written: the parsed model of a policy file, before
// compilation. Every element keeps where it was written so later stages
// (compiler, analysis, explain) can point at it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/protocols.h"
#include "rules/names.h"
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

// One element of `from` / `to`. A `to:` may also hold names
// (docs/egress.md): `fqdn:` patterns are destinations (addresses a trusted
// resolver's answer bound to a matching name), `sni:` patterns narrow the
// rule to connections whose TLS/QUIC server name matches. One item per
// pattern, in the order written.
struct AddressItem {
  enum class Kind { any, segment, literal, fqdn, sni };
  Kind kind = Kind::any;
  std::string text;     // as written: segment name, CIDR literal, "any", or the name pattern
  Prefix prefix;        // for literals
  NamePattern pattern;  // for fqdn and sni, canonical
  Location loc;
  bool is_name() const { return kind == Kind::fqdn || kind == Kind::sni; }
};

struct SegmentDef {
  std::string name;
  std::vector<Prefix> cidrs;
  std::vector<Prefix> except;
  // Names of the segment (`fqdn:`): destinations a rule's `to:` reaches
  // through DNS answers, beside its cidrs. A segment with names is never a
  // source.
  std::vector<NamePattern> fqdn;
  std::optional<PolicyMode> mode;  // rules naming the segment run in it, unless they set their own
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
  std::optional<PolicyMode> mode;  // the rule's own; unset: its segments', else the policy's
};

// What to do when a connection waiting for its server name gives none
// usable (docs/egress.md).
enum class SniFallback { deny, allow };

// The policy's `dns:` block: how names are learnt. Unset values take the
// defaults of rules/compiler.h (kNameDefaults); `present` says the block
// was written.
struct DnsDef {
  bool present = false;
  Location loc;
  std::vector<AddressItem> trusted;  // segments and literals
  std::optional<uint32_t> grace;     // seconds after a record's TTL
  std::optional<uint32_t> max_addresses_per_name;
  std::optional<uint32_t> max_names;
  std::optional<uint32_t> max_bindings;
};

// The policy's `tls:` block: how server names are read and judged.
struct TlsDef {
  bool present = false;
  Location loc;
  std::optional<std::vector<PortRange>> ports;       // TCP, read for a ClientHello
  std::optional<std::vector<PortRange>> quic_ports;  // UDP, read as QUIC
  std::optional<uint32_t> hello_packets;
  std::optional<uint32_t> hello_ms;
  std::optional<SniFallback> no_sni, timeout, ech, mismatch;
  std::optional<bool> reset;
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
  DnsDef dns;
  TlsDef tls;
  std::vector<RuleDef> rules;      // the shared rules: every packet's
  std::vector<TenantDef> tenants;  // each with its own rules, judged first
};

}  // namespace bulkhead::rules
