#include "dataplane/connection.h"

#include <cstring>

#include "common/protocols.h"

namespace bulkhead::dataplane {
namespace {

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

uint32_t conn_timeout_ms(const ConnEntry& e, const Timeouts& t) noexcept {
  switch (e.proto) {
    case common::kProtoTcp: {
      const uint8_t o = e.tcp[e.orig_dir], r = e.tcp[e.orig_dir ^ 1];
      if (o == kTcpReset || r == kTcpReset) return t.tcp_closed_ms;
      if (o == kTcpFinSent && r == kTcpFinSent) return t.tcp_closed_ms;
      if (o == kTcpFinSent || r == kTcpFinSent) return t.tcp_fin_ms;
      if (r < kTcpSynSent || o < kTcpEstablished) return t.tcp_syn_ms;
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
  uint8_t& s = e.tcp[dir];
  const uint8_t peer = e.tcp[dir ^ 1];
  e.flags_seen[dir] |= flags;
  if (flags & common::kTcpRst) {
    s = kTcpReset;
    return;
  }
  if (flags & common::kTcpFin) {
    s = kTcpFinSent;
    return;
  }
  if (flags & common::kTcpSyn) {
    // A fresh SYN from the opener of a closed connection reuses the tuple.
    if (!(flags & common::kTcpAck) && (s == kTcpReset || s == kTcpFinSent) && dir == e.orig_dir) {
      e.tcp[dir ^ 1] = kTcpNone;
    }
    if (s < kTcpSynSent || s >= kTcpFinSent) s = kTcpSynSent;
    if ((flags & common::kTcpAck) && peer >= kTcpSynSent) s = kTcpEstablished;  // SYN-ACK
    return;
  }
  if ((flags & common::kTcpAck) && s == kTcpSynSent && peer >= kTcpSynSent) s = kTcpEstablished;
  else if (s == kTcpNone) s = kTcpEstablished;  // mid-stream pick-up (--tcp-loose)
}

}  // namespace bulkhead::dataplane
