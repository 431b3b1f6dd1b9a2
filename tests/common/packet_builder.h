// Crafts Ethernet frames for tests: a spec of designated initialisers in,
// bytes out, with valid IPv4, TCP, UDP, ICMP and ICMPv6 checksums so real
// stacks accept the packets too.
//
//   auto f = build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp,
//                          .sport = 41000, .dport = 5432, .tcp_flags = common::kTcpSyn});
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/protocols.h"

namespace bulkhead::test {

using Frame = std::vector<uint8_t>;

struct Ipv6Ext {
  uint8_t type;        // 0 hop-by-hop, 43 routing, 60 destination options, 51 AH, 44 fragment
  uint16_t length = 8; // total bytes of this header (multiple of 8; AH multiple of 4)
};

struct PacketSpec {
  std::string src = "10.0.1.10";
  std::string dst = "10.0.2.20";
  uint8_t proto = common::kProtoUdp;
  uint16_t sport = 40000;
  uint16_t dport = 53;
  uint8_t tcp_flags = common::kTcpSyn;
  uint8_t icmp_type = 8;   // for ICMP/ICMPv6
  uint8_t icmp_code = 0;
  uint16_t icmp_id = 0x1234;
  std::vector<uint16_t> vlans = {};// outermost first; 802.1ad for the outer of two
  uint16_t payload_len = 0;
  uint8_t ipv4_options_len = 0;    // multiple of 4
  std::vector<Ipv6Ext> ipv6_ext = {};// in order
  // Fragmentation (IPv4 or, with an IPv6 fragment header in ipv6_ext, IPv6).
  bool more_fragments = false;
  uint16_t fragment_offset = 0;    // in bytes, multiple of 8
  uint32_t fragment_id = 0x4242;
  // An ICMP error quoting this frame's IP packet (destination unreachable).
  const Frame* quote = nullptr;
  uint8_t ttl = 64;
  std::string src_mac = "02:00:00:00:00:01";
  std::string dst_mac = "02:00:00:00:00:02";
  // When not empty: the payload, in place of payload_len letters (a tunnel
  // header and the packet it carries, say).
  std::vector<uint8_t> payload = {};
  bool udp_checksum = true;  // false: UDP checksum 0
  uint32_t tcp_seq = 0x01010101;
  uint32_t tcp_ack = 0x02020202;  // written when tcp_flags has ACK (0 otherwise)
};

Frame build_packet(const PacketSpec& spec);

// The specs the stateful tests write most: a TCP segment (a SYN unless
// `flags` says otherwise) and a UDP datagram with `payload` letters.
PacketSpec tcp_spec(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
                    uint8_t flags = common::kTcpSyn);
PacketSpec udp_spec(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
                    uint16_t payload = 0);

// The same flow seen from the other side (addresses and ports swapped).
PacketSpec reversed(PacketSpec spec);

// Frames of a TCP handshake, client side first: SYN, SYN-ACK, ACK.
std::vector<Frame> tcp_handshake(const PacketSpec& client);

Frame truncated(Frame f, size_t len);
Frame arp_request(const std::string& sender_ip, const std::string& target_ip);
// The reply to arp_request(asker_ip, ...) from `mac` at `ip`.
Frame arp_reply(const std::string& mac, const std::string& ip, const std::string& asker_ip);

}  // namespace bulkhead::test
