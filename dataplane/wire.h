// Reading and writing header fields as they are on the wire (big-endian),
// and the Ethernet header with its VLAN tags: the one home for what the
// packet parser (dataplane/packet.h) and the tunnel reader
// (dataplane/insertion/encap.h) both read.
//
// Pure; no DPDK. Callers check lengths first: these functions read and
// write exactly the bytes they name.
#pragma once

#include <cstdint>

#include "dataplane/counters.h"

namespace bulkhead::dataplane::wire {

inline constexpr uint16_t kEthIpv4 = 0x0800;
inline constexpr uint16_t kEthIpv6 = 0x86dd;
inline constexpr uint16_t kEthArp = 0x0806;
inline constexpr uint16_t kEthVlan = 0x8100;
inline constexpr uint16_t kEthQinQ = 0x88a8;
inline constexpr uint16_t kEthTransparent = 0x6558;  // an Ethernet frame (VXLAN's, GENEVE's payload)
inline constexpr unsigned kMaxVlans = 2;

inline uint16_t be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be24(const uint8_t* p) noexcept {
  return static_cast<uint32_t>(p[0]) << 16 | static_cast<uint32_t>(p[1]) << 8 | p[2];
}
inline uint32_t be32(const uint8_t* p) noexcept { return be24(p) << 8 | p[3]; }
inline uint64_t be64(const uint8_t* p) noexcept { return uint64_t{be32(p)} << 32 | be32(p + 4); }
inline void put16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put24(uint8_t* p, uint32_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 16);
  put16(p + 1, static_cast<uint16_t>(v));
}

// An Ethernet header and up to two VLAN tags (802.1Q, 802.1ad).
struct L2 {
  DropReason drop = DropReason::count;  // truncated_l2 or vlan_too_deep; count when read
  uint8_t vlans = 0;
  uint16_t ethertype = 0;
  uint32_t l3_offset = 0;  // the first byte after the Ethernet header and tags
};

inline L2 read_l2(const uint8_t* frame, uint32_t len) noexcept {
  L2 l2;
  if (len < 14) {
    l2.drop = DropReason::truncated_l2;
    return l2;
  }
  uint32_t off = 12;
  l2.ethertype = be16(frame + off);
  while (l2.ethertype == kEthVlan || l2.ethertype == kEthQinQ) {
    if (l2.vlans == kMaxVlans) {
      l2.drop = DropReason::vlan_too_deep;
      return l2;
    }
    if (off + 6 > len) {
      l2.drop = DropReason::truncated_l2;
      return l2;
    }
    ++l2.vlans;
    off += 4;
    l2.ethertype = be16(frame + off);
  }
  l2.l3_offset = off + 2;
  return l2;
}

}  // namespace bulkhead::dataplane::wire
