// Parser of policy files (YAML) into the Policy model, with validation of
// everything that can be checked locally: keys, types, CIDRs, ports,
// protocols, ICMP types, duplicate keys, ids, segments and tenants,
// unknown segments, and the limits below. Errors are collected in file order, at
// most kPolicyLimits.max_diagnostics of them (then one line saying how many
// more there were). Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rules/diagnostic.h"
#include "rules/policy.h"

namespace bulkhead::rules {

// What one policy (or inventory) file may hold; each limit passed is an
// error naming it. They bound what a hostile file can cost every reader:
// a policy at all of them validates, analysis included, in the time
// docs/policy.md states.
struct PolicyLimits {
  size_t max_bytes = 16u << 20;        // the file
  size_t max_rules = 50'000;
  size_t max_segments = 10'000;
  size_t max_tenants = 1024;           // as many as a dataplane's --tenant list holds
  size_t max_prefixes = 200'000;       // CIDRs written: segments' cidrs and except, and rule literals
  size_t max_name_patterns = 100'000;  // fqdn and sni patterns written, in rules and segments
  uint32_t max_depth = 32;             // YAML collections open at once
  size_t max_diagnostics = 50;         // errors and warnings reported of one file
};
inline constexpr PolicyLimits kPolicyLimits;

Result<Policy> parse_policy(std::string_view text, std::string_view source_name);
Result<Policy> parse_policy_file(const std::string& path);

// An inventory: a file with only the `segments:` map of a policy (and
// optionally `version: 1`), checked the same way. The result has no rules.
Result<Policy> parse_inventory(std::string_view text, std::string_view source_name);
Result<Policy> parse_inventory_file(const std::string& path);

// ICMP type names of a protocol (icmp or icmpv6); -1 when unknown.
int icmp_type_by_name(uint8_t proto, std::string_view name);
const char* icmp_type_name(uint8_t proto, uint8_t type);

}  // namespace bulkhead::rules
