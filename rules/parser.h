// Parser of policy files (YAML) into the Policy model, with validation of
// everything that can be checked locally: keys, types, CIDRs, ports,
// protocols, ICMP types, duplicate ids and segments, unknown segments.
// All errors are collected, in file order. Thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>

#include "rules/diagnostic.h"
#include "rules/policy.h"

namespace bulkhead::rules {

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
