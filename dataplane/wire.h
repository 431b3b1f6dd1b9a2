// Reading and writing header fields as they are on the wire (big-endian),
// and the Ethernet header with its VLAN tags (read by common/ethernet.h,
// which the capture reader shares) as the dataplane's drop reasons name its
// faults: the one home for what the packet parser (dataplane/packet.h) and
// the tunnel reader (dataplane/insertion/encap.h) both read.
//
// Pure; no DPDK. Callers check lengths first: these functions read and
// write exactly the bytes they name.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "common/ethernet.h"
#include "dataplane/counters.h"

namespace bulkhead::dataplane::wire {

inline constexpr uint16_t kEthIpv4 = common::kEthIpv4;
inline constexpr uint16_t kEthIpv6 = common::kEthIpv6;
inline constexpr uint16_t kEthArp = common::kEthArp;
inline constexpr uint16_t kEthVlan = common::kEthVlan;
inline constexpr uint16_t kEthQinQ = common::kEthQinQ;
inline constexpr uint16_t kEthTransparent = 0x6558;  // an Ethernet frame (VXLAN's, GENEVE's payload)
inline constexpr unsigned kMaxVlans = common::kMaxVlans;

inline uint16_t be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be24(const uint8_t* p) noexcept {
  return static_cast<uint32_t>(p[0]) << 16 | static_cast<uint32_t>(p[1]) << 8 | p[2];
}
inline uint32_t be32(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return std::endian::native == std::endian::little ? __builtin_bswap32(v) : v;
}
inline uint64_t be64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return std::endian::native == std::endian::little ? __builtin_bswap64(v) : v;
}
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
  const common::VlanRead e = common::read_ethernet(frame, len);
  L2 l2;
  l2.vlans = e.vlans;
  l2.ethertype = e.ethertype;
  switch (e.status) {
    case common::VlanRead::Status::ok: l2.l3_offset = e.offset; break;
    case common::VlanRead::Status::truncated: l2.drop = DropReason::truncated_l2; break;
    case common::VlanRead::Status::too_deep: l2.drop = DropReason::vlan_too_deep; break;
  }
  return l2;
}

}  // namespace bulkhead::dataplane::wire
