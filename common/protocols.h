// IP protocol numbers and TCP flag bits as they are on the wire: the one
// list the parser, the policy language, the flow store and the tests share.
#pragma once

#include <cstdint>

namespace bulkhead::common {

// IANA protocol numbers (the IPv4 protocol / IPv6 next-header field).
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpv6 = 58;
inline constexpr uint8_t kProtoSctp = 132;

// Protocols whose header starts with source and destination ports.
inline constexpr bool has_ports(uint8_t proto) noexcept {
  return proto == kProtoTcp || proto == kProtoUdp || proto == kProtoSctp;
}
inline constexpr bool is_icmp(uint8_t proto) noexcept { return proto == kProtoIcmp || proto == kProtoIcmpv6; }

// TCP flag bits of the header's 13th byte.
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

}  // namespace bulkhead::common
