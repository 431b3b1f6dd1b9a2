// The connection table shared by all workers.
//
// One rte_hash keyed by a canonical (direction-free) tuple, created with
// lock-free concurrent readers; lookups never lock. Inserts and deletes go
// through rte_hash's writer path (new and ending connections only). Deleted
// slots are reclaimed through the hash's QSBR defer queue, so a worker that
// looked a slot up before it was deleted may still read it safely.
//
// Each direction of a connection always arrives on the same RX queue (RSS is
// deterministic per tuple, and a queue belongs to one worker), so the fields
// indexed by direction have a single writer. Expiry is incremental: each
// worker examines a few slots of its own share per loop pass.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config.h"
#include "packet.h"

struct rte_hash;
struct rte_rcu_qsbr;

namespace bulkhead::dataplane {

// Direction-free key: the lower (address, port) endpoint first. Padded to
// 48 bytes, a length rte_hash compares with vector instructions (other
// lengths fall back to memcmp).
struct ConnKey {
  uint8_t a[16];
  uint8_t b[16];
  uint16_t port_a;
  uint16_t port_b;
  uint8_t proto;
  uint8_t family;
  uint8_t pad[10];
};
static_assert(sizeof(ConnKey) == 48);

// Per-direction TCP progress.
enum TcpDirState : uint8_t { kTcpNone = 0, kTcpSynSent, kTcpEstablished, kTcpFinSent, kTcpReset };

// How a connection was let in.
enum ConnVerdict : uint8_t {
  kConnAllowed = 0,      // a rule (or the default) allows it
  kConnAuditDenied = 1,  // audit mode: would have been dropped
  kConnLearned = 2,      // learn mode: policy would deny, forwarded anyway
};

struct alignas(64) ConnEntry {
  uint32_t last_seen_ms[2];  // per direction; coarse clock
  uint32_t created_ms;
  uint32_t epoch;            // rule-set epoch it was last checked under
  uint32_t rule;             // deciding rule index under `epoch` (kNoRule: default)
  uint32_t packets[2];
  uint64_t bytes[2];
  uint8_t in_use;
  uint8_t orig_dir;          // direction (0/1) of the packet that opened it
  uint8_t tcp[2];            // TcpDirState per direction
  uint8_t flags_seen[2];
  uint8_t verdict;           // ConnVerdict
  uint8_t proto;
  uint8_t icmp_echo;         // ICMP echo: key ports are the identifier
  uint8_t opener_known;      // the opening packet was seen (TCP: a SYN; ICMP: a request)
  uint32_t reported_ms;      // last flow record sent for it (start or update)
};
static_assert(sizeof(ConnEntry) == 64);

// Canonicalises `t` into `key`; returns the packet's direction (0: the
// packet's source is endpoint a). ICMP echo uses the identifier as both
// ports so request and reply meet.
uint8_t make_conn_key(const FlowTuple& t, ConnKey& key) noexcept;

// Rebuilds the tuple of direction `dir` from a key.
void tuple_from_key(const ConnKey& key, uint8_t dir, FlowTuple& t) noexcept;

class ConnTable {
 public:
  ConnTable(const ConnTable&) = delete;
  ConnTable& operator=(const ConnTable&) = delete;
  ~ConnTable();

  // `qsbr` is the variable the workers report quiescence to.
  static std::unique_ptr<ConnTable> create(uint32_t max_connections, uint32_t workers, rte_rcu_qsbr* qsbr,
                                           std::string& error);

  // Bulk lookup: positions[i] >= 0 on a hit, negative on a miss.
  void lookup_bulk(const ConnKey* const* keys, uint32_t n, int32_t* positions) const noexcept;
  // Inserts; returns the slot or -1 when the table is full.
  int32_t insert(const ConnKey& key, uint32_t worker) noexcept;
  // Removes the connection at `pos` (the caller owns the sweep share or the
  // decision); safe against concurrent readers.
  void remove(int32_t pos, uint32_t worker) noexcept;

  ConnEntry& entry(int32_t pos) noexcept { return entries_[pos]; }
  const ConnEntry& entry(int32_t pos) const noexcept { return entries_[pos]; }
  bool key_at(int32_t pos, ConnKey& key) const noexcept;

  uint32_t slots() const noexcept { return slots_; }
  uint32_t max_connections() const noexcept { return max_; }
  // Live connections (sum of per-worker inserts minus removes).
  uint64_t count() const noexcept;
  uint64_t memory_bytes() const noexcept { return memory_bytes_; }

 private:
  ConnTable() = default;

  struct alignas(64) WorkerCount {
    uint64_t inserted;
    uint64_t removed;
  };

  rte_hash* hash_ = nullptr;
  ConnEntry* entries_ = nullptr;
  WorkerCount* counts_ = nullptr;
  uint32_t slots_ = 0;
  uint32_t max_ = 0;
  uint32_t workers_ = 0;
  uint64_t memory_bytes_ = 0;
};

// Timeout (ms) that applies to a connection in its current state.
uint32_t conn_timeout_ms(const ConnEntry& e, const Timeouts& t) noexcept;

// Applies one TCP packet of direction `dir` to the entry's state.
void tcp_track(ConnEntry& e, uint8_t dir, uint8_t flags) noexcept;

// True for flag combinations no valid TCP segment carries.
inline bool tcp_flags_invalid(uint8_t flags) noexcept {
  const uint8_t f = flags & (kTcpSyn | kTcpFin | kTcpRst | kTcpAck);
  return f == 0 || (f & (kTcpSyn | kTcpFin)) == (kTcpSyn | kTcpFin) ||
         (f & (kTcpSyn | kTcpRst)) == (kTcpSyn | kTcpRst);
}

}  // namespace bulkhead::dataplane
