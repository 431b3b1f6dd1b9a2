#include "dataplane/worker.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include <emmintrin.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_prefetch.h>

#include "common/protocols.h"
#include "dataplane/insertion/stage.h"
#include "dataplane/names/bindings.h"

namespace bulkhead::dataplane {
namespace {

constexpr uint16_t kPrefetchAhead = 4;

template <class T>
T load(const T& v) noexcept {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}

template <class T>
void store(T& v, T x) noexcept {
  __atomic_store_n(&v, x, __ATOMIC_RELAXED);
}

// Bit i: v[i] == want, over a burst's array, four lanes a compare.
uint32_t equal_lanes(const uint32_t (&v)[kBurst], uint32_t want) noexcept {
  static_assert(kBurst % 4 == 0);
  const __m128i w = _mm_set1_epi32(static_cast<int>(want));
  uint32_t mask = 0;
  for (uint32_t i = 0; i < kBurst; i += 4) {
    const __m128i eq = _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i)), w);
    mask |= static_cast<uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(eq))) << i;
  }
  return mask;
}

// Bit i: fate[i] == want, sixteen lanes a compare.
uint32_t equal_lanes(const Fate (&fate)[kBurst], Fate want) noexcept {
  static_assert(kBurst % 16 == 0 && sizeof(Fate) == 1);
  const __m128i w = _mm_set1_epi8(static_cast<char>(want));
  uint32_t mask = 0;
  for (uint32_t i = 0; i < kBurst; i += 16) {
    const __m128i eq = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(fate + i)), w);
    mask |= static_cast<uint32_t>(_mm_movemask_epi8(eq)) << i;
  }
  return mask;
}

ConnVerdict verdict_of(bool allowed, Mode mode) noexcept {
  if (allowed) return ConnVerdict::allowed;
  return mode == Mode::audit ? ConnVerdict::audit_denied : ConnVerdict::learned;
}

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
      cfg_(*shared.config),
      conns_(*shared.conns),
      queues_(std::move(queues)),
      log_ring_(log_ring),
      flow_ring_(flow_ring),
      sample_all_(shared.flow_sample <= 1),
      sample_below_(shared.flow_sample <= 1 ? UINT32_MAX
                                            : static_cast<uint32_t>((uint64_t{1} << 32) / shared.flow_sample)),
      workers_(shared.workers),
      denied_(shared.config->denied_interval_ms, shared.config->denied_rate),
      quic_(std::make_unique<names::QuicInitialReader>()) {
  if (shared.bindings != nullptr) prepare_snoop();
}

void Worker::prepare_snoop() {
  if (snoop_owner_) return;
  snoop_owner_ = std::make_unique<names::DnsSnoop>();
  __atomic_store_n(&snoop_, snoop_owner_.get(), __ATOMIC_RELEASE);
}

// ---------------------------------------------------------------------------
// The loop.

void Worker::run() noexcept {
  rte_rcu_qsbr_thread_register(shared_.qsbr, id_);
  rte_rcu_qsbr_thread_online(shared_.qsbr, id_);
  const uint32_t sleep_us = cfg_.idle_sleep_us;
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
  const uint32_t now = shared_.clock->ms(start);
  bool busy = false;
  // The rule set is read once per pass: every burst of the pass sees one set.
  RuleSet* rs = shared_.rules->acquire();
  if (shared_.heartbeats != nullptr) shared_.heartbeats[id_].ms.store(now, std::memory_order_relaxed);
  for (const auto& q : queues_) {
    const uint16_t n = rte_eth_rx_burst(q.rx_port, q.rx_queue, burst_.pkts, kBurst);
    if (n == 0) continue;
    busy = true;
    if (rs == nullptr) {  // no rule set at all: fail closed, or open by option
      count(WorkerCounter::rx_packets, n);
      if (cfg_.fail_open) {
        count(WorkerCounter::forwarded_no_policy, transmit(q, burst_.pkts, n));
      } else {
        count_drop(DropReason::no_policy, n);
        rte_pktmbuf_free_bulk(burst_.pkts, n);
      }
      continue;
    }
    process(q, n, *rs, now);
  }
  count(WorkerCounter::polls);
  sweep(rs, now);
  if (busy) {
    count(WorkerCounter::busy_polls);
    count(WorkerCounter::busy_cycles, rte_get_tsc_cycles() - start);
  }
  return busy;
}

void Worker::process(const QueueAssignment& q, uint16_t n, RuleSet& rs, uint32_t now) noexcept {
  burst_.n = n;
  const bool record = flow_ring_ != nullptr;
  switch (rs.mode()) {
    case Mode::enforce:
      return record ? run_stages<Mode::enforce, true>(q, rs, now) : run_stages<Mode::enforce, false>(q, rs, now);
    case Mode::audit:
      return record ? run_stages<Mode::audit, true>(q, rs, now) : run_stages<Mode::audit, false>(q, rs, now);
    case Mode::learn:
      return record ? run_stages<Mode::learn, true>(q, rs, now) : run_stages<Mode::learn, false>(q, rs, now);
  }
}

template <Mode kMode, bool kRecord>
void Worker::run_stages(const QueueAssignment& q, RuleSet& rs, uint32_t now) noexcept {
  rules_ = &rs;
  queue_ = &q;
  // The capture's arm, read once a burst (dataplane/capture.h).
  const uint32_t arm = shared_.capture->armed();
  burst_.copy_hit_rules = arm != 0 && shared_.capture->filter().rule.has_value();
  if (shared_.appliance != nullptr) open_tunnels(q, now);
  else parse_burst();
  triage(rs.names() != nullptr);
  look_up();
  update_hits<kMode>(rs, now);
  classify(rs, burst_.batch);
  if (rs.names() != nullptr) resolve_names(rs, burst_.batch);
  settle_rechecks<kMode, kRecord>(rs, now);
  admit<kMode, kRecord>(rs, now);
  follow<kMode, kRecord>(rs, now);
  follow_fragments<kMode>(now);
  if (rs.names() != nullptr) snoop_dns(rs, now);
  if (arm != 0) capture_burst(q, rs, now, arm);
  transmit_burst(q);
}

// ---------------------------------------------------------------------------
// The stages.

// Parses every frame, prefetching the frames ahead.
void Worker::parse_burst() noexcept {
  Burst& b = burst_;
  for (uint16_t i = 0; i < b.n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(b.pkts[i], void*));
  uint64_t rx_bytes = 0;
  for (uint16_t i = 0; i < b.n; ++i) {
    if (i + kPrefetchAhead < b.n) rte_prefetch0(rte_pktmbuf_mtod(b.pkts[i + kPrefetchAhead], void*));
    parse_packet(rte_pktmbuf_mtod(b.pkts[i], const uint8_t*), rte_pktmbuf_data_len(b.pkts[i]), b.meta[i]);
    b.view[i] = 0;
    b.len[i] = rte_pktmbuf_pkt_len(b.pkts[i]);
    rx_bytes += b.len[i];
  }
  count(WorkerCounter::rx_packets, b.n);
  count(WorkerCounter::parsed, b.n);
  count(WorkerCounter::rx_bytes, rx_bytes);
}

// One-armed insertion: the parse stage of a burst from the load balancer
// (dataplane/insertion/stage.h).
void Worker::open_tunnels(const QueueAssignment& q, uint32_t now) noexcept {
  Burst& b = burst_;
  insertion::ReceiveCounts n;
  insertion::open_tunnels(b, *shared_.appliance, shared_.appliance->port(q.rx_port), workers_alive(now), n);
  count(WorkerCounter::rx_packets, b.n);
  count(WorkerCounter::parsed, b.n);
  count(WorkerCounter::rx_bytes, n.bytes);
  count(WorkerCounter::tunnel_received, n.tunnelled);
  count(WorkerCounter::vxlan_external_received, n.by_tunnel[0]);
  count(WorkerCounter::vxlan_internal_received, n.by_tunnel[1]);
  count(WorkerCounter::geneve_unknown_options, n.unknown_options);
  count(WorkerCounter::arp_answered, n.arp_answered);
  count(WorkerCounter::health_answered, n.health_answered);
}

bool Worker::workers_alive(uint32_t now) const noexcept {
  for (uint32_t w = 0; w < workers_; ++w) {
    const uint32_t beat = shared_.heartbeats[w].ms.load(std::memory_order_relaxed);
    if (static_cast<int32_t>(now - beat) > static_cast<int32_t>(kHeartbeatStaleMs)) return false;
  }
  return true;
}


// Settles what needs no connection (malformed, non-IP, fragments by option)
// and makes the connection key of everything else. `snoop`: the rule set has
// names, so the burst's DNS packets are marked for snoop_dns().
void Worker::triage(bool snoop) noexcept {
  Burst& b = burst_;
  b.nfollow = 0;
  b.nrecheck = 0;
  b.nfragments = 0;
  b.judged = 0;
  b.hit_ruled = 0;
  b.noted = 0;
  b.name_relaxed = 0;
  b.batch.clear();
  b.groups.clear();
  // Counted in locals: the stores into the burst's byte arrays below could
  // alias its members, which would be read and written for every packet.
  uint16_t nlookup = 0;
  uint32_t dns_port = 0;
  const bool tenanted = shared_.appliance != nullptr;
  for (uint16_t i = 0; i < b.n; ++i) {
    const PacketMeta& m = b.meta[i];
    b.fate[i] = Fate::pending;
    if (m.kind == PacketKind::drop) {
      set_drop(i, m.drop_reason);
      continue;
    }
    if (m.kind == PacketKind::answer) {
      b.fate[i] = Fate::pass;
      continue;
    }
    if (m.kind == PacketKind::non_ip || is_neighbour_discovery(m.tuple)) {
      b.fate[i] = Fate::pass;
      count(WorkerCounter::forwarded_non_ip);
      continue;
    }
    if (m.is_fragment) {
      if (cfg_.fragments == FragmentPolicy::drop) {
        set_drop(i, DropReason::fragment_policy);
        continue;
      }
      if (!m.first_fragment) {
        b.fate[i] = Fate::later_fragment;
        ++b.nfragments;
        continue;
      }
    }
    b.dir[i] = make_packet_key(m, b.frame(i), b.frame_len(i), b.keys[i]);
    if (snoop) dns_port |= uint32_t{names::DnsSnoop::wanted(m, false)} << i;
    if (tenanted) b.keys[i].tenant = b.tenant[i];
    b.lookup_keys[nlookup] = &b.keys[i];
    b.lookup_of[nlookup++] = i;
  }
  b.nlookup = nlookup;
  b.dns_port = dns_port;
}

// One bulk lookup for the burst; it leaves the slots of the hits, key and
// state side by side, in cache.
void Worker::look_up() noexcept {
  Burst& b = burst_;
  if (b.nlookup == 0) return;
  int32_t pos[kBurst];
  uint32_t hashes[kBurst];
  conns_.lookup_bulk(b.lookup_keys, b.nlookup, pos, hashes);
  for (uint16_t j = 0; j < b.nlookup; ++j) {
    const uint16_t i = b.lookup_of[j];
    b.pos[i] = pos[j];
    b.hash[i] = hashes[j];
    b.reuse[i] = false;
  }
}

// Packets of live connections pass after their state update. Connections
// admitted under an older rule set and the first packet of each new
// connection go to the classification batch; the burst's later packets of
// those connections follow their first.
template <Mode kMode>
void Worker::update_hits(const RuleSet& rs, uint32_t now) noexcept {
  Burst& b = burst_;
  // In locals: hit() is a call, after which the burst's members would be
  // read and written again for every packet.
  const bool copy_rules = b.copy_hit_rules;
  uint32_t hit_ruled = 0;
  const uint32_t shortest_ms = cfg_.timeouts.shortest_ms();
  for (uint16_t j = 0; j < b.nlookup; ++j) {
    const uint16_t i = b.lookup_of[j];
    const PacketMeta& m = b.meta[i];
    const int32_t pos = b.pos[i];
    if (pos >= 0 && __atomic_load_n(&conns_.entry(pos).in_use, __ATOMIC_ACQUIRE) != kEntryFree) {
      ConnEntry& e = conns_.entry(pos);
      if (m.has_inner) {  // an ICMP error about a tracked connection
        b.fate[i] = Fate::pass;
        count(WorkerCounter::icmp_related);
        continue;
      }
      if (!expired(e, now, cfg_.timeouts, shortest_ms)) {
        if (load(e.epoch) == rs.epoch()) {
          if (copy_rules) {
            b.rule[i] = load(e.rule);
            hit_ruled |= 1u << i;
          }
          hit<kMode>(i, e, now);
          continue;
        }
        if (b.follow_earlier(i)) continue;
        b.groups.add(i, b.hash[i]);
        b.fate[i] = Fate::recheck;
        ++b.nrecheck;
        b.batch.add(opened_tuple(b.keys[i], e), b.keys[i].tenant, i, admitted_bits(pos, rs));
        continue;
      }
      b.reuse[i] = true;  // expired, not yet swept: judged as new, may reopen its slot
    }
    if (m.has_inner) {  // an ICMP error quoting nothing tracked: judged alone, never a connection
      b.batch.add(m.tuple, b.keys[i].tenant, i);
      continue;
    }
    if (b.follow_earlier(i)) continue;
    if (invalid_opener<kMode>(i)) {
      set_drop(i, DropReason::tcp_invalid);
      continue;
    }
    b.groups.add(i, b.hash[i]);
    b.batch.add(m.tuple, b.keys[i].tenant, i);
  }
  b.hit_ruled = hit_ruled;
}

// One classification per address family for the batch.
void Worker::classify(const RuleSet& rs, ClassifyBatch& batch) noexcept {
  uint32_t out[kBurst];
  if (batch.n4 > 0) {
    rs.classify4(batch.p4, batch.n4, out);
    for (uint16_t k = 0; k < batch.n4; ++k) {
      burst_.rule[batch.of4[k]] = out[k];
      burst_.judged |= 1u << batch.of4[k];
    }
    count(WorkerCounter::classify_calls);
  }
  if (batch.n6 > 0) {
    rs.classify6(batch.p6, batch.n6, out);
    for (uint16_t k = 0; k < batch.n6; ++k) {
      burst_.rule[batch.of6[k]] = out[k];
      burst_.judged |= 1u << batch.of6[k];
    }
    count(WorkerCounter::classify_calls);
  }
  count(WorkerCounter::classified, batch.n4 + batch.n6);
}

// A first packet whose rule has `fqdn` (its name part matched with every
// name condition taken as met) is looked up again with the fqdn bits of
// the names its client was answered for this destination: one more
// classification for all of them together. Each lookup can only find the
// same rule or a later one (docs/egress.md), so this round is the last.
void Worker::resolve_names(const RuleSet& rs, const ClassifyBatch& batch) noexcept {
  if (batch.n4 + batch.n6 == 0) return;  // a burst of established traffic: nothing classified
  const names::PolicyNames& nm = *rs.names();
  const uint32_t now_s = shared_.clock->now_seconds();
  Burst& b = burst_;
  ClassifyBatch& again = b.names_batch;
  again.clear();
  int8_t first_bit[kBurst];
  uint32_t first_rule[kBurst];
  uint32_t bound[kBurst];
  auto consider = [&](uint16_t i) {
    if (b.fate[i] != Fate::pending || b.rule[i] == kNoRule) return;  // re-checks carry their connection's bits
    const int8_t bit = nm.fqdn_bit(b.rule[i]);
    if (bit == names::PolicyNames::kNoBit) return;
    first_bit[i] = bit;
    first_rule[i] = b.rule[i];
    bound[i] = b.fqdn_bits[i] = bound_bits(i, nm, bit, now_s);
    again.add(b.meta[i].tuple, b.keys[i].tenant, i, bound[i]);
  };
  for (uint16_t k = 0; k < batch.n4; ++k) consider(batch.of4[k]);
  for (uint16_t k = 0; k < batch.n6; ++k) consider(batch.of6[k]);
  if (again.empty()) return;
  classify(rs, again);
  auto settle = [&](uint16_t i) {
    NameNote& note = b.note[i];
    const uint32_t rule = b.rule[i];
    if (const Mode m = rs.rule_mode(first_rule[i]); m != Mode::enforce && rule != first_rule[i]) {
      b.name_relaxed |= 1u << i;
      b.name_mode[i] = m;
    }
    const int8_t bit = rule == kNoRule ? names::PolicyNames::kNoBit : nm.fqdn_bit(rule);
    if (bit == names::PolicyNames::kNoBit) {  // no rule with fqdn took it: why not
      if (note.outcome == static_cast<uint8_t>(NameOutcome::bound))
        note.outcome = static_cast<uint8_t>(NameOutcome::not_allowed);
      return;
    }
    if (!((bound[i] >> bit) & 1u)) {  // its addresses matched, not its names
      b.noted &= ~(1u << i);
      return;
    }
    if (bit != first_bit[i]) bound_bits(i, nm, bit, now_s);  // the name for this rule
  };
  for (uint16_t k = 0; k < again.n4; ++k) settle(again.of4[k]);
  for (uint16_t k = 0; k < again.n6; ++k) settle(again.of6[k]);
}

// A connection of an older rule set continues if the new set still allows
// its opening tuple; otherwise it is cut here (enforce).
template <Mode kMode, bool kRecord>
void Worker::settle_rechecks(RuleSet& rs, uint32_t now) noexcept {
  Burst& b = burst_;
  if (b.nrecheck == 0) return;
  for (uint16_t j = 0; j < b.nlookup; ++j) {
    const uint16_t i = b.lookup_of[j];
    if (b.fate[i] != Fate::recheck) continue;
    const int32_t pos = b.pos[i];
    ConnEntry& e = conns_.entry(pos);
    const uint32_t rule = b.rule[i];
    const bool allowed = rs.allows(rule);
    count(WorkerCounter::conn_rechecked);
    // A connection of a time-bound rule that just expired may finish
    // (--expired-connections finish): the set differs from the last only
    // by the expiry, so the old rule index still names that rule.
    const bool finishing = !allowed && cfg_.expired_finish && rs.same_rules_as_previous() &&
                           rs.rule_expired(load(e.rule));
    const Mode mode = allowed ? kMode : denial_mode<kMode>(i, rule, rs);
    if (mode == Mode::enforce && !allowed && !finishing) {
      revoke(i, pos, e, rs, now);
      continue;
    }
    // The traffic so far counts for the rule that admitted it; then the
    // connection goes on under the new set. The claim keeps the rule and
    // epoch consistent for whoever folds; when another thread holds it,
    // the connection stays as it was and its next packet checks again.
    if (conns_.claim(pos)) {
      fold(pos, e, rs);
      if (!finishing) {
        store(e.rule, rule);
        store(e.verdict, static_cast<uint8_t>(static_cast<uint8_t>(verdict_of(allowed, mode)) |
                                              (load(e.verdict) & kVerdictFlags)));
      }
      store(e.epoch, rs.epoch());
      conns_.release(pos);
    }
    hit<kMode>(i, e, now);
  }
}

// A classified first packet: its rule's verdict, then a connection, a
// stateless pass or a drop.
template <Mode kMode, bool kRecord>
void Worker::admit_one(uint16_t i, RuleSet& rs, uint32_t now) noexcept {
  Burst& b = burst_;
  const PacketMeta& m = b.meta[i];
  const uint32_t rule = b.rule[i];
  const bool allowed = rs.allows(rule);
  if (rs.logs(rule)) log_connection(m.tuple, rule, allowed, rs);
  // A rule with sni, allow or deny, decides only on the server name: until
  // then the connection is provisional (open_connection).
  const bool provisional = rs.names() != nullptr && rule != kNoRule &&
                           rs.names()->sni_bit(rule) != names::PolicyNames::kNoBit && !never_opens(m);
  const Mode mode = allowed || provisional ? kMode : denial_mode<kMode>(i, rule, rs);
  if (!allowed && !provisional) {
    if (mode == Mode::enforce) {
      deny<kMode, kRecord>(i, rule, rs, now);
      return;
    }
    count(mode == Mode::audit ? WorkerCounter::audit_would_drop : WorkerCounter::learn_would_drop);
  }
  b.fate[i] = Fate::pass;
  if (m.is_fragment) frags_.record(m, true, now);
  if (never_opens(m)) {
    pass_untracked(i, rule, rs, WorkerCounter::allowed_stateless);
    return;
  }
  open_connection<kMode, kRecord>(i, rule, verdict_of(allowed || provisional, mode), rs, now);
}

template <Mode kMode>
Mode Worker::denial_mode(uint16_t i, uint32_t rule, const RuleSet& rs) const noexcept {
  if constexpr (kMode != Mode::enforce) return kMode;
  const Mode own = rs.rule_mode(rule);
  if (own != Mode::enforce) return own;
  return (burst_.name_relaxed >> i) & 1u ? burst_.name_mode[i] : Mode::enforce;
}

// Verdicts for the classified first packets: an allowed one opens its
// connection, a denied one is dropped (enforce) or flagged.
template <Mode kMode, bool kRecord>
void Worker::admit(RuleSet& rs, uint32_t now) noexcept {
  Burst& b = burst_;
  if (b.batch.n4 + b.batch.n6 == b.nrecheck) return;  // nothing classified is a first packet
  for (uint16_t j = 0; j < b.nlookup; ++j) {
    const uint16_t i = b.lookup_of[j];
    if (b.fate[i] != Fate::pending) continue;
    admit_one<kMode, kRecord>(i, rs, now);
  }
}

// The burst's later packets of the connections its first packets led. A
// follower of a connection that now exists is one of its packets; one with
// the same tuple as a leader that opened nothing shares its verdict; only a
// reply to such a leader needs a classification of its own, and those are
// classified together, in one more round. No packet is parsed, looked up
// or classified twice.
template <Mode kMode, bool kRecord>
void Worker::follow(RuleSet& rs, uint32_t now) noexcept {
  Burst& b = burst_;
  if (b.nfollow == 0) return;
  count(WorkerCounter::followed, b.nfollow);
  // Round one: followers whose leader settled them.
  uint16_t reply_leader[kBurst];  // by leader: the first reply that needs a classification
  std::fill_n(reply_leader, b.n, UINT16_MAX);
  uint16_t later[kBurst];  // followers of round two's leaders, in order
  uint16_t nlater = 0;
  b.batch.clear();
  for (uint16_t k = 0; k < b.nfollow; ++k) {
    const uint16_t i = b.followers[k];
    const uint16_t l = b.leader[i];
    const bool opened = b.fate[l] == Fate::pass && b.pos[l] >= 0 &&
                        __atomic_load_n(&conns_.entry(b.pos[l]).in_use, __ATOMIC_ACQUIRE) != kEntryFree;
    if (opened || b.dir[i] == b.dir[l] || (b.fate[l] == Fate::drop && b.reason[l] == DropReason::connection_revoked)) {
      settle_follower<kMode, kRecord>(i, rs, now);
      continue;
    }
    // A reply to a leader that opened nothing.
    if (reply_leader[l] != UINT16_MAX) {
      b.leader[i] = reply_leader[l];
      later[nlater++] = i;
      continue;
    }
    if (invalid_opener<kMode>(i)) {
      set_drop(i, DropReason::tcp_invalid);
      continue;
    }
    reply_leader[l] = i;
    b.fate[i] = Fate::pending;
    b.batch.add(b.meta[i].tuple, b.keys[i].tenant, i);
  }
  if (b.batch.empty()) return;
  // Round two: the replies, classified together, then their followers
  // (which have the reply's tuple: never a third round).
  classify(rs, b.batch);
  if (rs.names() != nullptr) resolve_names(rs, b.batch);
  for (uint16_t k = 0; k < b.nfollow; ++k) {
    const uint16_t i = b.followers[k];
    if (b.fate[i] != Fate::pending) continue;
    admit_one<kMode, kRecord>(i, rs, now);
  }
  for (uint16_t k = 0; k < nlater; ++k) settle_follower<kMode, kRecord>(later[k], rs, now);
}

// Later fragments follow the verdict their first fragment got (in an
// earlier burst or this one).
template <Mode kMode>
void Worker::follow_fragments(uint32_t now) noexcept {
  Burst& b = burst_;
  if (b.nfragments == 0) return;
  for (uint16_t i = 0; i < b.n; ++i) {
    if (b.fate[i] != Fate::later_fragment) continue;
    const auto v = frags_.lookup(b.meta[i], now);
    if (v == FragmentTable::Verdict::pass || kMode != Mode::enforce) {
      b.fate[i] = Fate::pass;
      count(WorkerCounter::fragments_followed);
    } else {
      set_drop(i, v == FragmentTable::Verdict::drop ? DropReason::policy_deny : DropReason::fragment_unknown);
    }
  }
}

// DNS answers of trusted resolvers bind the names the policy mentions
// (dataplane/names/snoop.h) here, before the answer leaves: the client's
// first packet to an answered address finds its binding. Only packets that
// pass on a tracked connection are read; most are passed over on their
// ports alone.
void Worker::snoop_dns(const RuleSet& rs, uint32_t now) noexcept {
  // Set before the first rule set with names is published, never unset.
  names::BindingTable* table = shared_.bindings;
  names::DnsSnoop* snoop = snoop_;  // made with the table, before this set was published
  if (table == nullptr || snoop == nullptr) return;
  Burst& b = burst_;
  uint32_t now_s = 0;
  for (uint32_t want = b.dns_port | b.judged; want != 0; want &= want - 1) {
    const auto i = static_cast<uint16_t>(__builtin_ctz(want));
    const PacketMeta& m = b.meta[i];
    const bool judged = (b.judged >> i) & 1u;
    if (b.fate[i] != Fate::pass || b.pos[i] < 0 || m.has_inner || !names::DnsSnoop::wanted(m, judged)) continue;
    const ConnEntry& e = conns_.entry(b.pos[i]);
    if (__atomic_load_n(&e.in_use, __ATOMIC_ACQUIRE) == kEntryFree) continue;
    const uint8_t d = b.dir[i];
    names::SnoopPacket p;
    p.frame = b.frame(i);
    p.len = b.frame_len(i);
    p.meta = &m;
    p.tenant = b.keys[i].tenant;
    p.conn = b.pos[i];
    p.conn_hash = b.hash[i];
    p.conn_created_ms = e.created_ms;
    p.from_opener = d == e.orig_dir;
    p.first = judged && p.from_opener && load(e.packets[d]) == 1;
    if (now_s == 0) now_s = shared_.clock->now_seconds();
    snoop->read(p, *rs.names(), *table, now, now_s);
  }
}

// While a capture is armed (dataplane/capture.h): copies the packets its
// filter matches onto this worker's capture ring, every fate settled, before
// they leave or are freed. At most the capture's rate; a full ring loses
// the copy, never the packet.
void Worker::capture_burst(const QueueAssignment& q, const RuleSet& rs, uint32_t now, uint32_t arm) noexcept {
  const CaptureTap& tap = *shared_.capture;
  const CaptureFilter& f = tap.filter();
  Burst& b = burst_;
  const uint64_t rate = tap.worker_rate();  // copies a second: thousandths of a copy a millisecond
  const uint64_t most = std::max<uint64_t>(kBurst * 1000, rate * 100);  // a burst, or 100 ms of copies
  if (arm != capture_arm_) {
    capture_arm_ = arm;
    capture_tokens_ = most;
  } else {
    capture_tokens_ = std::min(most, capture_tokens_ + uint64_t{now - capture_ms_} * rate);
  }
  capture_ms_ = now;
  uint32_t looked_up = 0;  // the packets whose pos[] the lookup set: made when first needed
  bool looked_up_made = false;
  auto rule_of_packet = [&](uint16_t i, uint32_t& epoch) {
    if (!looked_up_made) {
      for (uint16_t j = 0; j < b.nlookup; ++j) looked_up |= 1u << b.lookup_of[j];
      looked_up_made = true;
    }
    return rule_of(i, rs, looked_up, epoch);
  };
  // The filter in locals: the counters' stores below would make the
  // compiler read it again for every packet.
  const bool drops_only = f.drops_only;
  const bool any_reason = !f.reason.has_value();
  const DropReason reason = f.reason.value_or(DropReason::count);
  const bool by_rule = f.rule.has_value();
  const uint64_t target = by_rule ? tap.rule_target() : 0;  // once a burst
  uint32_t candidates = b.n == kBurst ? ~0u : (1u << b.n) - 1u;
  if (drops_only) candidates &= equal_lanes(b.fate, Fate::drop);  // entries past b.n are no candidates
  if (by_rule && static_cast<uint32_t>(target >> 32) == rs.epoch()) {
    // The packets whose rule the burst holds (judged, or copied at their
    // hit) are compared in one pass; only a match, or a packet whose rule
    // lies in its entry alone, goes on.
    const uint32_t want = static_cast<uint32_t>(target);
    const uint32_t known = (b.judged | b.hit_ruled) & candidates;
    const uint32_t same = equal_lanes(b.rule, want);  // entries past b.n are no candidates
    candidates &= ~known | same;
  }
  for (; candidates != 0; candidates &= candidates - 1) {
    const auto i = static_cast<uint16_t>(__builtin_ctz(candidates));
    const bool dropped = b.fate[i] == Fate::drop;
    if (!any_reason && b.reason[i] != reason) continue;
    uint32_t epoch = 0, rule = 0;
    if (by_rule) {
      rule = rule_of_packet(i, epoch);
      if (!capture_rule_matches(rule, epoch, target, rs)) continue;
    }
    if (capture_tokens_ < 1000) {
      count(WorkerCounter::capture_over_rate);
      continue;
    }
    capture_tokens_ -= 1000;
    if (!by_rule) rule = rule_of_packet(i, epoch);
    CaptureRecord& r = capture_record_;
    const rte_mbuf* m = b.pkts[i];
    r.tsc = rte_get_tsc_cycles();
    r.rule = rule;
    r.epoch = epoch;
    r.length = rte_pktmbuf_pkt_len(m);
    r.caplen = static_cast<uint16_t>(std::min(r.length, kCaptureSnap));
    r.port = q.rx_port;
    r.dropped = dropped;
    r.reason = static_cast<uint8_t>(dropped ? b.reason[i] : DropReason::count);
    r.mode = static_cast<uint8_t>(rs.mode());
    const void* data = rte_pktmbuf_read(m, 0, r.caplen, r.data);
    if (data != r.data && data != nullptr) std::memcpy(r.data, data, r.caplen);
    if (rte_ring_sp_enqueue_elem(tap.ring(id_), &r, sizeof(r)) == 0) count(WorkerCounter::captured);
    else count(WorkerCounter::capture_lost);
  }
}

uint32_t Worker::rule_of(uint16_t i, const RuleSet& rs, uint32_t looked_up, uint32_t& epoch) const noexcept {
  const Burst& b = burst_;
  epoch = rs.epoch();
  if (((b.judged | b.hit_ruled) >> i) & 1u) return b.rule[i];
  // A packet of a tracked connection: the rule that admitted it, under the
  // epoch it was admitted (or last checked) under.
  if (((looked_up >> i) & 1u) && b.pos[i] >= 0 && !b.reuse[i]) {
    const ConnEntry& e = conns_.entry(b.pos[i]);
    if (__atomic_load_n(&e.in_use, __ATOMIC_ACQUIRE) != kEntryFree) {
      epoch = load(e.epoch);
      return load(e.rule);
    }
  }
  return kCaptureNoRule;
}

bool Worker::capture_rule_matches(uint32_t rule, uint32_t epoch, uint64_t target, const RuleSet& rs) const noexcept {
  if (static_cast<uint32_t>(target >> 32) == epoch) return rule == static_cast<uint32_t>(target);
  // A set the capture thread has not looked at yet (a swap a moment ago):
  // by the rule's id.
  if (epoch != rs.epoch() || rule == kCaptureNoRule) return false;
  const std::string& want = *shared_.capture->filter().rule;
  if (rule == kNoRule) return want == kDefaultRuleName;
  return rule < rs.rules().size() && rs.rules()[rule].id == want;
}

// Transmits what passes, frees what drops, in arrival order.
void Worker::transmit_burst(const QueueAssignment& q) noexcept {
  Burst& b = burst_;
  rte_mbuf* tx[kBurst];
  rte_mbuf* dropped[kBurst];
  uint16_t ntx = 0, ndrop = 0;
  for (uint16_t i = 0; i < b.n; ++i) {
    if (b.fate[i] == Fate::pass) {
      tx[ntx++] = b.pkts[i];
    } else {
      dropped[ndrop++] = b.pkts[i];
      count_drop(b.reason[i]);
    }
  }
  if (ndrop > 0) rte_pktmbuf_free_bulk(dropped, ndrop);
  if (ntx > 0) transmit(q, tx, ntx);
}

// ---------------------------------------------------------------------------
// One packet.

template <Mode kMode>
void Worker::hit(uint16_t i, ConnEntry& e, uint32_t now) noexcept {
  Burst& b = burst_;
  const PacketMeta& m = b.meta[i];
  const uint8_t d = b.dir[i];
  // A connection waiting for its ClientHello, or cut on it (a rule with sni).
  if (const uint8_t v = load(e.verdict); __builtin_expect((v & kVerdictFlags) != 0, 0))
    if (!hello_hit(i, e, v, now)) return;
  if (m.tuple.proto == common::kProtoTcp) {
    if (kMode == Mode::enforce && tcp_flags_invalid(m.tcp_flags)) {
      set_drop(i, DropReason::tcp_invalid);
      return;
    }
    tcp_track(e, d, m.tcp_flags);
  }
  // This direction's fields have one writer, this worker; other threads
  // read them (expiry, folds, records), so they are stored whole.
  store(e.last_seen_ms[d], now);
  store(e.packets[d], e.packets[d] + 1);
  store(e.bytes[d], e.bytes[d] + b.len[i]);
  // Under an enforced set too: a rule of its own mode may have forwarded it.
  if (const auto v = conn_verdict(e); v != ConnVerdict::allowed)
    count(v == ConnVerdict::audit_denied ? WorkerCounter::audit_would_drop : WorkerCounter::learn_would_drop);
  if (m.is_fragment) frags_.record(m, true, now);
  count(WorkerCounter::conn_hits);
  b.fate[i] = Fate::pass;
}

template <Mode kMode>
bool Worker::invalid_opener(uint16_t i) const noexcept {
  if constexpr (kMode != Mode::enforce) return false;
  const PacketMeta& m = burst_.meta[i];
  if (m.tuple.proto != common::kProtoTcp || m.has_inner) return false;
  const bool syn_only = (m.tcp_flags & (common::kTcpSyn | common::kTcpAck | common::kTcpRst | common::kTcpFin)) ==
                        common::kTcpSyn;
  const bool pickup = cfg_.tcp_loose || (shared_.appliance != nullptr && burst_.pickup[i]);
  return tcp_flags_invalid(m.tcp_flags) || (!syn_only && !pickup);
}

template <Mode kMode, bool kRecord>
void Worker::deny(uint16_t i, uint32_t rule, RuleSet& rs, uint32_t now) noexcept {
  Burst& b = burst_;
  const PacketMeta& m = b.meta[i];
  set_drop(i, DropReason::policy_deny);
  RuleCounter& rc = rs.counter(id_, rule);
  rc.packets += 1;
  rc.bytes += b.len[i];
  if (m.is_fragment) frags_.record(m, false, now);
  if constexpr (kRecord)
    denied_.add(m, b.keys[i].tenant, rule, rs.epoch(), b.len[i], now, opens_connection(m),
                [this](const FlowEvent& ev, const NameNote* note) { flow_event(ev, note); },
                (b.noted >> i) & 1u ? &b.note[i] : nullptr);
}

void Worker::pass_untracked(uint16_t i, uint32_t rule, RuleSet& rs, WorkerCounter why) noexcept {
  RuleCounter& rc = rs.counter(id_, rule);
  rc.packets += 1;
  rc.bytes += burst_.len[i];
  count(why);
}

template <Mode kMode, bool kRecord>
void Worker::open_connection(uint16_t i, uint32_t rule, ConnVerdict verdict, RuleSet& rs, uint32_t now) noexcept {
  Burst& b = burst_;
  const PacketMeta& m = b.meta[i];
  if (b.reuse[i]) {
    // An expired connection the sweep has not removed yet: ended here as
    // the sweep would end it, and opened afresh in a slot of its own. Never
    // rewritten in place: the worker of its other direction may be
    // updating it at this moment. A claim held elsewhere means another
    // thread is folding or ending it right now.
    const int32_t old = b.pos[i];
    if (!end_connection(old, conns_.entry(old), &rs, end_reason(conns_.entry(old)), now)) {
      b.pos[i] = -1;
      pass_untracked(i, rule, rs, WorkerCounter::conn_busy);
      return;
    }
    count(WorkerCounter::conn_expired);
  }
  bool created = false;
  const int32_t pos = conns_.insert(b.keys[i], b.hash[i], id_, &created);
  b.pos[i] = pos;
  if (pos < 0) {
    if (kMode == Mode::enforce) set_drop(i, DropReason::conn_table_full);
    else pass_untracked(i, rule, rs, WorkerCounter::allowed_stateless);
    return;
  }
  if (!created) {
    ConnEntry& e = conns_.entry(pos);
    if (__atomic_load_n(&e.in_use, __ATOMIC_ACQUIRE) != kEntryFree) {
      // Another worker opened it a moment ago: this is one of its packets.
      hit<kMode>(i, e, now);
      return;
    }
    // Another worker is filling it right now, and only the thread that
    // made a slot fills it: this packet passes as judged, untracked.
    b.pos[i] = -1;
    pass_untracked(i, rule, rs, WorkerCounter::conn_busy);
    return;
  }
  ConnEntry& e = conns_.entry(pos);
  const uint8_t d = b.dir[i];
  e.last_seen_ms[0] = e.last_seen_ms[1] = now;
  e.created_ms = now;
  e.epoch = rs.epoch();
  e.rule = rule;
  e.packets[0] = e.packets[1] = 0;
  e.bytes[0] = e.bytes[1] = 0;
  e.orig_dir = d;
  e.tcp[0] = e.tcp[1] = 0;
  e.flags_seen[0] = e.flags_seen[1] = 0;
  e.verdict = static_cast<uint8_t>(verdict);
  const names::PolicyNames* nm = rs.names();
  const bool hello = nm != nullptr && rule != kNoRule && nm->sni_bit(rule) != names::PolicyNames::kNoBit;
  if (hello) e.verdict |= kVerdictProvisional;
  e.proto = m.tuple.proto;
  e.icmp_echo = is_echo(m.tuple);
  e.opener_known = opens_connection(m);
  e.reported_ms = now;
  e.packets[d] = 1;
  e.bytes[d] = b.len[i];
  if (m.tuple.proto == common::kProtoTcp) tcp_track(e, d, m.tcp_flags);
  // A slot's handle is kNone until a connection admitted by a name takes
  // it (and again once its slot is reclaimed): only those write it.
  if ((b.noted >> i) & 1u) {
    const NameNote& note = b.note[i];
    conns_.name_of(pos) =
        conns_.names().acquire(note.outcome, note.text(), shared_.clock->now_seconds() - note.age_s, note.age_s);
  }
  __atomic_store_n(&e.in_use, kEntryLive, __ATOMIC_RELEASE);
  rs.counter(id_, rule).connections += 1;
  count(WorkerCounter::conn_new);
  if (m.tuple.proto == common::kProtoTcp && !e.opener_known) count(WorkerCounter::tcp_picked_up);
  if (kRecord && sampled(pos)) record_connection(pos, e, pb::FlowRecord::START, 0, now);
  if (hello) start_hello(i, pos, e, now);
}

template <Mode kMode, bool kRecord>
void Worker::settle_follower(uint16_t i, RuleSet& rs, uint32_t now) noexcept {
  Burst& b = burst_;
  const uint16_t l = b.leader[i];
  const PacketMeta& m = b.meta[i];
  b.pos[i] = b.pos[l];
  if (b.fate[l] == Fate::pass && b.pos[l] >= 0) {
    ConnEntry& e = conns_.entry(b.pos[l]);
    if (__atomic_load_n(&e.in_use, __ATOMIC_ACQUIRE) != kEntryFree) {
      hit<kMode>(i, e, now);
      return;
    }
  }
  if (b.fate[l] == Fate::drop && b.reason[l] == DropReason::connection_revoked) {
    set_drop(i, DropReason::connection_revoked);
    return;
  }
  // The leader's tuple, and it opened nothing: its verdict, without
  // classifying again (but a TCP packet no connection may start with is
  // still refused as such).
  if (invalid_opener<kMode>(i)) {
    set_drop(i, DropReason::tcp_invalid);
    return;
  }
  const uint32_t rule = b.rule[l];
  b.rule[i] = rule;
  b.judged |= 1u << i;
  if (b.fate[l] == Fate::drop) {
    if (b.reason[l] == DropReason::policy_deny) {
      deny<kMode, kRecord>(i, rule, rs, now);
    } else {
      set_drop(i, b.reason[l]);
    }
    return;
  }
  if (!rs.allows(rule))
    count(denial_mode<kMode>(l, rule, rs) == Mode::audit ? WorkerCounter::audit_would_drop
                                                         : WorkerCounter::learn_would_drop);
  b.fate[i] = Fate::pass;
  if (m.is_fragment) frags_.record(m, true, now);
  pass_untracked(i, rule, rs, WorkerCounter::allowed_stateless);
}

// ---------------------------------------------------------------------------
// Rules written with names.

namespace {

names::BindingKey binding_key(const FlowTuple& t, uint16_t tenant) noexcept {
  names::BindingKey key;
  key.tenant = tenant;
  key.family = t.family;
  const size_t len = t.family == 4 ? 4 : 16;  // IPv4: the rest of the tuple's bytes is not the address
  std::memcpy(key.client.data(), t.src, len);
  std::memcpy(key.server.data(), t.dst, len);
  return key;
}

}  // namespace

uint32_t Worker::bound_bits(uint16_t i, const names::PolicyNames& nm, int8_t want, uint32_t now_s) noexcept {
  Burst& b = burst_;
  NameNote& note = b.note[i];
  note.set(NameOutcome::no_answer, {}, 0);
  b.noted |= 1u << i;
  if (shared_.bindings == nullptr) return 0;
  uint32_t bits = 0;
  bool wanted = false, seen = false;
  shared_.bindings->lookup(binding_key(b.meta[i].tuple, b.keys[i].tenant), now_s, [&](const names::BoundName& n) {
    const uint32_t of_name = nm.fqdn_bits(n.name);
    const uint32_t age = static_cast<int32_t>(now_s - n.bound_at) > 0 ? now_s - n.bound_at : 0;
    if (!wanted && ((of_name >> want) & 1u)) {
      note.set(NameOutcome::bound, n.name, age);
      wanted = true;
    } else if (!seen) {
      note.set(NameOutcome::not_allowed, n.name, age);
    }
    seen = true;
    bits |= of_name;
  });
  return bits;
}

uint32_t Worker::admitted_bits(int32_t pos, const RuleSet& rs) const noexcept {
  const names::PolicyNames* nm = rs.names();
  const uint32_t h = std::as_const(conns_).name_of(pos);
  if (nm == nullptr || h == names::ConnNames::kNotKept) return kAllNameBits;
  if (h == names::ConnNames::kNone) return 0;  // admitted by its addresses: no binding counts for it
  const auto& n = conns_.names().get(h);
  return n.outcome == static_cast<uint8_t>(NameOutcome::bound) ? nm->fqdn_bits(n.name()) : 0;
}

// ---------------------------------------------------------------------------
// Server names: a connection a rule with `sni` admitted, until its
// ClientHello is judged (docs/egress.md, "Server names").

namespace {

uint32_t be32(const uint8_t* p) noexcept {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

}  // namespace

void Worker::start_hello(uint16_t i, int32_t pos, ConnEntry& e, uint32_t now) noexcept {
  Burst& b = burst_;
  const names::PolicyNames& nm = *rules_->names();
  const PacketMeta& m = b.meta[i];
  count(WorkerCounter::hello_waiting);
  const bool quic = m.tuple.proto == common::kProtoUdp;
  // Only a first flight the dataplane can read from its start is waited
  // for: a TCP connection seen from its SYN on a TLS port, a QUIC port.
  const bool readable = quic ? nm.quic_port(m.tuple.dport) && quic_->ok()
                             : m.tuple.proto == common::kProtoTcp && e.opener_known && m.l4_offset != 0 &&
                                   nm.tls_port(m.tuple.dport);
  names::HelloTable::Entry* h = nullptr;
  if (readable) {
    h = hellos_.take(pos, quic, now, nm.settings().hello_ms() + kHelloStaleMs);
    if (h == nullptr) count(WorkerCounter::hello_pool_full);
  }
  if (h == nullptr) {
    if (!decide_hello(pos, e, nullptr)) cut_here(i);
    return;
  }
  h->fqdn_known = (b.noted >> i) & 1u;
  h->fqdn_bits = h->fqdn_known ? b.fqdn_bits[i] : kAllNameBits;
  if (!quic) h->isn = be32(b.frame(i) + m.l4_offset + 4);
  hello_step(i, pos, e, *h, now);
}

bool Worker::hello_hit(uint16_t i, ConnEntry& e, uint8_t verdict, uint32_t now) noexcept {
  Burst& b = burst_;
  if (verdict & kVerdictCut) {
    set_drop(i, DropReason::sni_cut);
    return false;
  }
  // The server's packets pass (its SYN-ACK; it has nothing to say before
  // the ClientHello); a set without names judges no server name.
  if (b.dir[i] != e.orig_dir || rules_->names() == nullptr) return true;
  const int32_t pos = b.pos[i];
  names::HelloTable::Entry* h = hellos_.find(pos);
  if (h == nullptr) {  // its reader was taken back: decided as if nothing came
    if (decide_hello(pos, e, nullptr)) return true;
    cut_here(i);
    return false;
  }
  return hello_step(i, pos, e, *h, now);
}

bool Worker::hello_step(uint16_t i, int32_t pos, ConnEntry& e, names::HelloTable::Entry& h, uint32_t now) noexcept {
  const pb::NameSettings& set = rules_->names()->settings();
  bool in_order = true;
  feed_hello(i, h, in_order);
  const bool decided = h.hello().decided();
  const bool late = !decided && (h.packets >= std::max<uint32_t>(set.hello_packets(), 1) ||
                                 static_cast<int32_t>(now - h.start_ms) > static_cast<int32_t>(set.hello_ms()));
  if (decided || late) {
    if (decide_hello(pos, e, &h)) return true;
    cut_here(i);
    return false;
  }
  // Nothing the client sends past what the reader holds in order leaves
  // before the decision: it comes again once decided.
  if (!in_order) {
    set_drop(i, DropReason::hello_held);
    return false;
  }
  return true;
}

bool Worker::feed_hello(uint16_t i, names::HelloTable::Entry& h, bool& in_order) noexcept {
  const Burst& b = burst_;
  const PacketMeta& m = b.meta[i];
  if (m.l4_offset == 0) return false;
  const uint8_t* f = b.frame(i);
  const uint32_t end = std::min<uint32_t>(uint32_t{m.l3_offset} + m.l3_length, b.frame_len(i));
  if (h.quic) {
    const uint32_t start = m.l4_offset + 8u;
    if (start >= end) return false;
    ++h.packets;
    const names::QuicRead r = quic_->read(f + start, end - start, h.quic_hello);
    in_order = r.initials > 0;  // a 0-RTT or later packet waits for the decision
    return true;
  }
  if (uint32_t{m.l4_offset} + 20 > end) return false;
  const uint8_t* tcp = f + m.l4_offset;
  const uint32_t start = m.l4_offset + (tcp[12] >> 4) * 4u;
  if (start >= end) return false;
  const uint32_t seq = be32(tcp + 4);
  // Data in the SYN (TCP Fast Open) starts the stream; later segments
  // count from the sequence number after the SYN's.
  const uint32_t off = (m.tcp_flags & common::kTcpSyn) ? 0 : seq - (h.isn + 1);
  if (off > kHelloMaxOffset) return false;  // before the stream's start, or far past what is read
  const uint32_t len = end - start;
  ++h.packets;
  in_order = off <= h.next;
  if (in_order) h.next = std::max(h.next, off + len);
  h.tls.feed(off, f + start, len);
  return true;
}

bool Worker::decide_hello(int32_t pos, ConnEntry& e, names::HelloTable::Entry* h) noexcept {
  RuleSet& rs = *rules_;
  const names::PolicyNames& nm = *rs.names();
  const pb::NameSettings& set = nm.settings();
  const ConnKey& key = conns_.key(pos);
  const FlowTuple t = opened_tuple(key, e);
  const uint32_t now_s = shared_.clock->now_seconds();
  auto fallback_bits = [&](pb::SniFallback f) { return f == pb::SNI_ALLOW ? rs.sni_allow_bits() : 0u; };
  uint32_t sni = fallback_bits(set.timeout());  // no ClientHello in time, or none readable
  uint32_t fqdn = h != nullptr && h->fqdn_known ? h->fqdn_bits : kAllNameBits;
  bool fqdn_known = h != nullptr && h->fqdn_known;
  std::string_view name;
  if (h != nullptr) {
    const names::ClientHello& ch = h->hello();
    if (ch.status == names::HelloStatus::complete) {
      if (!ch.has_sni) {
        sni = fallback_bits(set.no_sni());
      } else if (ch.ech && set.ech() == pb::SNI_DENY) {
        sni = 0;
      } else {
        sni = nm.sni_bits(ch.sni());
        name = ch.sni();
      }
    }
  }
  // The bindings: the fqdn bits the first packet did not look up, and
  // whether the client was answered this address for the server name.
  bool answered = false;
  if (!fqdn_known || (!name.empty() && set.mismatch() == pb::SNI_DENY)) {
    uint32_t bits = 0;
    if (shared_.bindings != nullptr)
      shared_.bindings->lookup(binding_key(t, key.tenant), now_s, [&](const names::BoundName& n) {
        bits |= nm.fqdn_bits(n.name);
        answered = answered || n.name == name;
      });
    if (!fqdn_known) fqdn = bits;
  }
  if (!name.empty() && set.mismatch() == pb::SNI_DENY && !answered) sni = 0;
  if (h != nullptr) hellos_.give_back(*h);
  const uint32_t rule = rs.classify(t, key.tenant, fqdn, sni);
  const bool allowed = rs.allows(rule);
  Mode mode = allowed || rs.mode() != Mode::enforce ? rs.mode() : rs.rule_mode(rule);
  // Denied after the rule that let it in provisionally failed on the name:
  // that rule's own mode (audit, learn) forwards the denial.
  if (const uint32_t before = load(e.rule);
      mode == Mode::enforce && !allowed && rule != before && load(e.epoch) == rs.epoch())
    mode = rs.rule_mode(before);
  const bool cut = !allowed && mode == Mode::enforce;
  count(cut ? WorkerCounter::hello_cut : WorkerCounter::hello_allowed);
  // The claim keeps rule, verdict and epoch consistent for whoever folds;
  // it is held elsewhere only for a fold's moment.
  for (unsigned tries = 0; !conns_.claim(pos); ++tries)
    if (tries == kHelloClaimTries) return !cut;  // still provisional: its next packet decides again
  fold(pos, e, rs);
  if (!name.empty()) {  // kept for the connection's records
    uint32_t handle = conns_.name_of(pos);
    if (handle == names::ConnNames::kNone) {
      handle = conns_.names().acquire(static_cast<uint8_t>(NameOutcome::none), {}, now_s, 0);
      __atomic_store_n(&conns_.name_of(pos), handle, __ATOMIC_RELEASE);
    }
    conns_.names().set_sni(handle, name, cut);
  }
  store(e.rule, rule);
  store(e.epoch, rs.epoch());
  store(e.verdict, static_cast<uint8_t>(static_cast<uint8_t>(verdict_of(allowed, mode)) | (cut ? kVerdictCut : 0)));
  conns_.release(pos);
  return !cut;
}

// The resets go out with the burst's packets: one on the segment's way,
// toward the server, in place of the segment (sequence number: the
// segment's); one back out of the port it came in on, toward the client
// (sequence number: what the client acknowledged of the server's). Only
// for plain inline TCP whose headers the reset can copy: not tunnelled,
// no IPv6 extension headers.
void Worker::cut_here(uint16_t i) noexcept {
  Burst& b = burst_;
  set_drop(i, DropReason::sni_cut);
  const PacketMeta& m = b.meta[i];
  if (!rules_->names()->settings().reset() || m.tuple.proto != common::kProtoTcp || m.l4_offset == 0 ||
      shared_.appliance != nullptr || (m.tuple.family == 6 && m.l4_offset != m.l3_offset + 40u))
    return;
  const uint32_t hdr = m.l4_offset + 20u;  // the TCP header without options
  if (hdr > b.frame_len(i)) return;
  const uint8_t* f = b.frame(i);
  const uint8_t* seg = f + m.l4_offset;
  const QueueAssignment* back = nullptr;
  for (const auto& qa : queues_)
    if (qa.tx_port == queue_->rx_port) back = &qa;
  for (const bool to_client : {false, true}) {
    const QueueAssignment* out = to_client ? back : queue_;
    if (out == nullptr) continue;
    rte_mbuf* r = rte_pktmbuf_alloc(b.pkts[i]->pool);
    if (r == nullptr) continue;
    auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, static_cast<uint16_t>(hdr)));
    if (d == nullptr) {
      rte_pktmbuf_free(r);
      continue;
    }
    std::memcpy(d, f, hdr);
    uint8_t* ip = d + m.l3_offset;
    uint8_t* tcp = d + m.l4_offset;
    if (to_client) {
      for (unsigned k = 0; k < 6; ++k) std::swap(d[k], d[6 + k]);  // the MAC addresses
      std::swap_ranges(tcp, tcp + 2, tcp + 2);                      // the ports
      std::memcpy(tcp + 4, seg + 8, 4);                             // seq: the client's acknowledgement
    }
    std::memset(tcp + 8, 0, 4);  // no acknowledgement
    tcp[12] = 5 << 4;
    tcp[13] = common::kTcpRst;
    std::memset(tcp + 14, 0, 6);  // window, checksum, urgent pointer
    if (m.tuple.family == 4) {
      auto* h4 = reinterpret_cast<rte_ipv4_hdr*>(ip);
      if (to_client) std::swap_ranges(ip + 12, ip + 16, ip + 16);  // the addresses
      h4->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(hdr - m.l3_offset));
      h4->time_to_live = 64;
      h4->fragment_offset = 0;
      h4->hdr_checksum = 0;
      h4->hdr_checksum = rte_ipv4_cksum(h4);
      const uint16_t sum = rte_ipv4_udptcp_cksum(h4, tcp);
      std::memcpy(tcp + 16, &sum, 2);
    } else {
      auto* h6 = reinterpret_cast<rte_ipv6_hdr*>(ip);
      if (to_client) std::swap_ranges(ip + 8, ip + 24, ip + 24);
      h6->payload_len = rte_cpu_to_be_16(20);
      h6->hop_limits = 64;
      const uint16_t sum = rte_ipv6_udptcp_cksum(h6, tcp);
      std::memcpy(tcp + 16, &sum, 2);
    }
    count(WorkerCounter::resets_sent, transmit(*out, &r, 1));
  }
}

// A binding that admitted a live connection is kept alive with it: moved
// on to the grace period from now when it would end sooner (a lock-free
// look first; the table's lock only when it must move), and bound again
// if it was given up meanwhile. Once per sweep visit of the connection;
// the expiry learnt is kept with the connection, so while it lies beyond
// the grace period from now and nothing was evicted, the visit does not
// look at the table at all.
void Worker::keep_binding(int32_t pos, const ConnEntry& e, const RuleSet& rs, uint32_t now_s) noexcept {
  const uint32_t h = std::as_const(conns_).name_of(pos);
  if (!names::ConnNames::kept(h) || shared_.bindings == nullptr) return;
  const auto& n = conns_.names().get(h);
  if (n.outcome != static_cast<uint8_t>(NameOutcome::bound)) return;
  const uint32_t until = now_s + std::max<uint32_t>(rs.names()->grace_seconds(), 1);
  // Known to last past `until`, and nothing evicted since it was learnt:
  // no look at the table (most visits, for most connections).
  const auto evictions = static_cast<uint32_t>(shared_.bindings->evictions());
  if (static_cast<int32_t>(n.kept_until.load(std::memory_order_relaxed) - until) >= 0 &&
      n.kept_evictions.load(std::memory_order_relaxed) == evictions)
    return;
  const ConnKey& ck = conns_.key(pos);
  const names::BindingKey key = binding_key(opened_tuple(ck, e), ck.tenant);
  uint32_t expires = 0;
  bool found = false;
  shared_.bindings->lookup(key, now_s, [&](const names::BoundName& b) {
    if (b.name != n.name() || (found && static_cast<int32_t>(b.expires - expires) <= 0)) return;
    expires = b.expires;
    found = true;
  });
  if (!found || static_cast<int32_t>(expires - until) < 0) {
    const auto r = shared_.bindings->bind(key, n.name(), now_s, until);
    if (r == names::BindResult::name_cap || r == names::BindResult::names_full) return;  // look again next visit
    expires = until;
  }
  n.kept_until.store(expires, std::memory_order_relaxed);
  n.kept_evictions.store(evictions, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// Connections and the rule counters.

void Worker::revoke(uint16_t i, int32_t pos, ConnEntry& e, RuleSet& rs, uint32_t now) noexcept {
  set_drop(i, DropReason::connection_revoked);
  // When another thread holds the claim (folding or ending it), or the
  // table's reclamation queue is full, this packet is dropped all the same
  // and the connection's next packet is judged again.
  if (end_connection(pos, e, &rs, pb::FlowRecord::REVOKED, now)) count(WorkerCounter::conn_revoked);
}

bool Worker::end_connection(int32_t pos, const ConnEntry& e, RuleSet* rs, int reason, uint32_t now) noexcept {
  if (!conns_.claim(pos)) return false;
  if (conns_.retire_full(id_)) {
    conns_.release(pos);
    return false;
  }
  if (rs != nullptr) fold(pos, e, *rs);
  if (flow_ring_ != nullptr && sampled(pos)) record_connection(pos, e, pb::FlowRecord::END, reason, now);
  conns_.remove(pos, id_);
  return true;
}

uint64_t Worker::unfolded(int32_t pos, const ConnEntry& e) const noexcept {
  const uint32_t packets = load(e.packets[0]) + load(e.packets[1]);
  const auto bytes = static_cast<uint32_t>(load(e.bytes[0]) + load(e.bytes[1]));
  const uint64_t w = __atomic_load_n(&conns_.folded(pos), __ATOMIC_RELAXED);
  return uint64_t{static_cast<uint32_t>(bytes - static_cast<uint32_t>(w >> 32))} << 32 |
         static_cast<uint32_t>(packets - static_cast<uint32_t>(w));
}

// The fold word holds the packets and the low 32 bits of the bytes already
// counted: a fold adds the difference, exact while a connection moves less
// than 4 GiB between two folds (the sweep folds every live connection
// once per --sweep-period).
void Worker::fold(int32_t pos, const ConnEntry& e, RuleSet& rs) noexcept {
  const uint64_t delta = unfolded(pos, e);
  if (delta == 0) return;
  const uint32_t packets = load(e.packets[0]) + load(e.packets[1]);
  const auto bytes = static_cast<uint32_t>(load(e.bytes[0]) + load(e.bytes[1]));
  const uint32_t rule = rs.counting_rule(load(e.epoch), load(e.rule));
  if (rule != RuleSet::kUnmapped) {
    RuleCounter& rc = rs.counter(id_, rule);
    rc.packets += static_cast<uint32_t>(delta);
    rc.bytes += delta >> 32;
  } else {
    count(WorkerCounter::unattributed_packets, static_cast<uint32_t>(delta));
  }
  __atomic_store_n(&conns_.folded(pos), uint64_t{bytes} << 32 | packets, __ATOMIC_RELAXED);
}

bool Worker::recheck_idle(int32_t pos, ConnEntry& e, RuleSet& rs) noexcept {
  const ConnKey& key = conns_.key(pos);
  const uint32_t rule = rs.classify(opened_tuple(key, e), key.tenant, admitted_bits(pos, rs));
  const bool allowed = rs.allows(rule);
  count(WorkerCounter::conn_rechecked);
  const Mode mode = allowed || rs.mode() != Mode::enforce ? rs.mode() : rs.rule_mode(rule);
  if (!allowed && mode == Mode::enforce) return false;  // its next packet cuts it
  store(e.rule, rule);
  store(e.verdict, static_cast<uint8_t>(static_cast<uint8_t>(verdict_of(allowed, mode)) |
                                        (load(e.verdict) & kVerdictFlags)));
  store(e.epoch, rs.epoch());
  return true;
}

void Worker::sweep(RuleSet* rs, uint32_t now) noexcept {
  if (flow_ring_ != nullptr)
    denied_.flush(now, [this](const FlowEvent& ev, const NameNote* note) { flow_event(ev, note); });
  store(stats_.events[static_cast<unsigned>(WorkerCounter::flow_records_suppressed)], denied_.suppressed());
  // Paced by time, not by passes: a busy worker makes hundreds of passes a
  // millisecond, and each slot checked is a likely cache miss. The share is
  // walked bucket by bucket: a bucket's signatures say which slots hold a
  // connection, so free slots cost nothing.
  conns_.reclaim(id_);
  const uint32_t elapsed = now - last_sweep_ms_;
  if (elapsed == 0) return;
  last_sweep_ms_ = now;
  const uint32_t buckets = conns_.buckets();
  const uint64_t share = buckets / workers_ + 1;
  const uint64_t budget = std::min({share * elapsed / cfg_.sweep_period_ms + 1,
                                     uint64_t{cfg_.sweep_per_poll / ConnTable::kBucketSlots + 1}, share});
  for (uint64_t k = 0; k < budget; ++k) {
    uint64_t bucket = static_cast<uint64_t>(sweep_cursor_) * workers_ + id_;
    if (bucket >= buckets) {  // the end of the share: on from its start
      sweep_cursor_ = 0;
      bucket = id_;
      if (bucket >= buckets) break;
    }
    if (!sweep_bucket(static_cast<uint32_t>(bucket), rs, now)) break;  // looked at again next time
    ++sweep_cursor_;
  }
}

bool Worker::sweep_bucket(uint32_t bucket, RuleSet* rs, uint32_t now) noexcept {
  const Timeouts& t = cfg_.timeouts;
  const uint32_t now_s = rs != nullptr && rs->names() != nullptr ? shared_.clock->now_seconds() : 0;
  for (uint32_t m = conns_.occupied(bucket); m != 0; m &= m - 1) {
    const auto p = static_cast<int32_t>(bucket * ConnTable::kBucketSlots + static_cast<uint32_t>(__builtin_ctz(m)));
    ConnEntry& e = conns_.entry(p);
    if (__atomic_load_n(&e.in_use, __ATOMIC_ACQUIRE) != kEntryLive) continue;  // free, or another thread is on it
    const bool record = flow_ring_ != nullptr && sampled(p);
    if (expired(e, now, t)) {
      if (conns_.retire_full(id_)) return false;  // the reclamation queue is full
      if (end_connection(p, e, rs, end_reason(e), now)) count(WorkerCounter::conn_expired);
      continue;
    }
    // Fold what the connection carried since the last visit. One admitted
    // under an older set is brought up to the current one first, if the
    // current one lets it continue.
    if (rs != nullptr && rs->names() != nullptr) keep_binding(p, e, *rs, now_s);
    if (rs != nullptr && unfolded(p, e) != 0 && conns_.claim(p)) {
      fold(p, e, *rs);
      if (load(e.epoch) != rs->epoch()) recheck_idle(p, e, *rs);
      conns_.release(p);
    }
    if (record && static_cast<int32_t>(now - e.reported_ms) >= static_cast<int32_t>(shared_.flow_update_ms)) {
      record_connection(p, e, pb::FlowRecord::UPDATE, 0, now);
      store(e.reported_ms, now);
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// Records and transmission.

void Worker::record_connection(int32_t pos, const ConnEntry& e, uint8_t kind, int end_reason, uint32_t now) noexcept {
  const FlowEvent ev = connection_event(conns_.key(pos), e, kind, end_reason, now);
  if (const uint32_t h = std::as_const(conns_).name_of(pos); names::ConnNames::kept(h)) {
    const auto& n = conns_.names().get(h);
    NameNote note;
    note.set(static_cast<NameOutcome>(n.outcome), n.name(), n.age_s);
    if (const std::string_view sni = n.sni(); !sni.empty()) note.set_sni(sni, n.sni_cut);
    flow_event(ev, &note);
    return;
  }
  flow_event(ev, nullptr);
}

void Worker::flow_event(const FlowEvent& ev, const NameNote* note) noexcept {
  bool queued;
  if (note == nullptr) {
    queued = rte_ring_sp_enqueue_elem(flow_ring_, const_cast<FlowEvent*>(&ev), sizeof(ev)) == 0;
  } else {
    // The event and its note's slots in one bulk enqueue: all or none.
    FlowEvent slots[1 + kMaxNoteSlots];
    slots[0] = ev;
    slots[0].note_slots = static_cast<uint8_t>(pack_note(*note, slots + 1));
    const unsigned n = 1u + slots[0].note_slots;
    queued = rte_ring_sp_enqueue_bulk_elem(flow_ring_, slots, sizeof(FlowEvent), n, nullptr) == n;
  }
  count(queued ? WorkerCounter::flow_records : WorkerCounter::flow_records_lost);
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
    count_drop(DropReason::tx_full, n - sent);
    rte_pktmbuf_free_bulk(pkts + sent, n - sent);
  }
  return sent;
}

}  // namespace bulkhead::dataplane
