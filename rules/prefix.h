// IPv4 and IPv6 address prefixes and the set operations the compiler needs.
//
// A Prefix keeps its address in 16 bytes, network order; an IPv4 address
// uses the first 4. Bits past the length are always zero. Pure value type.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulkhead::rules {

struct Prefix {
  uint8_t family = 4;  // 4 or 6
  std::array<uint8_t, 16> addr{};
  uint8_t len = 0;

  uint8_t max_len() const { return family == 4 ? 32 : 128; }
  bool operator==(const Prefix&) const = default;
  auto operator<=>(const Prefix&) const = default;
};

// Parses "10.0.0.0/8", "fd00::/8" or a bare address (a host prefix). On
// failure returns nullopt and a message in `error`; host bits set is an
// error that suggests the intended prefix.
std::optional<Prefix> parse_prefix(std::string_view text, std::string& error);
// Parses a bare IPv4 or IPv6 address.
bool parse_address(std::string_view text, uint8_t& family, std::array<uint8_t, 16>& addr);

std::string format_prefix(const Prefix& p);
std::string format_address(uint8_t family, const std::array<uint8_t, 16>& addr);
// A prefix as people write it: a host prefix as its address alone.
std::string prefix_text(const Prefix& p);

bool contains(const Prefix& outer, const Prefix& inner);
bool contains_address(const Prefix& p, uint8_t family, const std::array<uint8_t, 16>& addr);

// Sorts, drops prefixes covered by others and merges sibling halves.
std::vector<Prefix> normalise(std::vector<Prefix> set);
// The set difference `set` minus `remove`, as disjoint prefixes.
std::vector<Prefix> subtract(const std::vector<Prefix>& set, const std::vector<Prefix>& remove);

}  // namespace bulkhead::rules
