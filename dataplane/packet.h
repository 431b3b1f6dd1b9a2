// What the parse stage extracts from a frame, and the parser itself.
//
// parse_packet() reads only the bytes it is given (never past `len`) and fills
// a PacketMeta. It is pure: no DPDK, no allocation, no logging, so the unit
// tests drive it with crafted byte arrays and the worker with mbuf data.
// Thread-safety: stateless; call from any thread.
#pragma once

#include <cstdint>
#include <cstring>

#include "common/protocols.h"
#include "dataplane/counters.h"

namespace bulkhead::dataplane {

// The lookup tuple of a packet. Addresses are in network byte order; an IPv4
// address occupies the first 4 bytes and the rest stay zero. Ports are in
// host order. For ICMP/ICMPv6, sport is the type and dport the code (the
// same convention the compiled rule set uses).
struct FlowTuple {
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t sport;
  uint16_t dport;
  uint8_t proto;
  uint8_t family;  // 4 or 6
  bool operator==(const FlowTuple&) const = default;
};

enum class PacketKind : uint8_t {
  ip,       // IPv4/IPv6 packet with a tuple to classify
  non_ip,   // ARP, LLDP and other non-IP frames: forwarded as they are
  drop,     // malformed: PacketMeta::drop_reason says why
  answer,   // an answer of the appliance's own (one-armed insertion: ARP): sent as it is
};

struct PacketMeta {
  FlowTuple tuple;
  PacketKind kind;
  DropReason drop_reason;  // valid when kind == drop
  uint8_t tcp_flags;       // valid for TCP
  uint8_t vlan_count;      // 0, 1 or 2 tags
  uint16_t l3_offset;      // from frame start
  uint16_t l4_offset;      // from frame start; 0 when no L4 header was read
  uint16_t l3_length;      // IP total length (v4) or 40 + payload length (v6)

  // Fragments. A first fragment has is_fragment && first_fragment and a full
  // L4 tuple; a later fragment has is_fragment && !first_fragment and ports 0.
  bool is_fragment;
  bool first_fragment;
  uint32_t frag_id;        // IPv4 identification or IPv6 fragment id

  // ICMP/ICMPv6 error messages (destination unreachable, time exceeded,
  // packet too big, parameter problem) quote the packet that caused them.
  // When the quoted IP and L4 headers could be read, `inner` holds that
  // packet's tuple as it was sent (src = the side that sent it).
  bool has_inner;
  FlowTuple inner;
  bool operator==(const PacketMeta&) const = default;
};

// Parse an Ethernet frame of `len` bytes. Always returns with meta filled
// for the returned kind; never reads outside [frame, frame + len).
void parse_packet(const uint8_t* frame, uint32_t len, PacketMeta& meta) noexcept;

// Parse an IP packet of `len` bytes with no link-layer header (the packet a
// GENEVE tunnel carries), its protocol given as an Ethernet type (0x0800,
// 0x86dd; anything else is non_ip). Offsets in meta are from `packet`.
void parse_ip_packet(const uint8_t* packet, uint32_t len, uint16_t ethertype, PacketMeta& meta) noexcept;

// The two above read nearly every packet (untagged Ethernet or none, IPv4
// with a 20-byte header, not a fragment, whole TCP or UDP) by a few
// compares and stores with no per-field branch, and any other by the
// general parser, these two. The fast reading gives exactly what the
// general one gives; `inner` is left as it was for packets that are not
// ICMP errors, so compare readings into value-initialised metas (the packet
// fuzz target does, on every input).
void parse_any_packet(const uint8_t* frame, uint32_t len, PacketMeta& meta) noexcept;
void parse_any_ip_packet(const uint8_t* packet, uint32_t len, uint16_t ethertype, PacketMeta& meta) noexcept;

}  // namespace bulkhead::dataplane
