// Verdicts of first fragments, so later fragments of the same datagram can
// follow them (they carry no ports to classify).
//
// One small direct-mapped table per worker: no sharing, no locks. A newer
// datagram that hashes to the same slot replaces the older one; its later
// fragments then count as fragment_unknown. The slot comes from a keyed
// hash, so a sender cannot aim a fragment at another datagram's slot.
// Entries live 2 seconds, like a reassembly timer that never holds packets.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "dataplane/keyed_hash.h"
#include "dataplane/packet.h"

namespace bulkhead::dataplane {

class FragmentTable {
 public:
  enum class Verdict : uint8_t { unknown = 0, pass = 1, drop = 2 };

  FragmentTable() noexcept : hash_(KeyedHash::random()) {}

  void record(const PacketMeta& m, bool pass, uint32_t now_ms) noexcept {
    Slot& s = slots_[index(m)];
    std::memcpy(s.src, m.tuple.src, 16);
    std::memcpy(s.dst, m.tuple.dst, 16);
    s.id = m.frag_id;
    s.proto = m.tuple.proto;
    s.verdict = pass ? Verdict::pass : Verdict::drop;
    s.expires_ms = now_ms + kLifetimeMs;
  }

  Verdict lookup(const PacketMeta& m, uint32_t now_ms) const noexcept {
    const Slot& s = slots_[index(m)];
    if (s.verdict == Verdict::unknown || s.id != m.frag_id || s.proto != m.tuple.proto ||
        static_cast<int32_t>(s.expires_ms - now_ms) < 0 || std::memcmp(s.src, m.tuple.src, 16) != 0 ||
        std::memcmp(s.dst, m.tuple.dst, 16) != 0)
      return Verdict::unknown;
    return s.verdict;
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
    Verdict verdict;
  };

  // The datagram's addresses, identification and protocol as the hash's
  // five words.
  uint32_t index(const PacketMeta& m) const noexcept {
    uint64_t w[5];
    std::memcpy(w, m.tuple.src, 16);
    std::memcpy(w + 2, m.tuple.dst, 16);
    w[4] = uint64_t{m.frag_id} << 8 | m.tuple.proto;
    return hash_(w) & (kSlots - 1);
  }

  KeyedHash hash_;
  std::array<Slot, kSlots> slots_{};
};

}  // namespace bulkhead::dataplane
