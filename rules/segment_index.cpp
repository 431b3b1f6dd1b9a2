#include "rules/segment_index.h"

#include <algorithm>
#include <cstring>

namespace bulkhead::rules {

SegmentIndex::Key SegmentIndex::masked(const uint8_t* addr, uint8_t len) {
  uint8_t b[16] = {};
  const unsigned full = len / 8;
  std::memcpy(b, addr, full);
  if (len % 8 != 0) b[full] = static_cast<uint8_t>(addr[full] & (0xFF << (8 - len % 8)));
  Key k;
  std::memcpy(&k.hi, b, 8);
  std::memcpy(&k.lo, b + 8, 8);
  k.lo ^= len;  // a /0 and a /8 of zeros differ
  return k;
}

SegmentIndex::SegmentIndex(const pb::CompiledRuleSet& set) {
  for (const auto& seg : set.segments()) {
    const int index = static_cast<int>(names_.size());
    names_.push_back(seg.name());
    for (const auto& p : seg.prefixes()) {
      const int f = p.addr().size() == 16 ? 1 : 0;
      const auto len = static_cast<uint8_t>(p.prefix_len());
      uint8_t addr[16] = {};
      std::memcpy(addr, p.addr().data(), std::min<size_t>(p.addr().size(), 16));
      auto& levels = levels_[f];
      auto it = std::find_if(levels.begin(), levels.end(), [&](const Level& l) { return l.len == len; });
      if (it == levels.end()) {
        levels.push_back(Level{len, {}});
        it = levels.end() - 1;
      }
      it->map.emplace(masked(addr, len), index);  // disjoint within a segment; the first segment wins a tie
    }
  }
  for (auto& levels : levels_)
    std::sort(levels.begin(), levels.end(), [](const Level& a, const Level& b) { return a.len > b.len; });
}

int SegmentIndex::find(uint8_t family, const uint8_t* addr) const {
  for (const auto& level : levels_[family == 6 ? 1 : 0]) {
    auto it = level.map.find(masked(addr, level.len));
    if (it != level.map.end()) return it->second;
  }
  return -1;
}

int SegmentIndex::find(uint8_t family, const std::array<uint8_t, 16>& addr) const {
  return find(family, addr.data());
}

const std::string& SegmentIndex::name(int index) const {
  static const std::string none;
  return index < 0 || index >= static_cast<int>(names_.size()) ? none : names_[index];
}

}  // namespace bulkhead::rules
