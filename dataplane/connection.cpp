#include "dataplane/connection.h"

#include <cstring>

#include "common/protocols.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::dataplane {

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

FlowTuple connection_tuple(const PacketMeta& m, const uint8_t* frame, uint32_t len) noexcept {
  FlowTuple t = m.has_inner ? m.inner : m.tuple;
  if (!m.has_inner && is_echo(m.tuple) && m.l4_offset + 8u <= len) {
    // Echo request and reply meet on the identifier.
    const auto ident = static_cast<uint16_t>(frame[m.l4_offset + 4] << 8 | frame[m.l4_offset + 5]);
    t.sport = ident;
    t.dport = ident;
  }
  return t;
}

namespace {

constexpr uint8_t kRoundBit = 0x80;
constexpr uint8_t kStateBits = 0x07;

uint8_t load(const uint8_t& b) noexcept { return __atomic_load_n(&b, __ATOMIC_RELAXED); }

}  // namespace

TcpState tcp_state(const ConnEntry& e, uint8_t dir) noexcept {
  const uint8_t mine = load(e.tcp[dir]);
  if (dir != e.orig_dir && ((mine ^ load(e.tcp[e.orig_dir])) & kRoundBit) != 0) return TcpState::none;
  return static_cast<TcpState>(mine & kStateBits);
}

uint32_t conn_timeout_ms(const ConnEntry& e, const Timeouts& t) noexcept {
  switch (e.proto) {
    case common::kProtoTcp: {
      const TcpState o = tcp_state(e, e.orig_dir), r = tcp_state(e, e.orig_dir ^ 1);
      if (o == TcpState::reset || r == TcpState::reset) return t.tcp_closed_ms;
      if (o == TcpState::fin_sent && r == TcpState::fin_sent) return t.tcp_closed_ms;
      if (o == TcpState::fin_sent || r == TcpState::fin_sent) return t.tcp_fin_ms;
      if (r < TcpState::syn_sent || o < TcpState::established) return t.tcp_syn_ms;
      return t.tcp_established_ms;
    }
    case common::kProtoUdp:
      return t.udp_ms;
    case common::kProtoIcmp:
    case common::kProtoIcmpv6:
      return t.icmp_ms;
    default:
      return t.other_ms;
  }
}

void tcp_track(ConnEntry& e, uint8_t dir, uint8_t flags) noexcept {
  const bool opener = dir == e.orig_dir;
  // The responder follows the opener's round; the opener starts a new one
  // when it reopens a closed connection.
  uint8_t round = load(e.tcp[opener ? dir : e.orig_dir]) & kRoundBit;
  TcpState s = tcp_state(e, dir);
  TcpState peer = tcp_state(e, dir ^ 1);
  __atomic_store_n(&e.flags_seen[dir], static_cast<uint8_t>(e.flags_seen[dir] | flags), __ATOMIC_RELAXED);
  if (flags & common::kTcpRst) {
    s = TcpState::reset;
  } else if (flags & common::kTcpFin) {
    s = TcpState::fin_sent;
  } else if (flags & common::kTcpSyn) {
    // A fresh SYN from the opener of a closed connection reuses the tuple.
    if (!(flags & common::kTcpAck) && opener && (s == TcpState::reset || s == TcpState::fin_sent)) {
      round ^= kRoundBit;
      peer = TcpState::none;
    }
    if (s < TcpState::syn_sent || s >= TcpState::fin_sent) s = TcpState::syn_sent;
    if ((flags & common::kTcpAck) && peer >= TcpState::syn_sent) s = TcpState::established;  // SYN-ACK
  } else if ((flags & common::kTcpAck) && s == TcpState::syn_sent && peer >= TcpState::syn_sent) {
    s = TcpState::established;
  } else if (s == TcpState::none) {
    s = TcpState::established;  // mid-stream pick-up (--tcp-loose)
  }
  __atomic_store_n(&e.tcp[dir], static_cast<uint8_t>(round | static_cast<uint8_t>(s)), __ATOMIC_RELAXED);
}

int end_reason(const ConnEntry& e) noexcept {
  const TcpState a = tcp_state(e, 0), b = tcp_state(e, 1);
  if (a == TcpState::reset || b == TcpState::reset) return pb::FlowRecord::RESET;
  if (a == TcpState::fin_sent && b == TcpState::fin_sent) return pb::FlowRecord::CLOSED;
  return pb::FlowRecord::TIMEOUT;
}

}  // namespace bulkhead::dataplane
