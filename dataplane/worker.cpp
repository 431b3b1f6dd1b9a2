#include "dataplane/worker.h"

#include <algorithm>
#include <cstring>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>

#include "common/protocols.h"
#include "dataplane/log.h"

namespace bulkhead::dataplane {
namespace {

constexpr uint16_t kPrefetchAhead = 4;

// kLaterFragment: a later fragment whose first fragment may be in this very
// burst; resolved after the burst's first fragments have their verdicts.
// kFollow: a packet of a connection that an earlier packet of this burst
// opens (a reply in the same burst, on a one-armed port or a replayed
// capture); judged in a second round, once that connection exists, before
// the burst is sent in arrival order.
enum : uint8_t { kPending = 0, kPass = 1, kDrop = 2, kLaterFragment = 3, kFollow = 4 };

// The connections this burst is about to open, by key: a later packet of
// the same connection follows instead of being judged as another opener.
// Keys are placed by the connection table's own (keyed) hash of them.
class BurstOpeners {
 public:
  // True when an earlier packet of the burst was registered with the key
  // of packet `i`, whose table hash is `h`; otherwise registers packet `i`.
  bool follows(const ConnKey* keys, uint16_t i, uint32_t h) noexcept {
    for (uint32_t slot = h & (kSlots - 1);; slot = (slot + 1) & (kSlots - 1)) {
      if (index_[slot] == 0) {
        index_[slot] = static_cast<uint8_t>(i + 1);
        hash_[slot] = h;
        return false;
      }
      if (hash_[slot] == h && std::memcmp(&keys[index_[slot] - 1], &keys[i], sizeof(ConnKey)) == 0) return true;
    }
  }

 private:
  static constexpr uint32_t kSlots = 2 * kBurst;  // twice the burst: probes stay short
  uint8_t index_[kSlots] = {};
  uint32_t hash_[kSlots];
};

}  // namespace

const char* worker_counter_name(WorkerCounter c) noexcept {
  static constexpr const char* names[] = {
#define BULKHEAD_X(name, desc) #name,
      BULKHEAD_WORKER_COUNTERS(BULKHEAD_X)
#undef BULKHEAD_X
  };
  return names[static_cast<unsigned>(c)];
}

Worker::Worker(uint32_t id, Shared& shared, std::vector<QueueAssignment> queues, rte_ring* log_ring,
               rte_ring* flow_ring)
    : id_(id),
      shared_(shared),
      queues_(std::move(queues)),
      log_ring_(log_ring),
      flow_ring_(flow_ring),
      workers_(shared.workers) {}

void Worker::run() noexcept {
  rte_rcu_qsbr_thread_register(shared_.qsbr, id_);
  rte_rcu_qsbr_thread_online(shared_.qsbr, id_);
  const uint32_t sleep_us = shared_.config->idle_sleep_us;
  uint64_t last_busy = rte_get_tsc_cycles();
  while (!shared_.stop.load(std::memory_order_relaxed)) {
    const bool busy = pass();
    rte_rcu_qsbr_quiescent(shared_.qsbr, id_);
    if (sleep_us == 0) continue;
    const uint64_t now = rte_get_tsc_cycles();
    if (busy) {
      last_busy = now;
    } else if (now - last_busy > shared_.clock->tsc_per_ms()) {
      // Offline while asleep: a rule swap's grace period does not wait for
      // a worker that holds no rule set.
      rte_rcu_qsbr_thread_offline(shared_.qsbr, id_);
      rte_delay_us_sleep(sleep_us);
      rte_rcu_qsbr_thread_online(shared_.qsbr, id_);
    }
  }
  rte_rcu_qsbr_thread_offline(shared_.qsbr, id_);
  rte_rcu_qsbr_thread_unregister(shared_.qsbr, id_);
}

void Worker::poll_once() noexcept {
  rte_rcu_qsbr_thread_register(shared_.qsbr, id_);
  rte_rcu_qsbr_thread_online(shared_.qsbr, id_);
  pass();
  rte_rcu_qsbr_quiescent(shared_.qsbr, id_);
  rte_rcu_qsbr_thread_offline(shared_.qsbr, id_);
}

bool Worker::pass() noexcept {
  const uint64_t start = rte_get_tsc_cycles();
  const uint32_t now_ms = shared_.clock->ms(start);
  bool busy = false;
  // The rule set is read once per pass: every burst of the pass sees one set.
  RuleSet* rs = shared_.rules->acquire();
  for (const auto& q : queues_) {
    rte_mbuf* pkts[kBurst];
    const uint16_t n = rte_eth_rx_burst(q.rx_port, q.rx_queue, pkts, kBurst);
    if (n == 0) continue;
    busy = true;
    if (rs == nullptr) {  // no rule set at all: fail closed, or open by option
      count(WorkerCounter::rx_packets, n);
      if (shared_.config->fail_open) {
        count(WorkerCounter::forwarded_no_policy, transmit(q, pkts, n));
      } else {
        stats_.drops[static_cast<unsigned>(DropReason::no_policy)] += n;
        rte_pktmbuf_free_bulk(pkts, n);
      }
      continue;
    }
    process(q, pkts, n, *rs, now_ms);
  }
  count(WorkerCounter::polls);
  sweep(now_ms);
  if (busy) {
    count(WorkerCounter::busy_polls);
    count(WorkerCounter::busy_cycles, rte_get_tsc_cycles() - start);
  }
  return busy;
}

void Worker::process(const QueueAssignment& q, rte_mbuf** pkts, uint16_t n, RuleSet& rs, uint32_t now_ms) noexcept {
  uint8_t action[kBurst];
  DropReason reason[kBurst];
  judge(pkts, n, rs, now_ms, false, action, reason);

  // Stage 7: transmit what passes, free what drops, in arrival order.
  rte_mbuf* tx[kBurst];
  rte_mbuf* dropped[kBurst];
  uint16_t ntx = 0, ndrop = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (action[i] == kPass) {
      tx[ntx++] = pkts[i];
    } else {
      dropped[ndrop++] = pkts[i];
      drop(reason[i]);
    }
  }
  if (ndrop > 0) rte_pktmbuf_free_bulk(dropped, ndrop);
  if (ntx > 0) transmit(q, tx, ntx);
}

void Worker::judge(rte_mbuf** pkts, uint16_t n, RuleSet& rs, uint32_t now_ms, bool again, uint8_t* action,
                   DropReason* reason) noexcept {
  const Config& cfg = *shared_.config;
  ConnTable& conns = *shared_.conns;
  const Mode mode = rs.mode();
  const bool enforce = mode == Mode::enforce;

  PacketMeta meta[kBurst];
  FlowTuple ct[kBurst];         // tuple the connection is tracked by
  ConnKey keys[kBurst];
  const ConnKey* key_ptrs[kBurst];
  uint8_t dir[kBurst];
  uint16_t lookup_idx[kBurst];
  int32_t positions[kBurst];
  uint32_t hashes[kBurst];
  uint32_t hash_of[kBurst];     // by packet: its key's hash, for an insert
  uint16_t nl = 0;

  // Stage 1: parse the burst, prefetching the frames ahead.
  for (uint16_t i = 0; i < n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
  uint64_t rx_bytes = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
    parse_packet(rte_pktmbuf_mtod(pkts[i], const uint8_t*), rte_pktmbuf_data_len(pkts[i]), meta[i]);
    rx_bytes += rte_pktmbuf_pkt_len(pkts[i]);
  }
  if (!again) {
    count(WorkerCounter::rx_packets, n);
    count(WorkerCounter::rx_bytes, rx_bytes);
  }

  // Stage 2: triage; build connection keys for what needs a lookup.
  for (uint16_t i = 0; i < n; ++i) {
    const PacketMeta& m = meta[i];
    action[i] = kPending;
    if (m.kind == PacketKind::drop) {
      action[i] = kDrop;
      reason[i] = m.drop_reason;
      continue;
    }
    if (m.kind == PacketKind::non_ip || is_neighbour_discovery(m.tuple)) {
      action[i] = kPass;
      count(WorkerCounter::forwarded_non_ip);
      continue;
    }
    if (m.is_fragment) {
      if (cfg.fragments == FragmentPolicy::drop) {
        action[i] = kDrop;
        reason[i] = DropReason::fragment_policy;
        continue;
      }
      if (!m.first_fragment) {
        action[i] = kLaterFragment;
        continue;
      }
    }
    ct[i] = connection_tuple(m, rte_pktmbuf_mtod(pkts[i], const uint8_t*), rte_pktmbuf_data_len(pkts[i]));
    dir[i] = make_conn_key(ct[i], keys[i]);
    key_ptrs[nl] = &keys[i];
    lookup_idx[nl++] = i;
  }

  // Stage 3: one bulk lookup for the burst (it leaves the slots of the hits,
  // key and state side by side, in cache).
  if (nl > 0) conns.lookup_bulk(key_ptrs, nl, positions, hashes);

  // Stage 4: tracked packets pass (after a re-check if the rule set changed);
  // the rest are queued for classification.
  AclKey4 k4[kBurst];
  AclKey6 k6[kBurst];
  const AclKey4* k4p[kBurst];
  const AclKey6* k6p[kBurst];
  uint16_t m4[kBurst], m6[kBurst];
  int32_t reuse[kBurst];  // slot of an expired entry to re-initialise, or -1
  uint16_t n4 = 0, n6 = 0;
  BurstOpeners openers;
  uint16_t nfollow = 0;
  for (uint16_t j = 0; j < nl; ++j) {
    const uint16_t i = lookup_idx[j];
    const PacketMeta& m = meta[i];
    const int32_t pos = positions[j];
    const uint32_t len = rte_pktmbuf_pkt_len(pkts[i]);
    reuse[i] = -1;
    hash_of[i] = hashes[j];
    if (pos >= 0 && __atomic_load_n(&conns.entry(pos).in_use, __ATOMIC_ACQUIRE)) {
      ConnEntry& e = conns.entry(pos);
      if (m.has_inner) {  // an ICMP error about a tracked connection
        action[i] = kPass;
        count(WorkerCounter::icmp_related);
        continue;
      }
      if (!expired(e, now_ms, cfg.timeouts)) {
        if (e.epoch != rs.epoch()) {
          count(WorkerCounter::conn_rechecked);
          FlowTuple orig;
          tuple_from_key(keys[i], e.orig_dir, orig);
          if (e.icmp_echo) {
            orig.sport = orig.proto == common::kProtoIcmp ? 8 : 128;
            orig.dport = 0;
          }
          const uint32_t rule = rs.classify(orig);
          const bool allowed = rs.allows(rule);
          // A connection of a time-bound rule that just expired may finish
          // (--expired-connections finish): the set differs from the last
          // only by the expiry, so the old rule index still names that rule.
          const bool finishing = !allowed && cfg.expired_finish && rs.same_rules_as_previous() &&
                                 rs.rule_expired(e.rule);
          if (enforce && !allowed && !finishing) {
            if (flow_ring_ != nullptr && sampled(pos)) flow_of_entry(keys[i], e, pb::FlowRecord::END, pb::FlowRecord::REVOKED, now_ms);
            // With the table's reclamation queue full the entry stays, and
            // the connection's next packet is judged again.
            if (conns.remove(pos, id_)) count(WorkerCounter::conn_revoked);
            action[i] = kDrop;
            reason[i] = DropReason::connection_revoked;
            continue;
          }
          if (!finishing) {
            e.rule = rule;
            e.verdict = allowed ? kConnAllowed : (mode == Mode::audit ? kConnAuditDenied : kConnLearned);
          }
          e.epoch = rs.epoch();
        }
        if (m.tuple.proto == common::kProtoTcp) {
          if (enforce && tcp_flags_invalid(m.tcp_flags)) {
            action[i] = kDrop;
            reason[i] = DropReason::tcp_invalid;
            continue;
          }
          tcp_track(e, dir[i], m.tcp_flags);
        }
        const uint8_t d = dir[i];
        e.last_seen_ms[d] = now_ms;
        e.packets[d] += 1;
        e.bytes[d] += len;
        RuleCounter& rc = rs.counter(id_, e.rule);
        rc.packets += 1;
        rc.bytes += len;
        if (e.verdict == kConnAuditDenied) count(WorkerCounter::audit_would_drop);
        else if (e.verdict == kConnLearned) count(WorkerCounter::learn_would_drop);
        count(WorkerCounter::conn_hits);
        action[i] = kPass;
        continue;
      }
      reuse[i] = pos;  // expired, not yet swept: judged as new, re-using its slot
    }
    if (!m.has_inner && openers.follows(keys, i, hash_of[i])) {
      action[i] = kFollow;
      ++nfollow;
      continue;
    }
    if (m.tuple.proto == common::kProtoTcp && enforce && !m.has_inner) {
      const bool syn_only = (m.tcp_flags & (common::kTcpSyn | common::kTcpAck | common::kTcpRst | common::kTcpFin)) == common::kTcpSyn;
      if (tcp_flags_invalid(m.tcp_flags) || (!syn_only && !cfg.tcp_loose)) {
        action[i] = kDrop;
        reason[i] = DropReason::tcp_invalid;
        continue;
      }
    }
    if (m.tuple.family == 4) {
      make_acl_key(m.tuple, k4[n4]);
      k4p[n4] = &k4[n4];
      m4[n4++] = i;
    } else {
      make_acl_key(m.tuple, k6[n6]);
      k6p[n6] = &k6[n6];
      m6[n6++] = i;
    }
  }

  // Stage 5: one classification per address family.
  uint32_t r4[kBurst], r6[kBurst];
  uint32_t rule_of[kBurst];
  if (n4 > 0) rs.classify4(k4p, n4, r4);
  if (n6 > 0) rs.classify6(k6p, n6, r6);
  for (uint16_t j = 0; j < n4; ++j) rule_of[m4[j]] = r4[j];
  for (uint16_t j = 0; j < n6; ++j) rule_of[m6[j]] = r6[j];
  count(WorkerCounter::classified, n4 + n6);

  // Stage 6: verdicts for the classified packets, admitting connections.
  for (uint16_t i = 0; i < n; ++i) {
    if (action[i] != kPending) continue;
    const PacketMeta& m = meta[i];
    const uint32_t rule = rule_of[i];
    const bool allowed = rs.allows(rule);
    const uint32_t len = rte_pktmbuf_pkt_len(pkts[i]);
    RuleCounter& rc = rs.counter(id_, rule);
    rc.packets += 1;
    rc.bytes += len;
    if (rs.logs(rule)) log_connection(m.tuple, rule, allowed, rs);
    if (!allowed) {
      if (enforce) {
        action[i] = kDrop;
        reason[i] = DropReason::policy_deny;
        if (m.is_fragment) frags_.record(m, false, now_ms);
        if (flow_ring_ != nullptr && (shared_.flow_sample <= 1 || denied_seq_++ % shared_.flow_sample == 0)) {
          FlowEvent ev{};
          ev.tuple = m.tuple;
          ev.rule = rule;
          ev.epoch = rs.epoch();
          ev.start_ms = ev.time_ms = now_ms;
          ev.packets[0] = 1;
          ev.bytes[0] = len;
          ev.kind = pb::FlowRecord::DENIED;
          ev.verdict = pb::FlowRecord::DENY;
          ev.opener_known = opens_connection(m);
          ev.flags[0] = m.tcp_flags;
          flow_event(ev);
        }
        continue;
      }
      count(mode == Mode::audit ? WorkerCounter::audit_would_drop : WorkerCounter::learn_would_drop);
    }
    action[i] = kPass;
    if (m.is_fragment) frags_.record(m, true, now_ms);
    // ICMP errors and ICMP other than echo requests never open a connection.
    if (never_opens(m)) {
      count(WorkerCounter::allowed_stateless);
      continue;
    }
    int32_t pos = reuse[i];
    bool fresh = true;
    if (pos < 0) {
      pos = conns.insert(keys[i], hash_of[i], id_);
      if (pos < 0) {
        if (enforce) {
          action[i] = kDrop;
          reason[i] = DropReason::conn_table_full;
        }
        continue;
      }
      // A second packet of a flow first seen in this same burst.
      fresh = !__atomic_load_n(&conns.entry(pos).in_use, __ATOMIC_ACQUIRE);
    }
    ConnEntry& e = conns.entry(pos);
    const uint8_t d = dir[i];
    const bool record = flow_ring_ != nullptr && fresh && sampled(pos);
    if (record && reuse[i] >= 0) flow_of_entry(keys[i], e, pb::FlowRecord::END, pb::FlowRecord::TIMEOUT, now_ms);
    if (fresh) {
      e.last_seen_ms[0] = e.last_seen_ms[1] = now_ms;
      e.created_ms = now_ms;
      e.epoch = rs.epoch();
      e.rule = rule;
      e.packets[0] = e.packets[1] = 0;
      e.bytes[0] = e.bytes[1] = 0;
      e.orig_dir = d;
      e.tcp[0] = e.tcp[1] = kTcpNone;
      e.flags_seen[0] = e.flags_seen[1] = 0;
      e.verdict = allowed ? kConnAllowed : (mode == Mode::audit ? kConnAuditDenied : kConnLearned);
      e.proto = m.tuple.proto;
      e.icmp_echo = is_echo(m.tuple);
      e.opener_known = opens_connection(m);
      e.reported_ms = now_ms;
      rc.connections += 1;
      count(WorkerCounter::conn_new);
    }
    e.last_seen_ms[d] = now_ms;
    e.packets[d] += 1;
    e.bytes[d] += len;
    if (m.tuple.proto == common::kProtoTcp) tcp_track(e, d, m.tcp_flags);
    if (fresh) __atomic_store_n(&e.in_use, 1, __ATOMIC_RELEASE);
    if (record) {
      FlowEvent ev{};
      ev.tuple = m.tuple;
      ev.rule = rule;
      ev.epoch = rs.epoch();
      ev.start_ms = ev.time_ms = now_ms;
      ev.kind = pb::FlowRecord::START;
      ev.verdict = allowed ? pb::FlowRecord::ALLOWED : pb::FlowRecord::WOULD_DENY;
      ev.opener_known = e.opener_known;
      ev.flags[0] = m.tcp_flags;
      flow_event(ev);
    }
  }

  // Later fragments follow the verdict their first fragment got (in an
  // earlier burst or this one).
  for (uint16_t i = 0; i < n; ++i) {
    if (action[i] != kLaterFragment) continue;
    const auto v = frags_.lookup(meta[i], now_ms);
    if (v == FragmentTable::kPass || !enforce) {
      action[i] = kPass;
      count(WorkerCounter::fragments_followed);
    } else {
      action[i] = kDrop;
      reason[i] = v == FragmentTable::kDrop ? DropReason::policy_deny : DropReason::fragment_unknown;
    }
  }

  // Packets that followed an opener of this burst are judged now that its
  // connection exists. Each round settles at least the first packet of
  // every connection, so this ends within the burst's length.
  if (nfollow == 0) return;
  rte_mbuf* follow[kBurst];
  uint16_t at[kBurst];
  uint16_t nf = 0;
  for (uint16_t i = 0; i < n; ++i)
    if (action[i] == kFollow) {
      at[nf] = i;
      follow[nf++] = pkts[i];
    }
  uint8_t follow_action[kBurst];
  DropReason follow_reason[kBurst];
  judge(follow, nf, rs, now_ms, true, follow_action, follow_reason);
  for (uint16_t k = 0; k < nf; ++k) {
    action[at[k]] = follow_action[k];
    reason[at[k]] = follow_reason[k];
  }
}

uint16_t Worker::transmit(const QueueAssignment& q, rte_mbuf** pkts, uint16_t n) noexcept {
  uint16_t sent;
  if (q.tx_lock != nullptr) {
    rte_spinlock_lock(q.tx_lock);
    sent = rte_eth_tx_burst(q.tx_port, q.tx_queue, pkts, n);
    rte_spinlock_unlock(q.tx_lock);
  } else {
    sent = rte_eth_tx_burst(q.tx_port, q.tx_queue, pkts, n);
  }
  count(WorkerCounter::tx_packets, sent);
  if (sent < n) {
    stats_.drops[static_cast<unsigned>(DropReason::tx_full)] += n - sent;
    rte_pktmbuf_free_bulk(pkts + sent, n - sent);
  }
  return sent;
}

void Worker::sweep(uint32_t now_ms) noexcept {
  // Paced by time, not by passes: a busy worker makes hundreds of passes a
  // millisecond, and each slot checked is a likely cache miss. The share is
  // walked bucket by bucket: a bucket's signatures say which slots hold a
  // connection, so free slots cost nothing.
  ConnTable& conns = *shared_.conns;
  conns.reclaim(id_);
  const uint32_t elapsed = now_ms - last_sweep_ms_;
  if (elapsed == 0) return;
  last_sweep_ms_ = now_ms;
  const uint32_t buckets = conns.buckets();
  const uint64_t share = buckets / workers_ + 1;
  const uint64_t budget = std::min<uint64_t>(share * elapsed / shared_.config->sweep_period_ms + 1,
                                             shared_.config->sweep_per_poll / ConnTable::kBucketSlots + 1);
  for (uint64_t k = 0; k < budget; ++k) {
    const uint64_t b = static_cast<uint64_t>(sweep_cursor_) * workers_ + id_;
    if (b >= buckets) {
      sweep_cursor_ = 0;
      break;
    }
    if (!sweep_bucket(static_cast<uint32_t>(b), now_ms)) break;  // looked at again next time
    ++sweep_cursor_;
  }
}

bool Worker::sweep_bucket(uint32_t bucket, uint32_t now_ms) noexcept {
  ConnTable& conns = *shared_.conns;
  const Timeouts& t = shared_.config->timeouts;
  for (uint32_t m = conns.occupied(bucket); m != 0; m &= m - 1) {
    const auto p = static_cast<int32_t>(bucket * ConnTable::kBucketSlots + static_cast<uint32_t>(__builtin_ctz(m)));
    ConnEntry& e = conns.entry(p);
    if (!__atomic_load_n(&e.in_use, __ATOMIC_ACQUIRE)) continue;
    const bool gone = expired(e, now_ms, t);
    if (gone && conns.retire_full(id_)) return false;  // the reclamation queue is full
    if (flow_ring_ != nullptr && sampled(p) &&
        (gone || static_cast<int32_t>(now_ms - e.reported_ms) >= static_cast<int32_t>(shared_.flow_update_ms))) {
      const uint8_t why = !gone ? 0
                          : (e.tcp[0] == kTcpReset || e.tcp[1] == kTcpReset) ? pb::FlowRecord::RESET
                          : (e.tcp[0] == kTcpFinSent && e.tcp[1] == kTcpFinSent) ? pb::FlowRecord::CLOSED
                                                                                  : pb::FlowRecord::TIMEOUT;
      flow_of_entry(conns.key(p), e, gone ? pb::FlowRecord::END : pb::FlowRecord::UPDATE, why, now_ms);
      e.reported_ms = now_ms;
    }
    if (gone && conns.remove(p, id_)) count(WorkerCounter::conn_expired);
  }
  return true;
}

void Worker::flow_event(FlowEvent& ev) noexcept {
  if (rte_ring_sp_enqueue_elem(flow_ring_, &ev, sizeof(ev)) == 0) count(WorkerCounter::flow_records);
  else count(WorkerCounter::flow_records_lost);
}

void Worker::flow_of_entry(const ConnKey& key, const ConnEntry& e, uint8_t kind, uint8_t end_reason,
                           uint32_t now_ms) noexcept {
  FlowEvent ev{};
  tuple_from_key(key, e.orig_dir, ev.tuple);
  if (e.icmp_echo) {
    ev.tuple.sport = ev.tuple.proto == common::kProtoIcmp ? 8 : 128;
    ev.tuple.dport = 0;
  }
  const uint8_t o = e.orig_dir, r = static_cast<uint8_t>(1 - e.orig_dir);
  ev.rule = e.rule;
  ev.epoch = e.epoch;
  ev.start_ms = e.created_ms;
  ev.time_ms = kind == pb::FlowRecord::END ? newest(e) : now_ms;
  ev.packets[0] = e.packets[o];
  ev.packets[1] = e.packets[r];
  ev.bytes[0] = e.bytes[o];
  ev.bytes[1] = e.bytes[r];
  ev.flags[0] = e.flags_seen[o];
  ev.flags[1] = e.flags_seen[r];
  ev.kind = kind;
  ev.verdict = e.verdict == kConnAllowed ? pb::FlowRecord::ALLOWED : pb::FlowRecord::WOULD_DENY;
  ev.end_reason = end_reason;
  ev.opener_known = e.opener_known;
  flow_event(ev);
}

void Worker::log_connection(const FlowTuple& t, uint32_t rule, bool allowed, const RuleSet& rs) noexcept {
  if (log_ring_ == nullptr) return;
  LogRecord rec;
  rec.tuple = t;
  rec.rule = rule;
  rec.epoch = rs.epoch();
  rec.allowed = allowed;
  rec.mode = static_cast<uint8_t>(rs.mode());
  if (rte_ring_sp_enqueue_elem(log_ring_, &rec, sizeof(rec)) != 0) count(WorkerCounter::log_records_lost);
}

}  // namespace bulkhead::dataplane
