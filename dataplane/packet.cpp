#include "dataplane/packet.h"

#include <cstring>

#include "common/protocols.h"
#include "dataplane/wire.h"

namespace bulkhead::dataplane {
namespace {

using wire::be16;
using wire::be32;
using wire::kEthIpv4;
using wire::kEthIpv6;

constexpr unsigned kMaxIpv6ExtHeaders = 8;

inline void set_drop(PacketMeta& m, DropReason r) noexcept {
  m.kind = PacketKind::drop;
  m.drop_reason = r;
}

bool icmp_error(uint8_t proto, uint8_t type) noexcept {
  if (proto == common::kProtoIcmp) return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
  return type >= 1 && type <= 4;
}

// Reads the L4 ports (or ICMP type/code) of `proto` at p[0..avail). Returns
// false when the header is too short. For TCP also checks the data offset
// and returns the flags.
enum class L4 { ok, truncated, bad_offset };

L4 read_l4(const uint8_t* p, uint32_t avail, uint8_t proto, FlowTuple& t, uint8_t& tcp_flags) noexcept {
  switch (proto) {
    case common::kProtoTcp:
      if (avail < 20) return L4::truncated;
      t.sport = be16(p);
      t.dport = be16(p + 2);
      if ((p[12] >> 4) < 5 || (p[12] >> 4) * 4u > avail) return L4::bad_offset;
      tcp_flags = p[13];
      return L4::ok;
    case common::kProtoUdp:
      if (avail < 8) return L4::truncated;
      t.sport = be16(p);
      t.dport = be16(p + 2);
      return L4::ok;
    case common::kProtoSctp:
      if (avail < 12) return L4::truncated;
      t.sport = be16(p);
      t.dport = be16(p + 2);
      return L4::ok;
    case common::kProtoIcmp:
    case common::kProtoIcmpv6:
      if (avail < 8) return L4::truncated;
      t.sport = p[0];
      t.dport = p[1];
      return L4::ok;
    default:
      t.sport = t.dport = 0;
      return L4::ok;
  }
}

// The packet an ICMP error quotes: its IP header and the first bytes of its
// L4 header, read leniently (the quote is often cut short).
bool read_quoted(const uint8_t* p, uint32_t avail, uint8_t family, FlowTuple& inner) noexcept {
  inner = FlowTuple{};
  uint8_t proto;
  uint32_t l4;
  if (family == 4) {
    if (avail < 20 || (p[0] >> 4) != 4) return false;
    const uint32_t ihl = (p[0] & 0x0f) * 4u;
    if (ihl < 20 || ihl + 4 > avail) return false;
    if ((be16(p + 6) & 0x1fff) != 0) return false;  // a later fragment carries no ports
    proto = p[9];
    for (int i = 0; i < 4; ++i) {
      inner.src[i] = p[12 + i];
      inner.dst[i] = p[16 + i];
    }
    l4 = ihl;
  } else {
    if (avail < 44 || (p[0] >> 4) != 6) return false;
    proto = p[6];
    for (int i = 0; i < 16; ++i) {
      inner.src[i] = p[8 + i];
      inner.dst[i] = p[24 + i];
    }
    l4 = 40;
  }
  inner.family = family;
  inner.proto = proto;
  if (proto == common::kProtoTcp || proto == common::kProtoUdp || proto == common::kProtoSctp) {
    inner.sport = be16(p + l4);
    inner.dport = be16(p + l4 + 2);
  } else if (proto == common::kProtoIcmp || proto == common::kProtoIcmpv6) {
    inner.sport = p[l4];
    inner.dport = p[l4 + 1];
  }
  return true;
}

void reset(PacketMeta& m) noexcept {
  std::memset(&m.tuple, 0, sizeof(m.tuple));
  m.kind = PacketKind::ip;
  m.drop_reason = DropReason::count;
  m.tcp_flags = 0;
  m.vlan_count = 0;
  m.l3_offset = m.l4_offset = m.l3_length = 0;
  m.is_fragment = m.first_fragment = false;
  m.frag_id = 0;
  m.has_inner = false;
}

// The IP packet of `ethertype` at frame + off.
void parse_l3(const uint8_t* frame, uint32_t len, uint32_t off, uint16_t ethertype, PacketMeta& m) noexcept;

// An IPv4 packet at frame + off with a 20-byte header, not a fragment,
// carrying a TCP segment (data offset within the packet) or a UDP datagram
// whole: read as parse_l3() reads it, every field of `m` stored once.
// False, `m` untouched, for any other packet.
inline bool read_plain_ipv4(const uint8_t* frame, uint32_t len, uint32_t off, PacketMeta& m) noexcept {
  const uint8_t* ip = frame + off;
  if (len < off + 20 || ip[0] != 0x45 || (be16(ip + 6) & 0x3fffu) != 0) return false;
  const uint32_t total = be16(ip + 2);
  const uint8_t proto = ip[9];
  if (total > len - off) return false;
  const uint8_t* l4 = ip + 20;
  uint8_t flags = 0;
  if (proto == common::kProtoTcp) {
    if (total < 40 || (l4[12] >> 4) < 5 || (l4[12] >> 4) * 4u > total - 20) return false;
    flags = l4[13];
  } else if (proto != common::kProtoUdp || total < 28) {
    return false;
  }
  FlowTuple& t = m.tuple;
  std::memset(&t, 0, sizeof(t));
  std::memcpy(t.src, ip + 12, 4);
  std::memcpy(t.dst, ip + 16, 4);
  t.sport = be16(l4);
  t.dport = be16(l4 + 2);
  t.proto = proto;
  t.family = 4;
  m.kind = PacketKind::ip;
  m.drop_reason = DropReason::count;
  m.tcp_flags = flags;
  m.vlan_count = 0;
  m.l3_offset = static_cast<uint16_t>(off);
  m.l4_offset = static_cast<uint16_t>(off + 20);
  m.l3_length = static_cast<uint16_t>(total);
  m.is_fragment = m.first_fragment = false;
  m.frag_id = 0;
  m.has_inner = false;
  return true;
}

}  // namespace

void parse_packet(const uint8_t* frame, uint32_t len, PacketMeta& m) noexcept {
  if (len >= 14 && be16(frame + 12) == kEthIpv4 && read_plain_ipv4(frame, len, 14, m)) return;
  parse_any_packet(frame, len, m);
}

void parse_ip_packet(const uint8_t* packet, uint32_t len, uint16_t ethertype, PacketMeta& m) noexcept {
  if (ethertype == kEthIpv4 && read_plain_ipv4(packet, len, 0, m)) return;
  parse_any_ip_packet(packet, len, ethertype, m);
}

void parse_any_packet(const uint8_t* frame, uint32_t len, PacketMeta& m) noexcept {
  reset(m);
  const wire::L2 l2 = wire::read_l2(frame, len);
  m.vlan_count = l2.vlans;
  if (l2.drop != DropReason::count) return set_drop(m, l2.drop);
  if (l2.ethertype != kEthIpv4 && l2.ethertype != kEthIpv6) {
    m.kind = PacketKind::non_ip;
    return;
  }
  parse_l3(frame, len, l2.l3_offset, l2.ethertype, m);
}

void parse_any_ip_packet(const uint8_t* packet, uint32_t len, uint16_t ethertype, PacketMeta& m) noexcept {
  reset(m);
  if (ethertype != kEthIpv4 && ethertype != kEthIpv6) {
    m.kind = PacketKind::non_ip;
    return;
  }
  parse_l3(packet, len, 0, ethertype, m);
}

namespace {

void parse_l3(const uint8_t* frame, uint32_t len, uint32_t off, uint16_t ethertype, PacketMeta& m) noexcept {
  m.l3_offset = static_cast<uint16_t>(off);
  const uint8_t* ip = frame + off;
  const uint32_t avail = len - off;
  FlowTuple& t = m.tuple;
  uint8_t proto;
  uint32_t l4off;      // from ip
  uint32_t l3_end;     // from ip: end of the IP packet (before Ethernet padding)

  if (ethertype == kEthIpv4) {
    if (avail < 20) return set_drop(m, DropReason::truncated_ipv4);
    if ((ip[0] >> 4) != 4) return set_drop(m, DropReason::bad_ipv4_version);
    const uint32_t ihl = (ip[0] & 0x0f) * 4u;
    if (ihl < 20 || ihl > avail) return set_drop(m, DropReason::bad_ipv4_ihl);
    const uint32_t total = be16(ip + 2);
    if (total < ihl || total > avail) return set_drop(m, DropReason::bad_ipv4_total_length);
    t.family = 4;
    proto = ip[9];
    std::memcpy(t.src, ip + 12, 4);
    std::memcpy(t.dst, ip + 16, 4);
    t.proto = proto;
    m.l3_length = static_cast<uint16_t>(total);
    l3_end = total;
    const uint16_t frag = be16(ip + 6);
    const uint32_t frag_off = (frag & 0x1fffu) * 8u;
    const bool more = frag & 0x2000;
    if (frag_off != 0 || more) {
      m.is_fragment = true;
      m.frag_id = be16(ip + 4);
      if (frag_off != 0) {  // a later fragment: no L4 header to read
        if (frag_off + (total - ihl) > 65535) return set_drop(m, DropReason::bad_fragment);
        return;
      }
      m.first_fragment = true;
    }
    l4off = ihl;
  } else {
    if (avail < 40) return set_drop(m, DropReason::truncated_ipv6);
    if ((ip[0] >> 4) != 6) return set_drop(m, DropReason::bad_ipv6_version);
    const uint32_t payload = be16(ip + 4);
    if (40 + payload > avail) return set_drop(m, DropReason::bad_ipv6_payload_length);
    t.family = 6;
    std::memcpy(t.src, ip + 8, 16);
    std::memcpy(t.dst, ip + 24, 16);
    m.l3_length = static_cast<uint16_t>(40 + payload);
    l3_end = 40 + payload;
    uint8_t next = ip[6];
    uint32_t pos = 40;
    for (unsigned n = 0;; ++n) {
      if (next != 0 && next != 43 && next != 44 && next != 60 && next != 51) break;
      if (n == kMaxIpv6ExtHeaders) return set_drop(m, DropReason::ipv6_ext_chain_too_long);
      if (pos + 8 > l3_end) return set_drop(m, DropReason::bad_ipv6_ext_header);
      const uint8_t following = ip[pos];
      uint32_t hlen;
      if (next == 44) {  // fragment header: fixed 8 bytes
        const uint16_t fo = be16(ip + pos + 2);
        m.is_fragment = true;
        m.frag_id = be32(ip + pos + 4);
        if ((fo & 0xfff8) != 0) {  // a later fragment
          t.proto = following;
          return;
        }
        if (!(fo & 1)) m.is_fragment = false;  // an atomic fragment is a whole packet
        m.first_fragment = m.is_fragment;
        hlen = 8;
      } else if (next == 51) {
        hlen = (ip[pos + 1] + 2u) * 4u;
      } else {
        hlen = (ip[pos + 1] + 1u) * 8u;
      }
      if (pos + hlen > l3_end) return set_drop(m, DropReason::bad_ipv6_ext_header);
      next = following;
      pos += hlen;
    }
    proto = next;
    t.proto = proto;
    l4off = pos;
  }

  m.l4_offset = static_cast<uint16_t>(off + l4off);
  const uint32_t l4avail = l3_end - l4off;
  switch (read_l4(ip + l4off, l4avail, proto, t, m.tcp_flags)) {
    case L4::ok:
      break;
    case L4::truncated:
      return set_drop(m, m.first_fragment ? DropReason::bad_fragment : DropReason::truncated_l4);
    case L4::bad_offset:
      return set_drop(m, m.first_fragment ? DropReason::bad_fragment : DropReason::bad_tcp_offset);
  }
  if (proto == 59 || proto == 50) {  // no next header, ESP: nothing to read
    m.l4_offset = 0;
  }
  if ((proto == common::kProtoIcmp && t.family == 4) || (proto == common::kProtoIcmpv6 && t.family == 6)) {
    if (icmp_error(proto, static_cast<uint8_t>(t.sport)) && l4avail > 8)
      m.has_inner = read_quoted(ip + l4off + 8, l4avail - 8, t.family, m.inner);
  }
}

}  // namespace
}  // namespace bulkhead::dataplane
