// A straightforward reference matcher over a compiled rule set: first match
// wins, linear in the number of rules. It defines what the classifier must
// answer; the dataplane's rte_acl tables are checked against it, and explain
// uses it to say why earlier rules did not match.
//
// Names: a rule's name conditions are all taken as met, as in the
// classifier's first lookup (docs/egress.md, "How the dataplane decides"):
// a rule with `fqdn` holds any destination, and `sni` narrows nothing. What
// the dataplane then asks of the bindings and the server name is the
// caller's (`bulkhead policy explain --name/--sni`).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "proto/bulkhead.pb.h"

namespace bulkhead::rules {

struct Tuple {
  uint8_t family = 4;
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint8_t proto = 0;
  uint16_t sport = 0;  // ICMP: type
  uint16_t dport = 0;  // ICMP: code
  std::string tenant;  // one-armed insertion: the tenant it came under (empty: none, inline)
};

// "tcp", "udp", "icmp", "icmpv6", "sctp" or the number.
std::string proto_name(uint8_t proto);
// "tcp 10.0.1.5:41000 -> 10.0.2.9:5432", "udp [fd00::1]:53 -> [fd00::2]:53",
// "icmp 10.0.1.5 -> 10.0.2.9 type 8 code 0": the form explain reads back.
std::string format_tuple(const Tuple& t);

// Why a rule did not match a tuple (or `matched`).
enum class Mismatch { matched, tenant, family, source, destination, protocol, source_port, destination_port, expired };
const char* mismatch_name(Mismatch m);

Mismatch match_rule(const pb::CompiledRule& rule, const Tuple& t, int64_t now_unix);
// Whether the tuple's destination is one of the rule's addresses: its `dst`
// (any when empty), or for a rule with `fqdn` the addresses written beside
// the names (none when empty).
bool destination_holds(const pb::CompiledRule& rule, const Tuple& t);
// Index of the first matching rule, or -1 when the default decides.
int match_first(const pb::CompiledRuleSet& set, const Tuple& t, int64_t now_unix);
// The most specific segment holding the address, if any.
std::optional<std::string> segment_of(const pb::CompiledRuleSet& set, uint8_t family,
                                      const std::array<uint8_t, 16>& addr);

}  // namespace bulkhead::rules
