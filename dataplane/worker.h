// The worker: one run-to-completion loop per lcore.
//
// Each pass receives a burst per owned queue and moves it through the
// stages of dataplane/worker.cpp, in order: parse, triage, look up
// connections, update hits, classify (first packets and re-checks, one
// rte_acl_classify per address family), resolve names (only with a rule set
// written with names: the first packets whose rule has `fqdn`, classified
// once more with their bindings' bits), settle re-checks, admit, follow
// (the burst's later packets of the connections it opened, in at most one
// more round), follow fragments, snoop DNS (only with a rule set written
// with names), capture (only while armed), transmit. In one-armed insertion the
// parse stage is open_tunnels (outer headers, ARP and health checks, the
// echo, then the tunnelled packet: dataplane/insertion/stage.h). Then it sweeps a few buckets of
// its share of the connection table (expiry, folding traffic into the rule
// counters, flow records) and reports a quiescent state.
//
// Nothing here allocates, locks (but the connection table's per-bucket lock
// while a connection is added, the TX lock of a queue two workers must
// share, and, for a connection a rule with `fqdn` was in reach of, the
// lock of the pool its name is kept in), or logs per packet. The loop is compiled once per mode and per
// flow recording on or off, so neither is tested per packet.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include "dataplane/burst.h"
#include "dataplane/capture.h"
#include "dataplane/clock.h"
#include "dataplane/config.h"
#include "dataplane/conntrack.h"
#include "dataplane/counters.h"
#include "dataplane/denied_records.h"
#include "dataplane/flow_record.h"
#include "dataplane/fragments.h"
#include "dataplane/names/hello_table.h"
#include "dataplane/names/snoop.h"
#include "dataplane/swap.h"

namespace bulkhead::dataplane {

namespace insertion {
class Appliance;
}

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
  X(parsed, "packets parsed (once each)")                             \
  X(forwarded_non_ip, "non-IP frames and IPv6 neighbour discovery forwarded")\
  X(conn_hits, "packets of tracked connections")                      \
  X(conn_new, "connections admitted")                                  \
  X(conn_expired, "connections expired by timeout")                    \
  X(conn_rechecked, "connections re-checked under a newer rule set")   \
  X(conn_revoked, "connections cut because the rule set no longer allows them") \
  X(conn_busy, "packets forwarded untracked: their connection's entry was being ended by another worker") \
  X(classified, "packets classified against the rule set")            \
  X(classify_calls, "classifier calls (one per address family and round of a burst)") \
  X(followed, "packets that followed an earlier packet of their burst") \
  X(allowed_stateless, "packets allowed without a connection (ICMP errors, fragments)") \
  X(icmp_related, "ICMP errors passed because they quote a tracked connection") \
  X(fragments_followed, "later fragments that followed their first fragment") \
  X(audit_would_drop, "packets forwarded in audit mode that enforce would drop") \
  X(learn_would_drop, "packets forwarded in learn mode that enforce would drop") \
  X(unattributed_packets, "packets of connections whose rule was gone when their traffic was folded") \
  X(log_records_lost, "rule log records lost to a full ring")          \
  X(flow_records, "flow records handed to the exporter")              \
  X(flow_records_lost, "flow records lost to a full ring")            \
  X(flow_records_suppressed, "denied-packet records not made: over the record rate") \
  X(forwarded_no_policy, "packets forwarded with no rule set (--no-policy fail-open)") \
  X(tunnel_received, "one-armed: tunnelled packets received from the load balancer") \
  X(vxlan_external_received, "VXLAN: packets received on the external tunnel") \
  X(vxlan_internal_received, "VXLAN: packets received on the internal tunnel") \
  X(geneve_unknown_options, "GENEVE options passed through unread")   \
  X(arp_answered, "one-armed: ARP requests for the appliance's address answered") \
  X(health_answered, "one-armed: health-check segments answered")     \
  X(tcp_picked_up, "TCP connections opened mid-flow (no SYN seen): --tcp-loose, or a one-armed tenant's pickup") \
  X(hello_waiting, "connections admitted provisionally until their ClientHello (a rule with sni)") \
  X(hello_allowed, "provisional connections their server name let go on") \
  X(hello_cut, "provisional connections cut on their server name (or its absence)") \
  X(hello_pool_full, "provisional connections decided at once: the worker's ClientHello readers were all in use") \
  X(resets_sent, "TCP resets sent to the ends of connections cut on their server name") \
  X(captured, "packets copied for a capture (bulkhead capture)")       \
  X(capture_lost, "capture copies lost to a full capture ring")        \
  X(capture_over_rate, "packets a capture matched but did not copy: over its rate") \
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

// Written only by its worker, with relaxed stores (Worker::count); read by
// the main lcore and telemetry with relaxed loads.
struct alignas(64) WorkerStats {
  uint64_t events[kWorkerCounterCount];
  uint64_t drops[kDropReasonCount];
};

// What a worker tells the main lcore about connections of logged rules:
// put on the worker's own log ring (single producer: that worker; single
// consumer: the main lcore).
struct LogRecord {
  FlowTuple tuple;
  uint32_t rule;
  uint32_t epoch;
  uint8_t allowed;  // verdict of the rule set
  uint8_t mode;     // Mode
};

// A worker's sign of life: the worker clock (ms) of its last loop pass.
// Written by its worker every pass; read by the others (health checks are
// answered only while every worker's is recent).
struct alignas(64) Heartbeat {
  std::atomic<uint32_t> ms{0};
};
// A worker whose last pass is older than this counts as stopped.
inline constexpr uint32_t kHeartbeatStaleMs = 500;

// Shared state of all workers. Owned by the engine; outlives the workers.
// Who writes and who reads each field:
struct Shared {
  // Set before the workers start, read-only while they run (every worker).
  const Config* config;
  // The active rule set: published by the main lcore or the control
  // channel's thread (release store); each worker reads it once per pass
  // (acquire) and reports a quiescent state after the pass, before the
  // writer frees a set it replaced. A set's per-rule counter rows: each
  // written by its own worker only (dataplane/rule_counters.h).
  RuleSetHolder* rules;
  // Entries: see ConnEntry (dataplane/connection.h) and ConnTable.
  ConnTable* conns;
  // Each worker reports its own quiescent state; the rule-set writer and
  // ConnTable::reclaim() read it.
  rte_rcu_qsbr* qsbr;
  // Read by every worker; its offset (tests' advance()) is an atomic any
  // thread may move.
  const Clock* clock;
  // Set before the workers start, read-only while they run: one-armed
  // insertion's ports (nullptr inline).
  const insertion::Appliance* appliance = nullptr;
  // One per worker: written by its worker every pass; read by the others.
  Heartbeat* heartbeats = nullptr;
  // Packet capture: see CaptureTap (dataplane/capture.h) field by field.
  CaptureTap* capture = nullptr;
  // The names DNS answers bound (dataplane/names/bindings.h): any worker
  // binds and looks up; the main lcore sweeps and saves. Owned by the
  // engine; nullptr until a rule set uses names. Set by the thread that
  // applies the first such set, before it publishes the set (so a worker
  // that reads it under a set with names sees it), and never changed after.
  names::BindingTable* bindings = nullptr;
  // Written by the main lcore; read by every worker (relaxed).
  std::atomic<bool> stop{false};
  // Set before the workers start, read-only while they run.
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
  // The DNS snooping stage's counters (dataplane/names/snoop.h); zeros
  // before prepare_snoop().
  const names::SnoopStats& snoop_stats() const noexcept {
    static const names::SnoopStats kNone{};
    const names::DnsSnoop* s = __atomic_load_n(&snoop_, __ATOMIC_ACQUIRE);
    return s != nullptr ? s->stats() : kNone;
  }
  // Takes the snooping stage's memory (dataplane/names/snoop.h), once:
  // called by the engine when it makes the binding table, before it
  // publishes the first rule set written with names (so a worker that
  // snoops under such a set sees it), and by the constructor when the
  // table exists already. Dataplanes that never see a name never take it.
  void prepare_snoop();
  uint32_t id() const noexcept { return id_; }

 private:
  // One pass over the queues; true when any packet was received.
  bool pass() noexcept;
  // The burst in burst_ (n packets from q), judged and sent.
  void process(const QueueAssignment& q, uint16_t n, RuleSet& rs, uint32_t now) noexcept;
  template <Mode kMode, bool kRecord>
  void run_stages(const QueueAssignment& q, RuleSet& rs, uint32_t now) noexcept;

  // The stages, in the order they run.
  void parse_burst() noexcept;
  void open_tunnels(const QueueAssignment& q, uint32_t now) noexcept;  // one-armed: in place of parse_burst
  // Every worker passed through its loop within kHeartbeatStaleMs of `now`.
  bool workers_alive(uint32_t now) const noexcept;
  void triage(bool snoop) noexcept;
  void look_up() noexcept;
  template <Mode kMode>
  void update_hits(const RuleSet& rs, uint32_t now) noexcept;
  void classify(const RuleSet& rs, ClassifyBatch& batch) noexcept;
  // The first packets of `batch` whose rule has `fqdn`: their bindings'
  // bits, one more classification together (docs/egress.md).
  void resolve_names(const RuleSet& rs, const ClassifyBatch& batch) noexcept;
  template <Mode kMode, bool kRecord>
  void settle_rechecks(RuleSet& rs, uint32_t now) noexcept;
  template <Mode kMode, bool kRecord>
  void admit(RuleSet& rs, uint32_t now) noexcept;
  template <Mode kMode, bool kRecord>
  void follow(RuleSet& rs, uint32_t now) noexcept;
  template <Mode kMode>
  void follow_fragments(uint32_t now) noexcept;
  // With a rule set written with names: DNS answers bind before they leave.
  void snoop_dns(const RuleSet& rs, uint32_t now) noexcept;
  // While a capture is armed: copies the packets it asks for.
  void capture_burst(const QueueAssignment& q, const RuleSet& rs, uint32_t now, uint32_t arm) noexcept;
  void transmit_burst(const QueueAssignment& q) noexcept;

  // The rule that decided packet i (a rule index under `epoch`, kNoRule,
  // or kCaptureNoRule) as the capture reports it.
  uint32_t rule_of(uint16_t i, const RuleSet& rs, uint32_t looked_up, uint32_t& epoch) const noexcept;
  // `target`: the tap's rule_target(), read once a burst.
  bool capture_rule_matches(uint32_t rule, uint32_t epoch, uint64_t target, const RuleSet& rs) const noexcept;

  // Per packet i of the burst.
  // A packet of a live connection: TCP state, last seen, counters.
  template <Mode kMode>
  void hit(uint16_t i, ConnEntry& e, uint32_t now) noexcept;
  // A miss that would open a connection but fails TCP's checks (enforce).
  template <Mode kMode>
  bool invalid_opener(uint16_t i) const noexcept;
  // A classified first packet: its rule's verdict, then a connection, a
  // stateless pass or a drop.
  template <Mode kMode, bool kRecord>
  void admit_one(uint16_t i, RuleSet& rs, uint32_t now) noexcept;
  // An allowed first packet: opens (or reopens) its connection.
  template <Mode kMode, bool kRecord>
  void open_connection(uint16_t i, uint32_t rule, ConnVerdict verdict, RuleSet& rs, uint32_t now) noexcept;
  // The mode packet i's denial by `rule` runs in: the set's (kMode) unless
  // enforce, then the deciding rule's own, or that of the rule with names
  // whose condition failed (docs/egress.md).
  template <Mode kMode>
  Mode denial_mode(uint16_t i, uint32_t rule, const RuleSet& rs) const noexcept;
  // A later packet of the same burst, its leader settled.
  template <Mode kMode, bool kRecord>
  void settle_follower(uint16_t i, RuleSet& rs, uint32_t now) noexcept;
  // The verdict of classified packet i that does not open a connection.
  template <Mode kMode, bool kRecord>
  void deny(uint16_t i, uint32_t rule, RuleSet& rs, uint32_t now) noexcept;
  void pass_untracked(uint16_t i, uint32_t rule, RuleSet& rs, WorkerCounter why) noexcept;

  // Rules written with names. The fqdn bits the bindings of packet i's
  // client and server give, and its note (a bound name satisfying fqdn bit
  // `want` preferred).
  // `now_s`: the bindings' clock (Clock::seconds()).
  uint32_t bound_bits(uint16_t i, const names::PolicyNames& nm, int8_t want, uint32_t now_s) noexcept;
  // The fqdn bits a connection is re-checked with: those of the name it was
  // admitted by, under `rs` (never a new lookup of the bindings).
  uint32_t admitted_bits(int32_t pos, const RuleSet& rs) const noexcept;
  // Server names. A connection a rule with `sni` admitted waits for its
  // ClientHello: its first packet (TCP Fast Open data, a QUIC Initial)
  // starts the wait, its client's later packets feed it (false: packet i
  // is dropped), and the decision classifies the connection once more with
  // its server name's sni bits (false: cut).
  void start_hello(uint16_t i, int32_t pos, ConnEntry& e, uint32_t now) noexcept;
  bool hello_hit(uint16_t i, ConnEntry& e, uint8_t verdict, uint32_t now) noexcept;
  bool hello_step(uint16_t i, int32_t pos, ConnEntry& e, names::HelloTable::Entry& h, uint32_t now) noexcept;
  // Feeds packet i's payload to its reader; false when it has none.
  // `in_order`: whether it may leave before the decision.
  bool feed_hello(uint16_t i, names::HelloTable::Entry& h, bool& in_order) noexcept;
  // A reader whose connection has not been decided this long after its
  // hello_ms is taken back for another.
  static constexpr uint32_t kHelloStaleMs = 1000;
  // TCP stream offsets past this are not the first flight.
  static constexpr uint32_t kHelloMaxOffset = 1u << 20;
  static constexpr unsigned kHelloClaimTries = 1000;
  bool decide_hello(int32_t pos, ConnEntry& e, names::HelloTable::Entry* h) noexcept;
  // Packet i, a client's TCP segment, got its connection cut: drops it, and
  // with NameSettings.reset sends a reset toward each end.
  void cut_here(uint16_t i) noexcept;

  // Keeps the binding that admitted the connection at `pos` alive.
  void keep_binding(int32_t pos, const ConnEntry& e, const RuleSet& rs, uint32_t now_s) noexcept;

  // Connections and the rule counters.
  void revoke(uint16_t i, int32_t pos, ConnEntry& e, RuleSet& rs, uint32_t now) noexcept;
  // Ends the connection at `pos`: takes its claim, folds its traffic (with
  // a rule set), sends its END record (`reason`) and retires its slot.
  // False, and the connection stays as it was, when another thread holds
  // the claim or the table's reclamation queue is full.
  bool end_connection(int32_t pos, const ConnEntry& e, RuleSet* rs, int reason, uint32_t now) noexcept;
  // Adds the connection's traffic not yet counted to its rule's counters
  // (the caller holds the entry's claim).
  void fold(int32_t pos, const ConnEntry& e, RuleSet& rs) noexcept;
  // The traffic of `e` not yet folded: packets, bytes (low 32 bits).
  uint64_t unfolded(int32_t pos, const ConnEntry& e) const noexcept;

  void sweep(RuleSet* rs, uint32_t now) noexcept;
  // Expires, folds and reports the connections of one bucket of the
  // connection table; false when the table's reclamation queue filled up.
  bool sweep_bucket(uint32_t bucket, RuleSet* rs, uint32_t now) noexcept;
  // Brings a connection admitted under an older rule set up to `rs` (the
  // caller holds its claim), if `rs` lets it continue; false otherwise
  // (its next packet cuts it).
  bool recheck_idle(int32_t pos, ConnEntry& e, RuleSet& rs) noexcept;

  // Sends on the queue's TX port (under its lock when shared), counts what
  // left, frees and counts what the queue refused; returns the number sent.
  uint16_t transmit(const QueueAssignment& q, rte_mbuf** pkts, uint16_t n) noexcept;

  // Counters are stored whole (relaxed): telemetry reads them meanwhile.
  void count(WorkerCounter c, uint64_t v = 1) noexcept { bump(stats_.events[static_cast<unsigned>(c)], v); }
  void count_drop(DropReason r, uint64_t v = 1) noexcept { bump(stats_.drops[static_cast<unsigned>(r)], v); }
  static void bump(uint64_t& counter, uint64_t v) noexcept {
    __atomic_store_n(&counter, counter + v, __ATOMIC_RELAXED);
  }
  void set_drop(uint16_t i, DropReason r) noexcept {
    burst_.fate[i] = Fate::drop;
    burst_.reason[i] = r;
  }
  void log_connection(const FlowTuple& t, uint32_t rule, bool allowed, const RuleSet& rs) noexcept;

  // Flow records. Sampling keeps a connection's records together (by slot).
  bool sampled(int32_t pos) const noexcept {
    return sample_all_ || static_cast<uint32_t>(static_cast<uint32_t>(pos) * 2654435761u) < sample_below_;
  }
  // A connection's record: START (no counts yet), UPDATE or END.
  void record_connection(int32_t pos, const ConnEntry& e, uint8_t kind, int end_reason, uint32_t now) noexcept;
  // Puts `ev` on the flow ring, with `note` packed after it when there is one.
  void flow_event(const FlowEvent& ev, const NameNote* note) noexcept;

  uint32_t id_;
  Shared& shared_;
  const Config& cfg_;
  ConnTable& conns_;
  std::vector<QueueAssignment> queues_;
  rte_ring* log_ring_;
  rte_ring* flow_ring_;
  bool sample_all_;
  uint32_t sample_below_;  // a slot is sampled when its hash is below this
  uint32_t sweep_cursor_ = 0;
  uint32_t last_sweep_ms_ = 0;
  uint32_t workers_;
  Burst burst_;
  FragmentTable frags_;
  // The capture's rate: thousandths of a copy in hand, refilled by time;
  // reset when a new capture is armed.
  uint32_t capture_arm_ = 0;
  uint32_t capture_ms_ = 0;
  uint64_t capture_tokens_ = 0;
  CaptureRecord capture_record_;  // the copy being made
  DeniedRecords denied_;
  std::unique_ptr<names::DnsSnoop> snoop_owner_;
  names::DnsSnoop* snoop_ = nullptr;  // snoop_owner_'s; written once (release), see prepare_snoop()
  // The rule set of the burst in hand (run_stages), for the stages that
  // judge a connection again on one of its packets (hello_hit).
  RuleSet* rules_ = nullptr;
  const QueueAssignment* queue_ = nullptr;  // the queue of the burst in hand
  names::HelloTable hellos_;
  std::unique_ptr<names::QuicInitialReader> quic_;
  WorkerStats stats_{};
};

}  // namespace bulkhead::dataplane
