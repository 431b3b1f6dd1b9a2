// The connection table shared by all workers.
//
// A bucketised open-addressing table of our own, keyed by a canonical
// (direction-free) tuple (dataplane/connection.h). Each slot holds the key
// and the connection's state side by side (96 bytes), so a lookup touches
// the bucket's signature line and the slot, and a new connection writes one
// slot. Buckets are 16 slots wide; a key lives in its home bucket or, when
// that is full, in one of the next few (each bucket counts the entries that
// passed it, so a miss stops at the first bucket nothing passed).
//
// Readers never lock. Writers claim a free slot with a compare-and-swap and
// publish the key's signature last; inserts of keys with the same home
// bucket serialise on that bucket's lock, so a key is never stored twice.
// Removed slots stay claimed until every worker has reported a quiescent
// state (QSBR) after the removal, so a worker that found a slot just before
// it was removed may still read it safely; each worker keeps its own queue
// of slots waiting for that.
//
// Who writes and who reads each field of an entry is said at ConnEntry
// (dataplane/connection.h). The rules the table itself keeps:
//
//   * Only the thread whose insert() made a slot (`created`) fills its
//     entry, and publishes it live last. A key found with its entry still
//     free is being filled by another thread: that thread's packet is not
//     one of the connection's yet (the worker passes it untracked).
//   * A live entry is never filled again: a connection is ended (claim,
//     remove) and a new one gets a new slot.
//   * Beside each slot, a fold word: how much of the connection's traffic is
//     already in the rule counters. Only the thread that holds the entry's
//     claim (claim(): in_use live -> claimed) reads or writes it, so the
//     traffic is folded exactly once; reclaim() zeroes it for the slot's
//     next connection.
//   * Each worker's reclamation queue (its removed slots waiting for a grace
//     period) is written and read by that worker only; count() and
//     retiring() sum the queues' counters with relaxed loads from any thread.
//
// Expiry is incremental: each worker examines a few buckets of its own
// share per loop pass.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/protocols.h"
#include "dataplane/config.h"
#include "dataplane/connection.h"
#include "dataplane/keyed_hash.h"
#include "dataplane/names/conn_names.h"
#include "dataplane/packet.h"
#include "dataplane/table_memory.h"

struct rte_rcu_qsbr;

namespace bulkhead::dataplane {

class ConnTable {
 public:
  ConnTable(const ConnTable&) = delete;
  ConnTable& operator=(const ConnTable&) = delete;
  ~ConnTable();

  // `qsbr` is the variable the workers (ids 0 .. workers-1) report
  // quiescence to.
  static std::unique_ptr<ConnTable> create(uint32_t max_connections, uint32_t workers, rte_rcu_qsbr* qsbr,
                                           std::string& error);

  // Bulk lookup: positions[i] >= 0 on a hit, negative on a miss. With
  // `hashes`, also each key's hash, so that inserting a missed key need not
  // hash it again.
  void lookup_bulk(const ConnKey* const* keys, uint32_t n, int32_t* positions,
                   uint32_t* hashes = nullptr) const noexcept;
  // Inserts, or finds the key already there; returns its slot, or -1 when
  // the table is full. A new slot's entry has in_use == kEntryFree, and
  // `*created` (when given) says whether this call made it: only the thread
  // that made a slot fills its entry and publishes it. A key found with an
  // entry still free is being filled by another thread right now.
  int32_t insert(const ConnKey& key, uint32_t worker, bool* created = nullptr) noexcept {
    return insert(key, hash(key), worker, created);
  }
  // The same, with the key's hash from lookup_bulk().
  int32_t insert(const ConnKey& key, uint32_t key_hash, uint32_t worker, bool* created = nullptr) noexcept;
  // Removes the connection at `pos` (the caller owns the sweep share or the
  // decision); safe against concurrent readers. False when `worker`'s queue
  // of slots waiting for a grace period is full: the connection stays, to be
  // removed on a later try.
  bool remove(int32_t pos, uint32_t worker) noexcept;
  // True when `worker` cannot remove another connection before reclaim().
  bool retire_full(uint32_t worker) const noexcept {
    return retired_[worker].tail - retired_[worker].head >= kRetireCapacity;
  }
  // Stamps the slots `worker` removed since the last call with one grace
  // period token, and frees those whose grace period is over. Called once
  // per loop pass, outside any lookup.
  void reclaim(uint32_t worker) noexcept;

  // Takes the entry's claim (live -> claimed); false when it is not live
  // or another thread holds it. release() gives it back (claimed -> live);
  // remove() ends it.
  bool claim(int32_t pos) noexcept {
    uint8_t expect = kEntryLive;
    return __atomic_compare_exchange_n(&slots_[pos].entry.in_use, &expect, kEntryClaimed, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
  }
  void release(int32_t pos) noexcept { __atomic_store_n(&slots_[pos].entry.in_use, kEntryLive, __ATOMIC_RELEASE); }
  // The slot's fold word (only under the claim); zero for a new connection.
  uint64_t& folded(int32_t pos) noexcept { return folded_[pos]; }

  // The name the slot's connection was admitted by (names::ConnNames
  // handle; kNone: not by a name). Written by the admitting worker before
  // it publishes the entry, read by any thread that finds the entry live;
  // the handle goes back to the pool when the slot is reclaimed, after its
  // grace period, so no reader is left holding it.
  uint32_t& name_of(int32_t pos) noexcept { return name_of_.load(std::memory_order_relaxed)[pos]; }
  // The worker that judges a connection's server name may give it a handle
  // later (release; read with acquire).
  uint32_t name_of(int32_t pos) const noexcept {
    const uint32_t* a = name_of_.load(std::memory_order_acquire);
    return a != nullptr ? __atomic_load_n(&a[pos], __ATOMIC_ACQUIRE) : names::ConnNames::kNone;
  }
  names::ConnNames& names() noexcept { return *names_.load(std::memory_order_acquire); }
  const names::ConnNames& names() const noexcept { return *names_.load(std::memory_order_acquire); }
  // Takes the names' pool and the slots' handles (once; later calls do
  // nothing): by the thread that applies the first rule set written with
  // names, before it publishes the set, so a table that never sees names
  // never holds them. Until then name_of() is kNone everywhere, and only a
  // worker under a set with names writes a handle or calls names().
  void enable_names();

  ConnEntry& entry(int32_t pos) noexcept { return slots_[pos].entry; }
  const ConnEntry& entry(int32_t pos) const noexcept { return slots_[pos].entry; }
  const ConnKey& key(int32_t pos) const noexcept { return slots_[pos].key; }

  uint32_t slots() const noexcept { return nslots_; }
  uint32_t buckets() const noexcept { return nbuckets_; }
  // One bit per slot of `bucket` that holds a key (a published signature).
  uint32_t occupied(uint32_t bucket) const noexcept;
  uint32_t max_connections() const noexcept { return max_; }
  // Live connections (sum of per-worker inserts minus removes).
  uint64_t count() const noexcept;
  // Slots removed and not yet free (waiting for a grace period).
  uint64_t retiring() const noexcept;
  uint64_t memory_bytes() const noexcept { return memory_bytes_ + names_bytes_.load(std::memory_order_relaxed); }
  // Sum over buckets of the entries stored past them (0 when every entry is
  // in its home bucket); a full scan, for tests and diagnostics.
  uint64_t passed_total() const noexcept;
  // Bytes of the table backed by transparent huge pages (when the EAL has
  // no hugepages).
  uint64_t huge_bytes() const noexcept {
    return slot_memory_.huge_bytes() + bucket_memory_.huge_bytes() + fold_memory_.huge_bytes();
  }
  // Bytes of the table mapped outside the EAL heap.
  uint64_t mapped_bytes() const noexcept {
    return slot_memory_.mapped_bytes() + bucket_memory_.mapped_bytes() + fold_memory_.mapped_bytes();
  }

  static constexpr uint32_t kBucketSlots = 16;
  // A key is stored at most this many buckets past its home (fewer in a
  // table of fewer buckets).
  static constexpr uint32_t kMaxProbe = 128;
  // Slots a worker may have waiting for a grace period (a power of two:
  // its queue is a ring indexed by a mask). Each pass frees what every
  // worker has passed over, so this bounds a burst of removals (a mass
  // expiry, a revoking reload) while a worker is slow to report, not the
  // table.
  static constexpr uint32_t kRetireCapacity = 16384;
  static_assert((kRetireCapacity & (kRetireCapacity - 1)) == 0);
  // Connections admitted by a DNS name whose name is kept at once (fewer
  // when the table holds fewer connections): 17 MiB at most.
  static constexpr uint32_t kMaxNamedConnections = 32768;

 private:
  ConnTable() = default;

  struct Slot {
    ConnKey key;
    ConnEntry entry;
  };
  static_assert(sizeof(Slot) == 96);

  // Signature 0: slot free; 1: claimed (being filled, or removed and
  // waiting for its grace period); anything else: a key's signature.
  struct alignas(64) Bucket {
    uint16_t sig[kBucketSlots];
    uint32_t passed;  // entries whose home is at or before this bucket, stored after it
    uint32_t lock;
  };
  static_assert(sizeof(Bucket) == 64);

  // Slots a worker removed, in order; `stamped` of them have a token.
  struct alignas(64) Retired {
    uint32_t* pos = nullptr;
    uint64_t* token = nullptr;
    uint64_t head = 0, stamped = 0, tail = 0;
    uint64_t inserted = 0;
    uint64_t removed = 0;
  };

  uint32_t hash(const ConnKey& key) const noexcept;
  uint32_t home(uint32_t h) const noexcept { return static_cast<uint32_t>((static_cast<uint64_t>(h) * nbuckets_) >> 32); }
  uint32_t next(uint32_t b) const noexcept { return b + 1 == nbuckets_ ? 0 : b + 1; }
  static uint16_t signature(uint32_t h) noexcept {
    const auto s = static_cast<uint16_t>(h);
    return s < 2 ? static_cast<uint16_t>(s + 2) : s;
  }
  // Finds `key` starting at bucket `b` and following the entries that
  // passed it; -1 when absent.
  int32_t find(const ConnKey& key, uint32_t b, uint16_t sig) const noexcept;
  // The slot of bucket `b` among `candidates` (one bit per slot) holding `key`, or -1.
  int32_t find_in(uint32_t b, uint32_t candidates, const ConnKey& key) const noexcept;
  // Fetches both cache lines of the first candidate slot of bucket `b`.
  template <int kForWrite>
  void prefetch_slot(uint32_t b, uint32_t candidates) const noexcept;

  TableMemory bucket_memory_;
  TableMemory slot_memory_;
  TableMemory fold_memory_;
  uint64_t* folded_ = nullptr;
  std::unique_ptr<uint32_t[]> name_of_memory_;
  std::unique_ptr<names::ConnNames> names_memory_;
  std::atomic<uint32_t*> name_of_{nullptr};
  std::atomic<names::ConnNames*> names_{nullptr};
  std::atomic<uint64_t> names_bytes_{0};
  Bucket* buckets_ = nullptr;
  Slot* slots_ = nullptr;
  Retired* retired_ = nullptr;
  rte_rcu_qsbr* qsbr_ = nullptr;
  uint32_t nbuckets_ = 0;
  uint32_t nslots_ = 0;
  uint32_t probe_limit_ = 0;
  uint32_t max_ = 0;
  uint32_t workers_ = 0;
  KeyedHash hash_;
  uint64_t memory_bytes_ = 0;
};

}  // namespace bulkhead::dataplane
