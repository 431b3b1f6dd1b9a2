#include "dataplane/conntrack.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <emmintrin.h>

#include <rte_common.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include "common/protocols.h"

namespace bulkhead::dataplane {
namespace {

constexpr uint32_t kRetireMask = ConnTable::kRetireCapacity - 1;

constexpr uint16_t kSigFree = 0;
constexpr uint16_t kSigClaimed = 1;

// Five word compares folded into one test. Each word is loaded on its own:
// the same through two arrays makes the compiler copy both keys to the
// stack first.
inline uint64_t key_word(const ConnKey& k, int i) noexcept {
  uint64_t w;
  std::memcpy(&w, reinterpret_cast<const uint8_t*>(&k) + 8 * i, 8);
  return w;
}
bool keys_equal(const ConnKey& x, const ConnKey& y) noexcept {
  return ((key_word(x, 0) ^ key_word(y, 0)) | (key_word(x, 1) ^ key_word(y, 1)) | (key_word(x, 2) ^ key_word(y, 2)) |
          (key_word(x, 3) ^ key_word(y, 3)) | (key_word(x, 4) ^ key_word(y, 4))) == 0;
}
static_assert(sizeof(ConnKey) == 5 * sizeof(uint64_t));

// One bit per slot of `sig` equal to `want`.
uint32_t match(const uint16_t* sig, uint16_t want) noexcept {
  const __m128i w = _mm_set1_epi16(static_cast<short>(want));
  const __m128i lo = _mm_cmpeq_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(sig)), w);
  const __m128i hi = _mm_cmpeq_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(sig + 8)), w);
  return static_cast<uint32_t>(_mm_movemask_epi8(_mm_packs_epi16(lo, hi)));
}

}  // namespace

ConnTable::~ConnTable() {
  if (retired_ != nullptr) {
    for (uint32_t w = 0; w < workers_; ++w) {
      rte_free(retired_[w].pos);
      rte_free(retired_[w].token);
    }
  }
  rte_free(retired_);
}

std::unique_ptr<ConnTable> ConnTable::create(uint32_t max_connections, uint32_t workers, rte_rcu_qsbr* qsbr,
                                             std::string& error) {
  std::unique_ptr<ConnTable> t(new ConnTable());
  t->max_ = max_connections;
  t->workers_ = workers == 0 ? 1 : workers;
  t->qsbr_ = qsbr;
  t->hash_ = KeyedHash::random();  // bucket placement an outsider cannot predict
  // An eighth more slots than connections keeps the probe chains short
  // when the table is full.
  const uint64_t want = static_cast<uint64_t>(max_connections) + max_connections / 8 + kBucketSlots;
  const uint64_t nbuckets = std::max<uint64_t>(2, (want + kBucketSlots - 1) / kBucketSlots);
  if (nbuckets * kBucketSlots > static_cast<uint64_t>(INT32_MAX)) {
    error = "--conn-max " + std::to_string(max_connections) + " is more than the connection table can index";
    return nullptr;
  }
  t->nbuckets_ = static_cast<uint32_t>(nbuckets);
  t->nslots_ = t->nbuckets_ * kBucketSlots;
  // Never around the whole table: an entry's distance from home must be
  // less than one lap for the counts of entries passing a bucket to add up.
  t->probe_limit_ = std::min(kMaxProbe, t->nbuckets_);
  const size_t bucket_bytes = sizeof(Bucket) * t->nbuckets_;
  const size_t slot_bytes = sizeof(Slot) * t->nslots_;
  t->bucket_memory_ = TableMemory::allocate("bh_conn_buckets", bucket_bytes);
  t->slot_memory_ = TableMemory::allocate("bh_conn_slots", slot_bytes);
  t->fold_memory_ = TableMemory::allocate("bh_conn_folded", sizeof(uint64_t) * t->nslots_);
  t->buckets_ = static_cast<Bucket*>(t->bucket_memory_.data());
  t->slots_ = static_cast<Slot*>(t->slot_memory_.data());
  t->folded_ = static_cast<uint64_t*>(t->fold_memory_.data());
  t->retired_ = static_cast<Retired*>(rte_zmalloc("bh_conn_retired", sizeof(Retired) * t->workers_,
                                                  RTE_CACHE_LINE_SIZE));
  if (t->buckets_ == nullptr || t->slots_ == nullptr || t->folded_ == nullptr || t->retired_ == nullptr) {
    error = "cannot allocate the connection table for " + std::to_string(max_connections) +
            " connections (lower --conn-max, or give the dataplane more memory)";
    return nullptr;
  }
  uint64_t bytes = bucket_bytes + slot_bytes + sizeof(uint64_t) * t->nslots_ + sizeof(Retired) * t->workers_;
  for (uint32_t w = 0; w < t->workers_; ++w) {
    Retired& r = t->retired_[w];
    r.pos = static_cast<uint32_t*>(rte_malloc("bh_conn_retired_pos", sizeof(uint32_t) * kRetireCapacity, 0));
    r.token = static_cast<uint64_t*>(rte_malloc("bh_conn_retired_token", sizeof(uint64_t) * kRetireCapacity, 0));
    if (r.pos == nullptr || r.token == nullptr) {
      error = "cannot allocate the connection table's reclamation queues";
      return nullptr;
    }
    bytes += (sizeof(uint32_t) + sizeof(uint64_t)) * kRetireCapacity;
  }
  t->memory_bytes_ = bytes;
  return t;
}

uint32_t ConnTable::hash(const ConnKey& key) const noexcept {
  // An IPv4 key's addresses are its first 4 bytes of each 16 (the rest
  // zero): both in one word, the ports, protocol, family and tenant in the
  // other, one product where an IPv6 key takes three.
  static_assert(offsetof(ConnKey, port_a) == 32, "the ports, protocol, family and tenant: the key's last word");
  uint64_t rest;
  std::memcpy(&rest, &key.port_a, sizeof(rest));
  if (key.family == 4) {
    uint32_t a, b;
    std::memcpy(&a, key.a, 4);
    std::memcpy(&b, key.b, 4);
    return hash_(uint64_t{a} | uint64_t{b} << 32, rest);
  }
  uint64_t w[5];
  std::memcpy(w, &key, sizeof(w));
  return hash_(w);
}

int32_t ConnTable::find_in(uint32_t b, uint32_t candidates, const ConnKey& key) const noexcept {
  for (; candidates != 0; candidates &= candidates - 1) {
    const auto pos = static_cast<int32_t>(b * kBucketSlots + static_cast<uint32_t>(__builtin_ctz(candidates)));
    if (keys_equal(slots_[pos].key, key)) return pos;
  }
  return -1;
}

template <int kForWrite>
void ConnTable::prefetch_slot(uint32_t b, uint32_t candidates) const noexcept {
  const auto* p = reinterpret_cast<const char*>(&slots_[b * kBucketSlots + __builtin_ctz(candidates)]);
  __builtin_prefetch(p, kForWrite);
  __builtin_prefetch(p + sizeof(Slot) - 1, kForWrite);  // a slot spans two cache lines
}

int32_t ConnTable::find(const ConnKey& key, uint32_t b, uint16_t sig) const noexcept {
  for (uint32_t d = 0; d < probe_limit_; ++d, b = next(b)) {
    const Bucket& bk = buckets_[b];
    const uint32_t m = match(bk.sig, sig);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);  // the key was written before its signature
    const int32_t pos = find_in(b, m, key);
    if (pos >= 0) return pos;
    if (__atomic_load_n(&bk.passed, __ATOMIC_ACQUIRE) == 0) return -1;
  }
  return -1;
}

void ConnTable::lookup_bulk(const ConnKey* const* keys, uint32_t n, int32_t* positions,
                            uint32_t* hashes) const noexcept {
  constexpr uint32_t kChunk = 64;
  uint32_t home_of[kChunk];
  uint16_t sig_of[kChunk];
  uint32_t first[kChunk];
  for (uint32_t base = 0; base < n; base += kChunk) {
    const uint32_t m = std::min(kChunk, n - base);
    // Hash every key and fetch its home bucket; then, with the buckets
    // arriving, compare signatures and fetch the first candidate slot of
    // each; only then compare keys.
    for (uint32_t i = 0; i < m; ++i) {
      const uint32_t h = hash(*keys[base + i]);
      if (hashes != nullptr) hashes[base + i] = h;
      home_of[i] = home(h);
      sig_of[i] = signature(h);
      rte_prefetch0(&buckets_[home_of[i]]);
    }
    for (uint32_t i = 0; i < m; ++i) {
      first[i] = match(buckets_[home_of[i]].sig, sig_of[i]);
      if (first[i] != 0) prefetch_slot<0>(home_of[i], first[i]);
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < m; ++i) {
      const ConnKey& key = *keys[base + i];
      int32_t found = find_in(home_of[i], first[i], key);
      if (found < 0 && __atomic_load_n(&buckets_[home_of[i]].passed, __ATOMIC_ACQUIRE) != 0)
        found = find(key, next(home_of[i]), sig_of[i]);
      if (found < 0) {
        // A miss is usually a new connection: fetch the slot insert() will
        // claim, for writing, so its stores (and the locked instructions
        // that wait for them) do not wait for memory.
        const uint32_t free = match(buckets_[home_of[i]].sig, kSigFree);
        if (free != 0) prefetch_slot<1>(home_of[i], free);
      }
      positions[base + i] = found;
    }
  }
}

uint64_t ConnTable::count() const noexcept {
  uint64_t ins = 0, rem = 0;
  for (uint32_t w = 0; w < workers_; ++w) {
    ins += __atomic_load_n(&retired_[w].inserted, __ATOMIC_RELAXED);
    rem += __atomic_load_n(&retired_[w].removed, __ATOMIC_RELAXED);
  }
  return ins - rem;
}

uint32_t ConnTable::occupied(uint32_t bucket) const noexcept {
  const uint16_t* sig = buckets_[bucket].sig;
  return ~(match(sig, kSigFree) | match(sig, kSigClaimed)) & ((1u << kBucketSlots) - 1);
}

uint64_t ConnTable::passed_total() const noexcept {
  uint64_t n = 0;
  for (uint32_t b = 0; b < nbuckets_; ++b) n += __atomic_load_n(&buckets_[b].passed, __ATOMIC_RELAXED);
  return n;
}

uint64_t ConnTable::retiring() const noexcept {
  uint64_t n = 0;
  for (uint32_t w = 0; w < workers_; ++w)
    n += __atomic_load_n(&retired_[w].tail, __ATOMIC_RELAXED) - __atomic_load_n(&retired_[w].head, __ATOMIC_RELAXED);
  return n;
}

int32_t ConnTable::insert(const ConnKey& key, uint32_t h, uint32_t worker, bool* created) noexcept {
  const uint32_t b0 = home(h);
  const uint16_t sig = signature(h);
  Bucket& hb = buckets_[b0];
  while (__atomic_exchange_n(&hb.lock, 1u, __ATOMIC_ACQUIRE) != 0)
    while (__atomic_load_n(&hb.lock, __ATOMIC_RELAXED) != 0) rte_pause();
  int32_t pos = find(key, b0, sig);
  if (created != nullptr) *created = false;
  if (pos < 0 && count() < max_) {
    uint32_t b = b0;
    for (uint32_t d = 0; d < probe_limit_ && pos < 0; ++d, b = next(b)) {
      Bucket& bk = buckets_[b];
      for (uint32_t m = match(bk.sig, kSigFree); m != 0; m &= m - 1) {
        const uint32_t k = static_cast<uint32_t>(__builtin_ctz(m));
        uint16_t expect = kSigFree;
        // Keys of another home may be claiming slots here at the same time.
        if (!__atomic_compare_exchange_n(&bk.sig[k], &expect, kSigClaimed, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_RELAXED))
          continue;
        pos = static_cast<int32_t>(b * kBucketSlots + k);
        slots_[pos].key = key;
        for (uint32_t x = b0, j = 0; j < d; ++j, x = next(x)) __atomic_fetch_add(&buckets_[x].passed, 1u, __ATOMIC_RELEASE);
        __atomic_store_n(&bk.sig[k], sig, __ATOMIC_RELEASE);
        Retired& r = retired_[worker];
        __atomic_store_n(&r.inserted, r.inserted + 1, __ATOMIC_RELAXED);
        if (created != nullptr) *created = true;
        break;
      }
    }
  }
  __atomic_store_n(&hb.lock, 0u, __ATOMIC_RELEASE);
  return pos;
}

bool ConnTable::remove(int32_t pos, uint32_t worker) noexcept {
  if (retire_full(worker)) return false;
  Retired& r = retired_[worker];
  Slot& s = slots_[pos];
  const uint32_t h = hash(s.key);
  const uint32_t b = static_cast<uint32_t>(pos) / kBucketSlots;
  uint16_t expect = signature(h);
  // Another worker may be removing the same connection (a revoke against an
  // expiry): one of them unlinks it.
  if (!__atomic_compare_exchange_n(&buckets_[b].sig[static_cast<uint32_t>(pos) % kBucketSlots], &expect, kSigClaimed,
                                   false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
    return true;
  __atomic_store_n(&s.entry.in_use, kEntryFree, __ATOMIC_RELEASE);
  for (uint32_t x = home(h); x != b; x = next(x)) __atomic_fetch_sub(&buckets_[x].passed, 1u, __ATOMIC_RELEASE);
  r.pos[r.tail & kRetireMask] = static_cast<uint32_t>(pos);
  __atomic_store_n(&r.tail, r.tail + 1, __ATOMIC_RELAXED);
  __atomic_store_n(&r.removed, r.removed + 1, __ATOMIC_RELAXED);
  return true;
}

void ConnTable::enable_names() {
  if (names_.load(std::memory_order_relaxed) != nullptr) return;
  // Names of connections admitted by one: at most one entry each, up to
  // kMaxNamedConnections of them live at once.
  name_of_memory_.reset(new uint32_t[nslots_]());
  names_memory_ = std::make_unique<names::ConnNames>(std::min(max_, kMaxNamedConnections));
  names_bytes_.store(sizeof(uint32_t) * nslots_ + names_memory_->memory_bytes(), std::memory_order_relaxed);
  name_of_.store(name_of_memory_.get(), std::memory_order_release);
  names_.store(names_memory_.get(), std::memory_order_release);
}

void ConnTable::reclaim(uint32_t worker) noexcept {
  Retired& r = retired_[worker];
  if (r.head == r.tail) return;
  if (r.stamped != r.tail) {
    const uint64_t token = rte_rcu_qsbr_start(qsbr_);
    for (; r.stamped != r.tail; ++r.stamped) r.token[r.stamped & kRetireMask] = token;
  }
  while (r.head != r.stamped && rte_rcu_qsbr_check(qsbr_, r.token[r.head & kRetireMask], false) == 1) {
    const uint32_t pos = r.pos[r.head & kRetireMask];
    __atomic_store_n(&slots_[pos].entry.in_use, kEntryFree, __ATOMIC_RELAXED);
    folded_[pos] = 0;  // the next connection here starts with nothing folded
    if (uint32_t* names = name_of_.load(std::memory_order_acquire);
        names != nullptr && names[pos] != names::ConnNames::kNone) {
      names_.load(std::memory_order_acquire)->release(names[pos]);
      names[pos] = names::ConnNames::kNone;
    }
    __atomic_store_n(&buckets_[pos / kBucketSlots].sig[pos % kBucketSlots], kSigFree, __ATOMIC_RELEASE);
    __atomic_store_n(&r.head, r.head + 1, __ATOMIC_RELAXED);
  }
}

}  // namespace bulkhead::dataplane
