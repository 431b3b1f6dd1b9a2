// The names connections were admitted by, kept while they live: a
// connection a DNS binding let in carries the name (and how old the answer
// was) into its flow records, and the sweep keeps that binding alive with
// it (docs/egress.md, "How the dataplane decides").
//
// A fixed pool of entries, one per live connection admitted by a name,
// taken at admission and given back once the connection's slot is
// reclaimed (after the grace period that lets every reader finish with
// it). When the pool is empty, a connection is admitted all the same and
// its later records lack the name (counted: `full`). Memory is taken once,
// at construction (ConnTable::enable_names, with the first rule set written
// with names): sizeof(Entry), about 520 bytes, an entry.
//
// Threads: acquire() by the worker admitting a connection, release() by the
// worker reclaiming its slot, each under one spin lock held for a constant
// time (only connections that reach a rule written with names pay it); any
// thread reads get() for a connection it knows live: an entry is written
// before its connection is published and never changes until released.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "dataplane/names/dns.h"

namespace bulkhead::dataplane::names {

class ConnNames {
 public:
  // No entry: the connection was not admitted by a name.
  static constexpr uint32_t kNone = 0;
  // Admitted by a name the pool had no room for.
  static constexpr uint32_t kNotKept = UINT32_MAX;

  static constexpr std::size_t kMaxServerName = 255;

  struct Entry {
    uint32_t bound_at;  // seconds of the binding table's clock: the answer's time
    uint32_t age_s;     // the answer's age when the connection was admitted
    // What the sweep last learnt of the binding that admitted it (the
    // worker whose sweep visits the connection writes them; 0 at first):
    // alive until at least `kept_until`, while the table's evictions stay
    // `kept_evictions`. Until then the sweep need not look it up. Beside
    // `outcome`, which the sweep reads first: one cache line.
    mutable std::atomic<uint32_t> kept_until{0};
    mutable std::atomic<uint32_t> kept_evictions{0};
    uint8_t outcome;    // NameOutcome (dataplane/flow_record.h) of its admission
    uint8_t len;
    char text[kMaxNameText];
    // The server name of its ClientHello, once judged (a rule with sni):
    // written by the worker that decided, the text before its length
    // (release); 0 until then.
    std::atomic<uint8_t> sni_len{0};
    bool sni_cut = false;
    char sni_text[kMaxServerName];
    std::string_view name() const noexcept { return {text, len}; }
    std::string_view sni() const noexcept { return {sni_text, sni_len.load(std::memory_order_acquire)}; }
  };


  explicit ConnNames(uint32_t capacity);
  ConnNames(const ConnNames&) = delete;
  ConnNames& operator=(const ConnNames&) = delete;

  // An entry holding `name` (canonical, at most kMaxNameText bytes):
  // a handle, or kNotKept when the pool is empty.
  uint32_t acquire(uint8_t outcome, std::string_view name, uint32_t bound_at, uint32_t age_s) noexcept;
  // Records the server name the connection of `handle` was judged by (the
  // one worker that decided it).
  void set_sni(uint32_t handle, std::string_view sni, bool cut) noexcept;
  // Gives back a handle acquire() returned (kNone and kNotKept: nothing).
  void release(uint32_t handle) noexcept;
  // The entry of a handle (neither kNone nor kNotKept).
  const Entry& get(uint32_t handle) const noexcept { return entries_[handle - 1]; }
  static bool kept(uint32_t handle) noexcept { return handle != kNone && handle != kNotKept; }

  uint32_t capacity() const noexcept { return capacity_; }
  uint32_t in_use() const noexcept { return in_use_.load(std::memory_order_relaxed); }
  uint64_t full() const noexcept { return full_.load(std::memory_order_relaxed); }
  std::size_t memory_bytes() const noexcept { return capacity_ * (sizeof(Entry) + sizeof(uint32_t)); }

 private:
  void lock() noexcept {
    while (lock_.test_and_set(std::memory_order_acquire)) {
    }
  }
  void unlock() noexcept { lock_.clear(std::memory_order_release); }

  uint32_t capacity_;
  std::unique_ptr<Entry[]> entries_;
  std::unique_ptr<uint32_t[]> free_;  // a stack of free handles
  uint32_t free_count_;
  std::atomic_flag lock_ = ATOMIC_FLAG_INIT;
  std::atomic<uint32_t> in_use_{0};
  std::atomic<uint64_t> full_{0};
};

}  // namespace bulkhead::dataplane::names
