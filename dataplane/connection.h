// What a connection is: the one definition the worker tracks packets by and
// the offline capture reader (controlplane/flows/pcap_flows.cpp) reads
// captures by, so a capture is judged the way the wire is.
//
//  * its key: the tuple made direction-free (the lower address/port endpoint
//    first); ICMP echo request and reply meet on the echo identifier;
//  * which packet opens it (a TCP SYN, an ICMP echo request; UDP and other
//    protocols have no opener to tell) and which never do (ICMP errors and
//    ICMP other than echo requests);
//  * its state (ConnEntry): per-direction TCP progress, last-seen times and
//    counters, and the timeout that follows from them.
//
// Pure: no DPDK, no allocation; safe from any thread on its own data. Who
// may write which field of a ConnEntry held in the shared table is said in
// dataplane/conntrack.h.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/packet.h"

namespace bulkhead::dataplane {

// Direction-free key: the lower (address, port) endpoint first, and the
// tenant (one-armed insertion: the same 5-tuple under two load-balancer
// endpoints is two connections; 0 inline); compared as five 8-byte words.
struct ConnKey {
  uint8_t a[16];
  uint8_t b[16];
  uint16_t port_a;
  uint16_t port_b;
  uint8_t proto;
  uint8_t family;
  uint16_t tenant;
};
static_assert(sizeof(ConnKey) == 40);

// Orders two endpoints by address (as big-endian numbers), then port.
// Two 8-byte loads per address instead of a memcmp call: this runs for every
// packet.
inline int endpoint_cmp(const uint8_t* a, uint16_t pa, const uint8_t* b, uint16_t pb) noexcept {
  uint64_t x, y;
  for (int half = 0; half < 2; ++half) {
    std::memcpy(&x, a + 8 * half, 8);
    std::memcpy(&y, b + 8 * half, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
  return static_cast<int>(pa) - static_cast<int>(pb);
}

// Canonicalises `t` into `key` (tenant 0); returns the packet's direction
// (0: the packet's source is endpoint a). Inline: the worker makes one per
// packet. The ports are moved as one word, and the protocol, family and
// tenant as another: the key takes a few stores.
inline uint8_t make_conn_key(const FlowTuple& t, ConnKey& key) noexcept {
  static_assert(offsetof(FlowTuple, dport) == offsetof(FlowTuple, sport) + 2 &&
                offsetof(FlowTuple, family) == offsetof(FlowTuple, proto) + 1);
  static_assert(offsetof(ConnKey, port_b) == offsetof(ConnKey, port_a) + 2 &&
                offsetof(ConnKey, family) == offsetof(ConnKey, proto) + 1 &&
                offsetof(ConnKey, tenant) == offsetof(ConnKey, proto) + 2);
  const bool forward = endpoint_cmp(t.src, t.sport, t.dst, t.dport) <= 0;
  const uint8_t* lo = forward ? t.src : t.dst;
  const uint8_t* hi = forward ? t.dst : t.src;
  std::memcpy(key.a, lo, 16);
  std::memcpy(key.b, hi, 16);
  uint32_t ports;  // sport, dport as they lie in memory
  std::memcpy(&ports, &t.sport, 4);
  if (!forward) ports = ports >> 16 | ports << 16;
  std::memcpy(&key.port_a, &ports, 4);
  const uint8_t tail[4] = {t.proto, t.family, 0, 0};  // tenant 0
  std::memcpy(&key.proto, tail, 4);
  return forward ? 0 : 1;
}

// Rebuilds the tuple of direction `dir` from a key.
void tuple_from_key(const ConnKey& key, uint8_t dir, FlowTuple& t) noexcept;

// ICMP echo request or reply.
inline bool is_echo(const FlowTuple& t) noexcept {
  if (t.proto == common::kProtoIcmp) return t.sport == 8 || t.sport == 0;
  if (t.proto == common::kProtoIcmpv6) return t.sport == 128 || t.sport == 129;
  return false;
}

inline bool is_echo_request(const FlowTuple& t) noexcept {
  return (t.proto == common::kProtoIcmp && t.sport == 8) || (t.proto == common::kProtoIcmpv6 && t.sport == 128);
}

using common::is_icmp;

// Router/neighbour solicitation and advertisement, redirect: IPv6's ARP,
// forwarded like non-IP frames.
inline bool is_neighbour_discovery(const FlowTuple& t) noexcept {
  return t.proto == common::kProtoIcmpv6 && t.sport >= 133 && t.sport <= 137;
}

// The tuple a packet is tracked by: the quoted packet's for an ICMP error,
// the packet's own otherwise, with an echo's identifier as both ports.
// `frame` is the frame `m` was parsed from.
FlowTuple connection_tuple(const PacketMeta& m, const uint8_t* frame, uint32_t len) noexcept;

// make_conn_key(connection_tuple(m, frame, len), key), with no copy of the
// tuple for the packets tracked by their own (all but ICMP errors and
// echoes).
inline uint8_t make_packet_key(const PacketMeta& m, const uint8_t* frame, uint32_t len, ConnKey& key) noexcept {
  if (!m.has_inner && !is_echo(m.tuple)) return make_conn_key(m.tuple, key);
  return make_conn_key(connection_tuple(m, frame, len), key);
}

// The opening packet of a connection: a TCP SYN (without ACK), an ICMP
// echo request.
inline bool opens_connection(const PacketMeta& m) noexcept {
  if (m.tuple.proto == common::kProtoTcp)
    return (m.tcp_flags & (common::kTcpSyn | common::kTcpAck)) == common::kTcpSyn;
  return is_echo_request(m.tuple);
}

// ICMP errors and ICMP other than echo requests pass (when allowed) without
// opening a connection.
inline bool never_opens(const PacketMeta& m) noexcept {
  return m.has_inner || (is_icmp(m.tuple.proto) && !is_echo_request(m.tuple));
}

// A direction's TCP progress.
enum class TcpState : uint8_t { none = 0, syn_sent, established, fin_sent, reset };

// How a connection was let in.
enum class ConnVerdict : uint8_t {
  allowed = 0,       // a rule (or the default) allows it
  audit_denied = 1,  // audit mode: would have been dropped
  learned = 2,       // learn mode: policy would deny, forwarded anyway
};

// ConnEntry::in_use: the entry's life in the shared table.
inline constexpr uint8_t kEntryFree = 0;     // not a connection (being filled, or removed)
inline constexpr uint8_t kEntryLive = 1;     // a connection: packets may update it
inline constexpr uint8_t kEntryClaimed = 2;  // a connection one thread is folding or ending

// A connection's state, as held in the shared table (dataplane/conntrack.h).
//
// Who writes and who reads each field, in the manner of Open vSwitch's
// lib/conntrack-private.h. "The admitting worker" is the one whose
// ConnTable::insert() made the slot: only it fills the entry, and only
// before it publishes in_use = live with a release store; an entry is
// never filled again in place (a connection that reopens an expired one
// is ended and gets a slot of its own). A direction d is received by one
// worker (RSS is deterministic per tuple and a queue belongs to one
// worker); were the same direction to reach two workers, an increment of
// its counters could be lost, never an invariant. Fields other threads
// write are read with relaxed atomic loads and written with relaxed
// atomic stores (whole, never torn); a field with one writer is read by
// that writer plainly.
struct ConnEntry {
  // --- Per direction d: written by the worker that receives d (hit(),
  // tcp_track()); read by every worker (expiry, the other direction's TCP
  // tracking), the sweeping worker (folds, records) and the re-checker.
  uint32_t last_seen_ms[2];  // the worker clock
  // --- Immutable once published: written by the admitting worker.
  uint32_t created_ms;
  // --- Under the claim: written by the admitting worker, then only by the
  // thread holding the entry's claim (a re-check under a newer rule set,
  // by a packet's worker or the sweep); read by every worker.
  uint32_t epoch;            // rule-set epoch it was last checked under
  uint32_t rule;             // deciding rule index under `epoch` (kNoRule: default)
  // --- Per direction d (as last_seen_ms).
  uint32_t packets[2];
  // --- Written by the admitting worker, then only by the worker whose
  // sweep share holds the slot's bucket; read by that worker only.
  uint32_t reported_ms;      // last flow record sent for it (start or update)
  // --- Per direction d (as last_seen_ms).
  uint64_t bytes[2];
  // --- The entry's life: kEntryFree while the admitting worker fills it,
  // then kEntryLive (release store); live -> claimed by the compare-and-swap
  // of the one thread that folds its traffic, re-checks or ends it
  // (ConnTable::claim), claimed -> live by that thread (release), or -> free
  // by ConnTable::remove. Read (acquire) by every worker before any other
  // field.
  uint8_t in_use;
  // --- Under the claim (as epoch and rule).
  uint8_t verdict;           // ConnVerdict
  // --- Per direction d (as last_seen_ms); read by every worker through
  // tcp_state(), which reads the other direction's state of an earlier
  // round as none, so tcp_track() never writes the other direction's byte.
  uint8_t tcp[2];            // TcpState, and the round bit
  uint8_t flags_seen[2];     // TCP flags seen
  // --- Immutable once published: written by the admitting worker.
  uint8_t proto;
  uint8_t orig_dir : 1;      // direction (0/1) of the packet that opened it
  uint8_t icmp_echo : 1;     // ICMP echo: key ports are the identifier
  uint8_t opener_known : 1;  // the opening packet was seen (TCP: a SYN; ICMP: a request)
};
static_assert(sizeof(ConnEntry) == 56);

// ConnEntry::verdict holds a ConnVerdict in its low bits, and two flags of
// a connection a rule with `sni` admitted (docs/egress.md): provisional
// until its ClientHello is judged, cut when the server name was not
// allowed (every later packet is dropped).
inline constexpr uint8_t kVerdictMask = 0x03;
inline constexpr uint8_t kVerdictProvisional = 0x80;
inline constexpr uint8_t kVerdictCut = 0x40;
inline constexpr uint8_t kVerdictFlags = kVerdictProvisional | kVerdictCut;

inline ConnVerdict conn_verdict(const ConnEntry& e) noexcept {
  return static_cast<ConnVerdict>(__atomic_load_n(&e.verdict, __ATOMIC_RELAXED) & kVerdictMask);
}

// A direction's TCP state. The opener reopening a closed connection (a new
// SYN on the same tuple) starts a new round; the responder's state of an
// earlier round reads as none, so no worker ever writes the other
// direction's byte.
TcpState tcp_state(const ConnEntry& e, uint8_t dir) noexcept;

// Timeouts in milliseconds, per connection state.
struct Timeouts {
  uint32_t tcp_syn_ms = 30'000;
  uint32_t tcp_established_ms = 7'200'000;
  uint32_t tcp_fin_ms = 60'000;
  uint32_t tcp_closed_ms = 10'000;
  uint32_t udp_ms = 60'000;
  uint32_t icmp_ms = 10'000;
  uint32_t other_ms = 60'000;

  // The shortest of them: a connection seen more recently than this is
  // live whatever its state.
  uint32_t shortest_ms() const noexcept {
    return std::min({tcp_syn_ms, tcp_established_ms, tcp_fin_ms, tcp_closed_ms, udp_ms, icmp_ms, other_ms});
  }
};

// Timeout (ms) that applies to a connection in its current state.
uint32_t conn_timeout_ms(const ConnEntry& e, const Timeouts& t) noexcept;

// The later of the two directions' last-seen times.
inline uint32_t newest(const ConnEntry& e) noexcept {
  const uint32_t a = __atomic_load_n(&e.last_seen_ms[0], __ATOMIC_RELAXED);
  const uint32_t b = __atomic_load_n(&e.last_seen_ms[1], __ATOMIC_RELAXED);
  return static_cast<int32_t>(a - b) >= 0 ? a : b;
}

// Another worker may have stamped the entry after this pass read the clock,
// so the age can be slightly negative: that is "just seen", not 49 days old.
// `shortest_ms` is t.shortest_ms(), for callers that ask about many
// entries: most are younger than it, and their state's timeout is not
// worked out.
inline bool expired(const ConnEntry& e, uint32_t now_ms, const Timeouts& t, uint32_t shortest_ms) noexcept {
  const int32_t age = static_cast<int32_t>(now_ms - newest(e));
  return age > 0 && static_cast<uint32_t>(age) > shortest_ms && static_cast<uint32_t>(age) > conn_timeout_ms(e, t);
}

inline bool expired(const ConnEntry& e, uint32_t now_ms, const Timeouts& t) noexcept {
  return expired(e, now_ms, t, 0);
}

// Applies one TCP packet of direction `dir` to the entry's state; writes
// only the fields of direction `dir`.
void tcp_track(ConnEntry& e, uint8_t dir, uint8_t flags) noexcept;

// The tuple connection `key` was opened with: the direction of its first
// packet; an echo's, whose key ports are the identifier, as the rules see a
// request (type 8 or 128, code 0).
inline FlowTuple opened_tuple(const ConnKey& key, const ConnEntry& e) noexcept {
  FlowTuple t;
  tuple_from_key(key, e.orig_dir, t);
  if (e.icmp_echo) {
    t.sport = t.proto == common::kProtoIcmp ? 8 : 128;
    t.dport = 0;
  }
  return t;
}

// Why a connection ended, from its TCP state: pb::FlowRecord::EndReason's
// CLOSED (FIN both ways), RESET, or TIMEOUT.
int end_reason(const ConnEntry& e) noexcept;

// True for flag combinations no valid TCP segment carries.
inline bool tcp_flags_invalid(uint8_t flags) noexcept {
  const uint8_t f = flags & (common::kTcpSyn | common::kTcpFin | common::kTcpRst | common::kTcpAck);
  return f == 0 || (f & (common::kTcpSyn | common::kTcpFin)) == (common::kTcpSyn | common::kTcpFin) ||
         (f & (common::kTcpSyn | common::kTcpRst)) == (common::kTcpSyn | common::kTcpRst);
}

}  // namespace bulkhead::dataplane
