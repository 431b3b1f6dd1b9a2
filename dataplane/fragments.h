// Verdicts of first fragments, so later fragments of the same datagram can
// follow them (they carry no ports to classify).
//
// One small direct-mapped table per worker: no sharing, no locks. A newer
// datagram that hashes to the same slot replaces the older one; its later
// fragments then count as fragment_unknown. Entries live 2 seconds, like a
// reassembly timer that never holds packets.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "packet.h"

namespace bulkhead::dataplane {

class FragmentTable {
 public:
  enum Verdict : uint8_t { kUnknown = 0, kPass = 1, kDrop = 2 };

  void record(const PacketMeta& m, bool pass, uint32_t now_ms) noexcept {
    Slot& s = slots_[index(m)];
    std::memcpy(s.src, m.tuple.src, 16);
    std::memcpy(s.dst, m.tuple.dst, 16);
    s.id = m.frag_id;
    s.proto = m.tuple.proto;
    s.verdict = pass ? kPass : kDrop;
    s.expires_ms = now_ms + kLifetimeMs;
  }

  Verdict lookup(const PacketMeta& m, uint32_t now_ms) const noexcept {
    const Slot& s = slots_[index(m)];
    if (s.verdict == kUnknown || s.id != m.frag_id || s.proto != m.tuple.proto ||
        static_cast<int32_t>(s.expires_ms - now_ms) < 0 || std::memcmp(s.src, m.tuple.src, 16) != 0 ||
        std::memcmp(s.dst, m.tuple.dst, 16) != 0)
      return kUnknown;
    return static_cast<Verdict>(s.verdict);
  }

 private:
  static constexpr uint32_t kSlots = 4096;
  static constexpr uint32_t kLifetimeMs = 2000;

  struct Slot {
    uint8_t src[16];
    uint8_t dst[16];
    uint32_t id;
    uint32_t expires_ms;
    uint8_t proto;
    uint8_t verdict;
  };

  static uint32_t index(const PacketMeta& m) noexcept {
    uint32_t h = m.frag_id * 2654435761u;
    for (int i = 0; i < 16; i += 4) {
      uint32_t a, b;
      std::memcpy(&a, m.tuple.src + i, 4);
      std::memcpy(&b, m.tuple.dst + i, 4);
      h = (h ^ a) * 16777619u;
      h = (h ^ b) * 16777619u;
    }
    return (h ^ (h >> 15)) & (kSlots - 1);
  }

  std::array<Slot, kSlots> slots_{};
};

}  // namespace bulkhead::dataplane
