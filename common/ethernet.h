// The Ethernet header and its VLAN tags as they are on the wire: the one
// reading of them that the dataplane's parser and tunnel reader
// (dataplane/wire.h) and the capture reader (common/pcap_reader.h) share.
//
// Pure and header-only; reads exactly the bytes it is given.
// Thread-safety: stateless; call from any thread.
#pragma once

#include <cstdint>

namespace bulkhead::common {

inline constexpr uint16_t kEthIpv4 = 0x0800;
inline constexpr uint16_t kEthIpv6 = 0x86dd;
inline constexpr uint16_t kEthArp = 0x0806;
inline constexpr uint16_t kEthVlan = 0x8100;  // 802.1Q
inline constexpr uint16_t kEthQinQ = 0x88a8;  // 802.1ad
inline constexpr uint32_t kEthHeader = 14;
inline constexpr uint32_t kVlanTag = 4;
inline constexpr unsigned kMaxVlans = 2;

// Up to two VLAN tags (802.1Q, 802.1ad) after an Ethernet type field.
struct VlanRead {
  enum class Status : uint8_t { ok, truncated, too_deep } status = Status::ok;
  uint8_t vlans = 0;
  uint16_t ethertype = 0;  // of what follows the tags
  uint32_t offset = 0;     // the first byte after the tags
};

// The tags that an Ethernet type `ethertype` introduces, each four bytes
// (tag control, the next type) from `at` on; the read ends at the first
// type that is not a tag's.
inline VlanRead skip_vlans(const uint8_t* data, uint32_t len, uint16_t ethertype, uint32_t at) noexcept {
  VlanRead r;
  r.ethertype = ethertype;
  while (r.ethertype == kEthVlan || r.ethertype == kEthQinQ) {
    if (r.vlans == kMaxVlans) {
      r.status = VlanRead::Status::too_deep;
      return r;
    }
    if (at + kVlanTag > len) {
      r.status = VlanRead::Status::truncated;
      return r;
    }
    ++r.vlans;
    r.ethertype = static_cast<uint16_t>(data[at + 2] << 8 | data[at + 3]);
    at += kVlanTag;
  }
  r.offset = at;
  return r;
}

// An Ethernet frame's header and tags.
inline VlanRead read_ethernet(const uint8_t* frame, uint32_t len) noexcept {
  if (len < kEthHeader) return {VlanRead::Status::truncated};
  return skip_vlans(frame, len, static_cast<uint16_t>(frame[12] << 8 | frame[13]), kEthHeader);
}

}  // namespace bulkhead::common
