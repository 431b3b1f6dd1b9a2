// The worker: one run-to-completion loop per lcore.
//
// Each pass: receive a burst per owned queue, parse the whole burst, look up
// connections in bulk, classify the misses per address family in one call
// each, apply verdicts, transmit, then sweep a few connection slots for
// expiry and report a quiescent state. Nothing here allocates, locks (but
// the connection table's per-bucket lock while a connection is added, and
// the TX lock of a queue two workers must share), or logs per packet.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include "dataplane/clock.h"
#include "dataplane/config.h"
#include "dataplane/conntrack.h"
#include "dataplane/counters.h"
#include "dataplane/flow_record.h"
#include "dataplane/fragments.h"
#include "dataplane/swap.h"

namespace bulkhead::dataplane {

inline constexpr uint16_t kBurst = 32;

// One RX queue a worker polls and where its packets leave.
struct QueueAssignment {
  uint16_t rx_port;
  uint16_t rx_queue;
  uint16_t tx_port;
  uint16_t tx_queue;
  rte_spinlock_t* tx_lock;  // non-null when the TX queue is shared
};

// Per-worker event counters; one list, like the drop reasons.
#define BULKHEAD_WORKER_COUNTERS(X)                                   \
  X(rx_packets, "packets received")                                    \
  X(rx_bytes, "bytes received")                                        \
  X(tx_packets, "packets transmitted")                                 \
  X(forwarded_non_ip, "non-IP frames and IPv6 neighbour discovery forwarded")\
  X(conn_hits, "packets of tracked connections")                      \
  X(conn_new, "connections admitted")                                  \
  X(conn_expired, "connections expired by timeout")                    \
  X(conn_rechecked, "connections re-checked under a newer rule set")   \
  X(conn_revoked, "connections cut because the rule set no longer allows them") \
  X(classified, "packets classified against the rule set")            \
  X(allowed_stateless, "packets allowed without a connection (ICMP errors, fragments)") \
  X(icmp_related, "ICMP errors passed because they quote a tracked connection") \
  X(fragments_followed, "later fragments that followed their first fragment") \
  X(audit_would_drop, "packets forwarded in audit mode that enforce would drop") \
  X(learn_would_drop, "packets forwarded in learn mode that enforce would drop") \
  X(log_records_lost, "rule log records lost to a full ring")          \
  X(flow_records, "flow records handed to the exporter")              \
  X(flow_records_lost, "flow records lost to a full ring")            \
  X(forwarded_no_policy, "packets forwarded with no rule set (--no-policy fail-open)") \
  X(polls, "loop passes")                                              \
  X(busy_polls, "loop passes that received packets")                   \
  X(busy_cycles, "TSC cycles spent in passes that received packets")

enum class WorkerCounter : uint16_t {
#define BULKHEAD_X(name, desc) name,
  BULKHEAD_WORKER_COUNTERS(BULKHEAD_X)
#undef BULKHEAD_X
      count
};
inline constexpr unsigned kWorkerCounterCount = static_cast<unsigned>(WorkerCounter::count);
const char* worker_counter_name(WorkerCounter c) noexcept;

struct alignas(64) WorkerStats {
  uint64_t events[kWorkerCounterCount];
  uint64_t drops[kDropReasonCount];
};

// What a worker tells the main lcore about connections of logged rules.
struct LogRecord {
  FlowTuple tuple;
  uint32_t rule;
  uint32_t epoch;
  uint8_t allowed;  // verdict of the rule set
  uint8_t mode;     // Mode
};

// Shared state of all workers. Owned by main; outlives the workers.
struct Shared {
  const Config* config;
  RuleSetHolder* rules;
  ConnTable* conns;
  rte_rcu_qsbr* qsbr;
  std::atomic<bool> stop{false};
  const Clock* clock;
  uint32_t workers;
  uint32_t flow_sample = 1;          // record 1 in N connections
  uint32_t flow_update_ms = 60'000;  // long connections: an update this often
};

class Worker {
 public:
  // `flow_ring`: where flow events go; nullptr when flows are not recorded.
  Worker(uint32_t id, Shared& shared, std::vector<QueueAssignment> queues, rte_ring* log_ring,
         rte_ring* flow_ring = nullptr);

  // Runs passes until shared.stop; called on the worker's lcore.
  void run() noexcept;
  // One pass over every owned queue, bracketed by QSBR online/offline so
  // tests can drive a worker from the main thread between rule swaps.
  void poll_once() noexcept;

  const WorkerStats& stats() const noexcept { return stats_; }
  uint32_t id() const noexcept { return id_; }

 private:
  // One pass over the queues; true when any packet was received.
  bool pass() noexcept;
  void process(const QueueAssignment& q, rte_mbuf** pkts, uint16_t n, RuleSet& rs, uint32_t now_ms) noexcept;
  // Stages 1-6: a verdict per packet (kPass, or kDrop with a reason).
  // `again`: packets held back by an earlier round of the same burst
  // (already counted as received).
  void judge(rte_mbuf** pkts, uint16_t n, RuleSet& rs, uint32_t now_ms, bool again, uint8_t* action,
             DropReason* reason) noexcept;
  void sweep(uint32_t now_ms) noexcept;
  // Sends on the queue's TX port (under its lock when shared), counts what
  // left, frees and counts what the queue refused; returns the number sent.
  uint16_t transmit(const QueueAssignment& q, rte_mbuf** pkts, uint16_t n) noexcept;
  void count(WorkerCounter c, uint64_t v = 1) noexcept { stats_.events[static_cast<unsigned>(c)] += v; }
  void drop(DropReason r) noexcept { ++stats_.drops[static_cast<unsigned>(r)]; }
  void log_connection(const FlowTuple& t, uint32_t rule, bool allowed, const RuleSet& rs) noexcept;
  // Flow events. Sampling keeps a connection's events together (by slot).
  bool sampled(int32_t pos) const noexcept { return shared_.flow_sample <= 1 || pos % shared_.flow_sample == 0; }
  void flow_event(FlowEvent& ev) noexcept;
  // Expires and reports the connections of one bucket of the connection
  // table; false when the table's reclamation queue filled up.
  bool sweep_bucket(uint32_t bucket, uint32_t now_ms) noexcept;
  void flow_of_entry(const ConnKey& key, const ConnEntry& e, uint8_t kind, uint8_t end_reason, uint32_t now_ms) noexcept;

  uint32_t id_;
  Shared& shared_;
  std::vector<QueueAssignment> queues_;
  rte_ring* log_ring_;
  rte_ring* flow_ring_;
  uint32_t denied_seq_ = 0;
  uint32_t sweep_cursor_ = 0;
  uint32_t last_sweep_ms_ = 0;
  uint32_t workers_;
  FragmentTable frags_;
  WorkerStats stats_{};
};

}  // namespace bulkhead::dataplane
