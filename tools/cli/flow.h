// Parsing of flows as people and tools write them.
//
//   flow strings (explain):  "tcp 10.0.1.5:41000 -> 10.0.2.9:5432"
//                            "udp [fd00:1::5]:5353 -> [fd00:2::9]:53"
//                            "icmp 10.0.1.5 -> 10.0.2.9 type 8 code 0"
//   tuple lines (eval):      "PROTO SRC SPORT DST DPORT", spaces or tabs
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "rules/match.h"
#include "rules/policy.h"

namespace bulkhead::cli {

// Protocol by name (tcp, udp, icmp, icmpv6, sctp) or number 0-255.
std::optional<uint8_t> parse_proto(std::string_view s);

// Returns false and sets `error` on malformed input.
bool parse_flow(std::string_view text, rules::Tuple& t, std::string& error);
bool parse_tuple_line(std::string_view line, rules::Tuple& t, std::string& error);

// Flows print as rules::format_tuple() writes them.
inline std::string format_flow(const rules::Tuple& t) { return rules::format_tuple(t); }

}  // namespace bulkhead::cli
