// The bindings DNS answers make: which names a client was told an address
// stands for, and until when.
//
// A binding is (tenant, client, server address, name, expiry). The table is
// bounded twice over, and its memory is taken once at construction:
//   - bindings: buckets of kSlotsPerBucket slots under a keyed hash of
//     (tenant, client, server), so nobody can aim answers at one bucket. A
//     full bucket gives up its binding that expires first (counted as an
//     eviction); an expired slot is reused before that.
//   - names: only names the policy mentions are kept (the caller decides),
//     at most `names` of them, each bound to at most
//     `max_addresses_per_name` (client, address) pairs at once, so one name
//     answered with thousands of addresses cannot fill the table.
// Expired bindings stop matching at once; sweep() gives their slots and
// names back (they count against the caps until then).
//
// Kept across a restart: save() gives the live bindings with their times in
// unix seconds (proto/names.proto), restore() binds what a saved state holds
// that is still alive, refusing (and counting) what is malformed.
//
// Threads: any number of threads may bind(), sweep() and lookup() at once.
// Writers (bind, sweep: a DNS answer, a timer) take one spin lock, held for
// a bucket's worth of work; readers (lookup: a new connection that reaches
// a rule written with names) never wait for it: each bucket and each name
// carries a sequence number, odd while a writer changes it, and a reader
// whose copy straddled a change reads again.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "dataplane/keyed_hash.h"
#include "dataplane/names/dns.h"
#include "rules/compiler.h"

namespace bulkhead::pb {
class NameBindings;
}

namespace bulkhead::dataplane::names {

struct BindingKey {
  uint32_t tenant = 0;  // one-armed insertion's tenant; 0 inline
  uint8_t family = 4;
  std::array<uint8_t, 16> client{};  // network order, IPv4 in the first 4 bytes
  std::array<uint8_t, 16> server{};

  bool operator==(const BindingKey&) const = default;
};

// What a lookup finds: one live binding of the key.
struct BoundName {
  std::string_view name;  // valid until the callback returns
  uint32_t bound_at = 0;  // seconds of the caller's clock: the last answer that bound it
  uint32_t expires = 0;   // seconds: last second it matches
};

enum class BindResult : uint8_t {
  bound,       // a new binding
  refreshed,   // an existing one, its expiry moved on (never back)
  evicted,     // a new binding in place of the one that expired first
  name_cap,    // refused: the name is bound to max_addresses_per_name pairs
  names_full,  // refused: the table holds `names` names already
};

class BindingTable {
 public:
  // Defaults: a policy's when its `dns:` leaves them unset (rules/compiler.h).
  struct Limits {
    uint32_t bindings = rules::kNameDefaults.max_bindings.default_value;  // slots, rounded up to whole buckets
    uint32_t names = rules::kNameDefaults.max_names.default_value;
    uint32_t max_addresses_per_name = rules::kNameDefaults.max_addresses_per_name.default_value;
  };
  static constexpr unsigned kSlotsPerBucket = 8;

  struct Counters {
    std::atomic<uint64_t> bound{0}, refreshed{0}, evicted{0}, name_cap{0}, names_full{0}, expired{0},
        read_retries{0};
  };

  BindingTable(const Limits& limits, KeyedHash hash);
  ~BindingTable();
  BindingTable(const BindingTable&) = delete;
  BindingTable& operator=(const BindingTable&) = delete;

  // `name` in the canonical form (rules/names.h). `expires` is the last
  // second the binding matches (now + TTL + grace).
  BindResult bind(const BindingKey& key, std::string_view name, uint32_t now, uint32_t expires) noexcept;

  // Calls fn(const BoundName&) for each binding of `key` alive at `now`;
  // returns how many. Never waits for a writer.
  template <typename Fn>
  unsigned lookup(const BindingKey& key, uint32_t now, Fn&& fn) const noexcept;

  // The live bindings for the state directory. `now` is the table's clock
  // and `now_unix` the wall clock at the same moment: times are saved as
  // unix seconds, so a restart with another monotonic clock keeps them.
  // Holds the writers' lock one bucket at a time.
  void save(uint32_t now, int64_t now_unix, pb::NameBindings& out);
  struct Restored {
    uint32_t restored = 0;
    uint32_t expired = 0;  // saved alive, dead by now_unix
    uint32_t refused = 0;  // malformed: address lengths, a name not in canonical form
    uint32_t not_bound = 0;  // refused by the table's caps (counted there too)
  };
  Restored restore(const pb::NameBindings& in, uint32_t now, int64_t now_unix);

  // Frees the expired bindings of `buckets` buckets, continuing where the
  // last sweep stopped; returns how many it freed.
  uint32_t sweep(uint32_t now, uint32_t buckets) noexcept;

  uint32_t bucket_count() const noexcept { return bucket_count_; }
  uint32_t live_names() const noexcept { return live_names_.load(std::memory_order_relaxed); }
  uint32_t live_bindings() const noexcept { return live_bindings_.load(std::memory_order_relaxed); }
  // Live bindings given up for new ones so far. Counted after the slot is
  // freed: whoever reads it before looking a binding up and finds it again
  // knows the binding stays until its expiry unless this count moves on
  // (expired slots are the only others freed).
  uint64_t evictions() const noexcept { return counters_.evicted.load(std::memory_order_acquire); }
  const Counters& counters() const noexcept { return counters_; }
  // Bytes the table holds, all taken at construction.
  std::size_t memory_bytes() const noexcept;

 private:
  // A slot as words, each read and written whole, so a reader racing a
  // writer reads some value of each word (and its sequence check rejects
  // the mix).
  static constexpr unsigned kSlotWords = 7;
  struct Slot {
    std::atomic<uint64_t> w[kSlotWords];  // client (2), server (2), tenant|family|used, name|generation, bound|expires
  };
  struct alignas(64) Bucket {
    std::atomic<uint32_t> seq{0};
    Slot slots[kSlotsPerBucket];
  };
  static constexpr unsigned kNameWords = (kMaxNameText + 7) / 8;
  struct Name {
    std::atomic<uint32_t> seq{0};
    std::atomic<uint32_t> generation{0};  // moves on each time the entry is reused
    std::atomic<uint32_t> len{0};
    std::atomic<uint64_t> text[kNameWords];
    uint32_t addresses = 0;  // slots naming it (writers only)
  };
  struct Loaded {  // one slot, decoded
    BindingKey key;
    bool used = false;
    uint32_t name = 0, generation = 0, bound_at = 0, expires = 0;
  };

  uint32_t bucket_of(const BindingKey& key) const noexcept;
  static Loaded load(const Slot& s) noexcept;
  static void store(Slot& s, const Loaded& v) noexcept;
  bool read_name(uint32_t id, uint32_t generation, std::array<char, kMaxNameText>& out, uint32_t& len) const noexcept;
  // Writers only, under the lock.
  int64_t find_name(std::string_view name) const noexcept;
  int64_t intern(std::string_view name) noexcept;
  void release(uint32_t id) noexcept;
  void free_slot(Slot& s, const Loaded& v) noexcept;
  void lock() noexcept;
  void unlock() noexcept { lock_.clear(std::memory_order_release); }

  Limits limits_;
  KeyedHash hash_;
  uint32_t bucket_count_;
  std::unique_ptr<Bucket[]> buckets_;
  std::unique_ptr<Name[]> names_;
  // Open addressing over name ids (id + 1; 0 empty), linear probing,
  // backward-shift deletion: twice the names, so probes stay short.
  std::unique_ptr<uint32_t[]> name_index_;
  uint32_t name_index_size_;
  std::unique_ptr<uint32_t[]> free_names_;  // a stack of unused ids
  uint32_t free_name_count_;
  std::atomic<uint32_t> sweep_next_{0};  // the next bucket a sweep looks at
  std::atomic_flag lock_ = ATOMIC_FLAG_INIT;
  std::atomic<uint32_t> live_names_{0};
  std::atomic<uint32_t> live_bindings_{0};
  mutable Counters counters_;
};

template <typename Fn>
unsigned BindingTable::lookup(const BindingKey& key, uint32_t now, Fn&& fn) const noexcept {
  const Bucket& b = buckets_[bucket_of(key)];
  Loaded found[kSlotsPerBucket];
  unsigned n = 0;
  for (;;) {
    uint32_t before = b.seq.load(std::memory_order_acquire);
    n = 0;
    if (!(before & 1)) {
      for (const Slot& s : b.slots) {
        Loaded v = load(s);
        if (v.used && v.key == key && v.expires >= now) found[n++] = v;
      }
      std::atomic_thread_fence(std::memory_order_acquire);
      if (b.seq.load(std::memory_order_relaxed) == before) break;
    }
    counters_.read_retries.fetch_add(1, std::memory_order_relaxed);
  }
  unsigned live = 0;
  std::array<char, kMaxNameText> text;
  for (unsigned i = 0; i < n; ++i) {
    uint32_t len = 0;
    if (!read_name(found[i].name, found[i].generation, text, len)) continue;  // freed meanwhile
    fn(BoundName{std::string_view(text.data(), len), found[i].bound_at, found[i].expires});
    ++live;
  }
  return live;
}

}  // namespace bulkhead::dataplane::names
