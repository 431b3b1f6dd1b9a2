// One-armed insertion behind a cloud load balancer: what the outer headers
// of a frame say, and the rewrites that send an answer back.
//
// In `geneve` and `vxlan` insertion every frame that reaches a port is
// addressed to the appliance's own IPv4 address on that port: a tunnelled
// packet from the load balancer (GENEVE, RFC 8926, as AWS Gateway Load
// Balancer and GCP send it; VXLAN, RFC 7348, as Azure Gateway Load Balancer
// sends it), an ARP request for the address, or a health check. read_outer()
// sorts a frame into one of those, or gives the reason to drop it; the
// tunnelled packet inside is then parsed by parse_packet() like any other.
//
// GENEVE options are walked generically (any number, any length within the
// header's option length); the AWS options (class 0x0108: 1 endpoint id,
// 2 attachment id, 3 flow cookie) are read, every other option is left as
// it is, and the echo carries all of them back untouched. An option this
// appliance does not know that has the critical bit set is dropped, as
// RFC 8926 section 3.5 requires of a tunnel endpoint.
//
// Pure: no DPDK, no allocation, never reads or writes outside [frame,
// frame + len). Any thread, on its own frames.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSSE3__)
#include <tmmintrin.h>
#endif

#include "common/protocols.h"
#include "dataplane/counters.h"
#include "dataplane/wire.h"

namespace bulkhead::dataplane::insertion {

enum class Insertion : uint8_t { inline_pair, geneve, vxlan };

// Which options a GENEVE load balancer sends, and so which are required
// and which one names the tenant.
enum class GeneveProfile : uint8_t {
  aws,      // class 0x0108 endpoint id, attachment id and cookie required; tenant = endpoint id
  gcp,      // class 0x0132 options known (echoed even when critical); tenant = VNI
  generic,  // no option required; tenant = VNI
};

inline constexpr uint16_t kGenevePort = 6081;
inline constexpr uint16_t kVxlanPort = 4789;  // IANA's; Azure's pools use their own (10800, 10801)
inline constexpr uint16_t kAwsOptionClass = 0x0108;
inline constexpr uint16_t kGcpOptionClass = 0x0132;
inline constexpr uint8_t kAwsEndpointId = 1;
inline constexpr uint8_t kAwsAttachmentId = 2;
inline constexpr uint8_t kAwsFlowCookie = 3;
using wire::kEthArp;
using wire::kEthIpv4;
using wire::kEthIpv6;
using wire::kEthTransparent;

// One VXLAN tunnel of an Azure Gateway Load Balancer pool: its UDP port and
// VNI. What arrives on one tunnel of the pair leaves on the other.
struct VxlanTunnel {
  uint16_t port;
  uint32_t vni;
};

// What read_outer() looks for on one port. Set up once; read-only.
struct OuterConfig {
  Insertion insertion = Insertion::geneve;
  GeneveProfile profile = GeneveProfile::aws;
  uint8_t address[4] = {};      // the appliance's address on the port (network order)
  uint16_t health_port = 80;    // TCP health checks to the address
  char health_path[64] = "/";   // HTTP checks of this path (and of /) are answered 200
  uint8_t health_path_len = 1;
  uint16_t geneve_port = kGenevePort;
  VxlanTunnel vxlan[2] = {{10800, 800}, {10801, 801}};  // external, internal
};

enum class Outer : uint8_t {
  tunnel,  // a tunnelled packet: the inner one starts at Encap::inner_offset
  arp,     // an ARP request for the appliance's address
  health,  // TCP to the appliance's health port
  drop,    // Encap::drop_reason says why
};

// What read_outer() found. Offsets are from the frame's start.
struct Encap {
  Outer kind;
  DropReason drop_reason;     // for Outer::drop
  uint16_t outer_l3;          // the outer IPv4 header (ARP: the ARP payload)
  uint16_t outer_l4;          // the outer UDP (tunnel) or TCP (health) header
  uint16_t inner_offset;      // GENEVE: the inner IP header; VXLAN: the inner Ethernet header
  uint16_t inner_length;      // bytes of the inner packet, by the outer UDP length
  uint16_t inner_ethertype;   // kEthIpv4 / kEthIpv6 (GENEVE) or kEthTransparent (VXLAN)
  uint32_t vni;
  uint8_t tunnel;             // VXLAN: 0 external, 1 internal
  uint8_t options;            // GENEVE options walked
  uint8_t unknown_options;    // of those, not read by this appliance (echoed as they are)
  bool has_endpoint_id;
  bool has_attachment_id;
  bool has_cookie;
  uint64_t endpoint_id;       // AWS GWLB endpoint id (the option's 8 bytes, big-endian)
  uint64_t attachment_id;
  uint32_t cookie;
  bool operator==(const Encap&) const = default;
};

// Sorts `frame` (`len` bytes, from the Ethernet header) for one port: the
// frame as AWS Gateway Load Balancer sends nearly all of them read at once
// (read_aws_frame), any other by the general reader (read_any_outer).
void read_any_outer(const uint8_t* frame, uint32_t len, const OuterConfig& cfg, Encap& e) noexcept;
bool read_aws_frame(const uint8_t* frame, uint32_t len, const OuterConfig& cfg, Encap& e) noexcept;
inline void read_outer(const uint8_t* frame, uint32_t len, const OuterConfig& cfg, Encap& e) noexcept {
  if (!read_aws_frame(frame, len, cfg, e)) read_any_outer(frame, len, cfg, e);
}

// The frame nearly every packet from AWS Gateway Load Balancer arrives in:
// untagged Ethernet, a 20-byte IPv4 header, UDP to the GENEVE port, GENEVE
// version 0 and AWS's three options in AWS's order (endpoint id, attachment
// id, flow cookie: 32 bytes), 82 bytes before the inner packet. Checked by
// a few word compares against what that layout must hold, with no walk;
// false, `e` untouched, for any other frame. It accepts only what
// read_any_outer() reads as a tunnel, and reads it alike: the encap fuzz
// target checks the two against each other on every input.
inline bool read_aws_frame(const uint8_t* f, uint32_t len, const OuterConfig& cfg, Encap& e) noexcept {
  constexpr uint32_t kIp = 14, kUdp = 34, kGeneve = 42, kInner = 82;
  if (cfg.insertion != Insertion::geneve || len < kInner) return false;
  const uint8_t* ip = f + kIp;
  const uint8_t* udp = f + kUdp;
  const uint8_t* g = f + kGeneve;
  const uint32_t total = wire::be16(ip + 2);
  const uint64_t ip_mid = wire::be64(ip + 4);  // identification, flags and offset, TTL, protocol, checksum
  const uint32_t udp_mid = wire::be32(udp + 2);  // destination port, length
  const uint32_t ulen = udp_mid & 0xffffu;
  const uint32_t head = wire::be32(g) & 0xff80ffffu;  // version and option length, the O bit, protocol
  const uint16_t protocol = static_cast<uint16_t>(head);
  uint32_t address;
  std::memcpy(&address, cfg.address, 4);
  uint32_t to;
  std::memcpy(&to, ip + 16, 4);
  // IPv4 with a 20-byte header (any TOS), not a fragment, UDP, to us; the
  // datagram within the packet, the packet within the frame.
  if ((wire::be32(f + 12) & 0xffffff00u) != 0x08004500u ||
      (ip_mid & 0x00003fff00ff0000ull) != uint64_t{common::kProtoUdp} << 16 || to != address || total + kIp > len)
    return false;
  if (udp_mid >> 16 != cfg.geneve_port || ulen < kInner - kUdp || ulen + (kUdp - kIp) > total) return false;
  // Version 0, 8 words of options, not OAM, an IP packet inside; each
  // option's class, type and length as AWS writes them.
  if (head != (0x08000000u | kEthIpv4) && head != (0x08000000u | kEthIpv6)) return false;
  if (wire::be32(g + 8) != 0x01080102u || wire::be32(g + 20) != 0x01080202u || wire::be32(g + 32) != 0x01080301u)
    return false;
  // Every field set one by one: `e = Encap{}` first costs a string store.
  e.kind = Outer::tunnel;
  e.drop_reason = DropReason::count;
  e.outer_l3 = kIp;
  e.outer_l4 = kUdp;
  e.inner_offset = kInner;
  e.inner_length = static_cast<uint16_t>(ulen - (kInner - kUdp));
  e.inner_ethertype = protocol;
  e.vni = wire::be24(g + 4);
  e.tunnel = 0;
  e.options = 3;
  e.unknown_options = 0;
  e.has_endpoint_id = e.has_attachment_id = e.has_cookie = true;
  e.endpoint_id = wire::be64(g + 12);
  e.attachment_id = wire::be64(g + 24);
  e.cookie = wire::be32(g + 36);
  return true;
}

// The packet a GENEVE or VXLAN header carries, read from a UDP payload
// alone, with no appliance's configuration: any VNI, no option required
// (an unknown critical option refuses it, as read_outer() does). For readers of captures, which read
// tunnels through; the dataplane's ports use read_outer(). Offsets are from
// the UDP payload's start.
struct Tunnelled {
  uint32_t inner_offset;
  uint32_t inner_length;
  uint16_t inner_ethertype;  // kEthIpv4 / kEthIpv6 (GENEVE) or kEthTransparent (VXLAN)
  uint32_t vni;
};
bool read_tunnel_payload(const uint8_t* payload, uint32_t len, Insertion kind, Tunnelled& out) noexcept;

// Swaps a frame's Ethernet destination and source addresses in place. The
// frame has at least 16 bytes: the two after the header are written back as
// they were.
inline void swap_ethernet_addresses(uint8_t* frame) noexcept {
#if defined(__SSSE3__)
  const __m128i order = _mm_setr_epi8(6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 12, 13, 14, 15);
  const __m128i head = _mm_loadu_si128(reinterpret_cast<const __m128i*>(frame));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(frame), _mm_shuffle_epi8(head, order));
#else
  uint8_t mac[6];
  std::memcpy(mac, frame, 6);
  std::memcpy(frame, frame + 6, 6);
  std::memcpy(frame + 6, mac, 6);
#endif
}

// What every echo rewrites: Ethernet and outer IPv4 source and destination
// swapped, UDP checksum 0 (RFC 8926 and RFC 7348 allow it over IPv4). The
// IPv4 header checksum stays right: a swap does not change its sum. All a
// GENEVE echo needs.
inline void turn_around(uint8_t* frame, const Encap& e) noexcept {
  swap_ethernet_addresses(frame);
  uint8_t* ip = frame + e.outer_l3;
  uint64_t addresses;  // source, then destination
  std::memcpy(&addresses, ip + 12, 8);
  addresses = std::rotl(addresses, 32);
  std::memcpy(ip + 12, &addresses, 8);
  wire::put16(frame + e.outer_l4 + 6, 0);
}

// Turns a tunnelled frame read by read_outer() into its echo toward the load
// balancer, in place: turned around (above), the tunnel header and every
// option kept byte for byte (VXLAN: the other tunnel's port and VNI), UDP
// source port kept.
inline void echo(uint8_t* frame, const Encap& e, const OuterConfig& cfg) noexcept {
  turn_around(frame, e);
  if (cfg.insertion == Insertion::vxlan) {
    uint8_t* udp = frame + e.outer_l4;
    const VxlanTunnel& other = cfg.vxlan[e.tunnel ^ 1];
    wire::put16(udp + 2, other.port);
    wire::put24(udp + 8 + 4, other.vni);
  }
}

// Turns an ARP request read by read_outer() (Outer::arp) into the reply from
// `mac`, in place.
void answer_arp(uint8_t* frame, const Encap& e, const uint8_t (&mac)[6]) noexcept;

// "inline", "geneve" or "vxlan", as the options, telemetry and the
// control plane's status name the modes.
inline const char* insertion_name(Insertion i) noexcept {
  switch (i) {
    case Insertion::geneve: return "geneve";
    case Insertion::vxlan: return "vxlan";
    case Insertion::inline_pair: break;
  }
  return "inline";
}

}  // namespace bulkhead::dataplane::insertion
