// Flow records of denied packets, aggregated at the worker: one record per
// (source, destination, protocol, destination port, rule, tenant) and interval,
// with the packets and bytes it stands for, so a flood of denied packets
// becomes a few records instead of one per packet.
//
// A small direct-mapped table per worker (no sharing, no locks), placed by
// a keyed hash. A record leaves for the flow ring when its interval ends
// (flush(), from the sweep) or when another key takes its slot; records are
// also paced by a token bucket, so no input makes the worker emit more
// than `rate` records a second. A record that cannot leave is counted,
// never waited for.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "dataplane/flow_record.h"
#include "dataplane/keyed_hash.h"
#include "dataplane/packet.h"

namespace bulkhead::dataplane {

class DeniedRecords {
 public:
  // `interval_ms`: how long a record gathers packets; `rate`: records a
  // second at most.
  DeniedRecords(uint32_t interval_ms, uint32_t rate) noexcept
      : hash_(KeyedHash::random()), interval_ms_(interval_ms), rate_(rate), tokens_(rate) {}

  // Counts one denied packet of tenant tag `tenant` (ConnKey::tenant; 0
  // inline), with the attribution of its decision when a rule written
  // with names was in reach (`note`, kept from the first packet of the
  // record). `emit(const FlowEvent&, const NameNote*)` puts a record and
  // its note (or nullptr) on the worker's flow ring (the worker counts
  // those the ring refuses, flow_records_lost); suppressed() counts those
  // the rate never made.
  template <class Emit>
  void add(const PacketMeta& m, uint16_t tenant, uint32_t rule, uint32_t epoch, uint32_t len, uint32_t now_ms,
           bool opener, Emit&& emit, const NameNote* note = nullptr) noexcept {
    const uint64_t w0 = load64(m.tuple.src), w1 = load64(m.tuple.src + 8);
    const uint64_t w2 = load64(m.tuple.dst), w3 = load64(m.tuple.dst + 8);
    const uint64_t w4 = uint64_t{rule} << 32 | uint64_t{m.tuple.dport} << 16 | uint64_t{m.tuple.proto} << 8 |
                        m.tuple.family;
    const uint64_t words[kKeyWords] = {w0, w1, w2, w3, w4, tenant};
    const uint64_t placed[5] = {w0, w1, w2, w3, w4 + uint64_t{tenant} * 0x9e3779b97f4a7c15ull};
    Slot& s = slots_[hash_(placed) & (kSlots - 1)];
    if (s.used && std::memcmp(s.key, words, sizeof(words)) == 0) {
      s.ev.packets[0] += 1;
      s.ev.bytes[0] += len;
      s.ev.time_ms = now_ms;
      s.ev.flags[0] |= m.tcp_flags;
      return;
    }
    if (s.used && !send(s, now_ms, emit)) {
      ++suppressed_;  // the slot's record keeps it; this packet's record is not made
      return;
    }
    std::memcpy(s.key, words, sizeof(words));
    s.used = true;
    s.ev = FlowEvent{};
    s.ev.tuple = m.tuple;
    s.ev.rule = rule;
    s.ev.epoch = epoch;
    s.ev.start_ms = s.ev.time_ms = now_ms;
    s.ev.packets[0] = 1;
    s.ev.bytes[0] = len;
    s.ev.kind = pb::FlowRecord::DENIED;
    s.ev.verdict = pb::FlowRecord::DENY;
    s.ev.opener_known = opener;
    s.ev.flags[0] = m.tcp_flags;
    s.ev.tenant = tenant;
    s.noted = note != nullptr;
    if (s.noted) s.note = *note;
  }

  // Sends the records whose interval is over. Called from the sweep; a
  // whole pass over the table happens at most every interval/8.
  template <class Emit>
  void flush(uint32_t now_ms, Emit&& emit) noexcept {
    refill(now_ms);
    if (static_cast<int32_t>(now_ms - last_flush_ms_) < static_cast<int32_t>(interval_ms_ / 8 + 1)) return;
    last_flush_ms_ = now_ms;
    for (Slot& s : slots_)
      if (s.used && static_cast<int32_t>(now_ms - s.ev.start_ms) >= static_cast<int32_t>(interval_ms_)) {
        if (!send(s, now_ms, emit)) ++suppressed_;
        s.used = false;
      }
  }

  // Records not made or not sent because of the rate limit.
  uint64_t suppressed() const noexcept { return suppressed_; }

 private:
  static constexpr uint32_t kSlots = 1024;
  static constexpr size_t kKeyWords = 6;

  struct Slot {
    uint64_t key[kKeyWords];
    FlowEvent ev;
    bool used = false;
    bool noted = false;  // `note` holds the attribution of its decision
    NameNote note;
  };

  static uint64_t load64(const uint8_t* p) noexcept {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }

  void refill(uint32_t now_ms) noexcept {
    const uint32_t elapsed = now_ms - refilled_ms_;
    if (elapsed < 100) return;
    refilled_ms_ = now_ms;
    const uint64_t add = uint64_t{rate_} * elapsed / 1000;
    tokens_ = static_cast<uint32_t>(std::min<uint64_t>(rate_, tokens_ + add));
  }

  template <class Emit>
  bool send(Slot& s, uint32_t now_ms, Emit& emit) noexcept {
    refill(now_ms);
    if (tokens_ == 0) return false;
    --tokens_;
    emit(s.ev, s.noted ? &s.note : nullptr);
    return true;
  }

  KeyedHash hash_;
  uint32_t interval_ms_;
  uint32_t rate_;
  uint32_t tokens_;
  uint32_t refilled_ms_ = 0;
  uint32_t last_flush_ms_ = 0;
  uint64_t suppressed_ = 0;
  std::array<Slot, kSlots> slots_{};
};

}  // namespace bulkhead::dataplane
