#include "conntrack.h"

#include <atomic>
#include <cstring>

#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

namespace bulkhead::dataplane {
namespace {

std::atomic<uint32_t> g_table_seq{0};

// rte_hash with several writers keeps per-lcore free-slot caches, so slot
// numbers run past the configured entry count by up to this much.
constexpr uint32_t kSlotSlack = RTE_MAX_LCORE * 64;

// Orders two endpoints by address (as big-endian numbers), then port.
// Two 8-byte loads per address instead of a memcmp call: this runs for every
// packet.
int endpoint_cmp(const uint8_t* a, uint16_t pa, const uint8_t* b, uint16_t pb) noexcept {
  uint64_t x, y;
  for (int half = 0; half < 2; ++half) {
    std::memcpy(&x, a + 8 * half, 8);
    std::memcpy(&y, b + 8 * half, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
  return static_cast<int>(pa) - static_cast<int>(pb);
}

}  // namespace

uint8_t make_conn_key(const FlowTuple& t, ConnKey& key) noexcept {
  uint16_t sp = t.sport, dp = t.dport;
  key.proto = t.proto;
  key.family = t.family;
  std::memset(key.pad, 0, sizeof(key.pad));
  if (endpoint_cmp(t.src, sp, t.dst, dp) <= 0) {
    std::memcpy(key.a, t.src, 16);
    std::memcpy(key.b, t.dst, 16);
    key.port_a = sp;
    key.port_b = dp;
    return 0;
  }
  std::memcpy(key.a, t.dst, 16);
  std::memcpy(key.b, t.src, 16);
  key.port_a = dp;
  key.port_b = sp;
  return 1;
}

void tuple_from_key(const ConnKey& key, uint8_t dir, FlowTuple& t) noexcept {
  t.family = key.family;
  t.proto = key.proto;
  if (dir == 0) {
    std::memcpy(t.src, key.a, 16);
    std::memcpy(t.dst, key.b, 16);
    t.sport = key.port_a;
    t.dport = key.port_b;
  } else {
    std::memcpy(t.src, key.b, 16);
    std::memcpy(t.dst, key.a, 16);
    t.sport = key.port_b;
    t.dport = key.port_a;
  }
}

ConnTable::~ConnTable() {
  if (hash_) rte_hash_free(hash_);
  rte_free(entries_);
  rte_free(counts_);
}

std::unique_ptr<ConnTable> ConnTable::create(uint32_t max_connections, uint32_t workers, rte_rcu_qsbr* qsbr,
                                             std::string& error) {
  std::unique_ptr<ConnTable> t(new ConnTable());
  t->max_ = max_connections;
  t->workers_ = workers == 0 ? 1 : workers;
  const std::string name = "bh_conn" + std::to_string(g_table_seq.fetch_add(1));
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = max_connections;
  p.key_len = sizeof(ConnKey);
  p.hash_func = rte_hash_crc;
  p.hash_func_init_val = 0;
  p.socket_id = static_cast<int>(rte_socket_id());
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD |
                 RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  t->hash_ = rte_hash_create(&p);
  if (t->hash_ == nullptr) {
    error = "cannot create the connection table for " + std::to_string(max_connections) +
            " connections (out of memory? lower --conn-max or raise -m)";
    return nullptr;
  }
  rte_hash_rcu_config rcu{};
  rcu.v = qsbr;
  rcu.mode = RTE_HASH_QSBR_MODE_DQ;
  if (rte_hash_rcu_qsbr_add(t->hash_, &rcu) != 0) {
    error = "cannot attach the connection table to its reclamation queue";
    return nullptr;
  }
  t->slots_ = max_connections + kSlotSlack;
  const size_t entries_bytes = sizeof(ConnEntry) * t->slots_;
  t->entries_ = static_cast<ConnEntry*>(rte_zmalloc("bh_conn_entries", entries_bytes, RTE_CACHE_LINE_SIZE));
  t->counts_ = static_cast<WorkerCount*>(
      rte_zmalloc("bh_conn_counts", sizeof(WorkerCount) * t->workers_, RTE_CACHE_LINE_SIZE));
  if (t->entries_ == nullptr || t->counts_ == nullptr) {
    error = "cannot allocate connection entries (lower --conn-max or raise -m)";
    return nullptr;
  }
  t->memory_bytes_ = entries_bytes;
  return t;
}

void ConnTable::lookup_bulk(const ConnKey* const* keys, uint32_t n, int32_t* positions) const noexcept {
  rte_hash_lookup_bulk(hash_, reinterpret_cast<const void**>(const_cast<const ConnKey**>(keys)), n, positions);
}

uint64_t ConnTable::count() const noexcept {
  uint64_t ins = 0, rem = 0;
  for (uint32_t w = 0; w < workers_; ++w) {
    ins += __atomic_load_n(&counts_[w].inserted, __ATOMIC_RELAXED);
    rem += __atomic_load_n(&counts_[w].removed, __ATOMIC_RELAXED);
  }
  return ins - rem;
}

int32_t ConnTable::insert(const ConnKey& key, uint32_t worker) noexcept {
  if (count() >= max_) return -1;
  const int32_t pos = rte_hash_add_key(hash_, &key);
  if (pos < 0) return -1;
  if (static_cast<uint32_t>(pos) >= slots_) {  // cannot happen with kSlotSlack; never index past the array
    rte_hash_del_key(hash_, &key);
    return -1;
  }
  if (!entries_[pos].in_use) __atomic_store_n(&counts_[worker].inserted, counts_[worker].inserted + 1, __ATOMIC_RELAXED);
  return pos;
}

void ConnTable::remove(int32_t pos, uint32_t worker) noexcept {
  ConnEntry& e = entries_[pos];
  if (!e.in_use) return;
  void* key = nullptr;
  if (rte_hash_get_key_with_position(hash_, pos, &key) != 0) return;
  __atomic_store_n(&e.in_use, 0, __ATOMIC_RELEASE);
  if (rte_hash_del_key(hash_, key) >= 0)
    __atomic_store_n(&counts_[worker].removed, counts_[worker].removed + 1, __ATOMIC_RELAXED);
}

bool ConnTable::key_at(int32_t pos, ConnKey& key) const noexcept {
  void* k = nullptr;
  if (rte_hash_get_key_with_position(hash_, pos, &k) != 0) return false;
  std::memcpy(&key, k, sizeof(key));
  return true;
}

uint32_t conn_timeout_ms(const ConnEntry& e, const Timeouts& t) noexcept {
  switch (e.proto) {
    case kProtoTcp: {
      const uint8_t o = e.tcp[e.orig_dir], r = e.tcp[e.orig_dir ^ 1];
      if (o == kTcpReset || r == kTcpReset) return t.tcp_closed_ms;
      if (o == kTcpFinSent && r == kTcpFinSent) return t.tcp_closed_ms;
      if (o == kTcpFinSent || r == kTcpFinSent) return t.tcp_fin_ms;
      if (r < kTcpSynSent || o < kTcpEstablished) return t.tcp_syn_ms;
      return t.tcp_established_ms;
    }
    case kProtoUdp:
      return t.udp_ms;
    case kProtoIcmp:
    case kProtoIcmpv6:
      return t.icmp_ms;
    default:
      return t.other_ms;
  }
}

void tcp_track(ConnEntry& e, uint8_t dir, uint8_t flags) noexcept {
  uint8_t& s = e.tcp[dir];
  const uint8_t peer = e.tcp[dir ^ 1];
  e.flags_seen[dir] |= flags;
  if (flags & kTcpRst) {
    s = kTcpReset;
    return;
  }
  if (flags & kTcpFin) {
    s = kTcpFinSent;
    return;
  }
  if (flags & kTcpSyn) {
    // A fresh SYN from the opener of a closed connection reuses the tuple.
    if (!(flags & kTcpAck) && (s == kTcpReset || s == kTcpFinSent) && dir == e.orig_dir) {
      e.tcp[dir ^ 1] = kTcpNone;
    }
    if (s < kTcpSynSent || s >= kTcpFinSent) s = kTcpSynSent;
    if ((flags & kTcpAck) && peer >= kTcpSynSent) s = kTcpEstablished;  // SYN-ACK
    return;
  }
  if ((flags & kTcpAck) && s == kTcpSynSent && peer >= kTcpSynSent) s = kTcpEstablished;
  else if (s == kTcpNone) s = kTcpEstablished;  // mid-stream pick-up (--tcp-loose)
}

}  // namespace bulkhead::dataplane
