// ClassBench filter sets: parsing and conversion to a policy.
//
// A filter line: "@SRC/LEN DST/LEN SLO : SHI DLO : DHI PROTO/MASK FLAGS/MASK"
// (the TCP flags field is ignored, as by most classifiers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bulkhead::cli {

struct ClassBenchRule {
  uint32_t src = 0, dst = 0;  // host order
  uint8_t src_len = 0, dst_len = 0;
  uint16_t sport_lo = 0, sport_hi = 65535;
  uint16_t dport_lo = 0, dport_hi = 65535;
  uint8_t proto = 0;
  bool any_proto = true;
};

// Parses one filter line; false with `error` when malformed.
bool parse_classbench_line(std::string_view line, ClassBenchRule& rule, std::string& error);

// Converts a whole filter set into policy YAML: rule order kept, ids r1, r2,
// ..., every rule an allow, default deny. Throws UsageError naming the line.
std::string classbench_to_policy(std::string_view text, std::string_view source_name);

}  // namespace bulkhead::cli
