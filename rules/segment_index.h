// Which segment an address belongs to, fast: the compiled segments'
// disjoint prefixes in one hash table per prefix length, probed from the
// longest length down. Built once per rule set; read-only afterwards, so
// any number of threads may look up concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto/bulkhead.pb.h"

namespace bulkhead::rules {

class SegmentIndex {
 public:
  SegmentIndex() = default;
  explicit SegmentIndex(const pb::CompiledRuleSet& set);

  // Index into names() of the most specific segment holding the address,
  // or -1.
  int find(uint8_t family, const std::array<uint8_t, 16>& addr) const;
  int find(uint8_t family, const uint8_t* addr) const;
  const std::vector<std::string>& names() const noexcept { return names_; }
  // "" for -1.
  const std::string& name(int index) const;
  bool empty() const noexcept { return names_.empty(); }

 private:
  struct Key {
    uint64_t hi = 0, lo = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept {
      return static_cast<size_t>((k.hi * 0x9E3779B97F4A7C15ull) ^ (k.lo + 0x632BE59BD9B4E019ull + (k.hi >> 17)));
    }
  };
  struct Level {
    uint8_t len;
    std::unordered_map<Key, int, KeyHash> map;
  };
  static Key masked(const uint8_t* addr, uint8_t len);

  std::vector<std::string> names_;
  std::vector<Level> levels_[2];  // [IPv4, IPv6], longest length first
};

}  // namespace bulkhead::rules
