// Counter names for the dataplane, each list defined once.
//
// The X-macro lists below are the single source of truth for drop reasons and
// per-worker event counters: the enums, telemetry names and log strings are
// all generated from them, so a new reason cannot be counted but unnamed.
#pragma once

#include <cstdint>

namespace bulkhead::dataplane {

// Why a packet was dropped. Parse reasons first, then state and policy.
#define BULKHEAD_DROP_REASONS(X)                                             \
  X(truncated_l2, "frame shorter than its Ethernet/VLAN header")             \
  X(vlan_too_deep, "more than two VLAN tags")                                \
  X(truncated_ipv4, "IPv4 header cut short")                                 \
  X(bad_ipv4_version, "IPv4 version field is not 4")                         \
  X(bad_ipv4_ihl, "IPv4 header length below 20 bytes or past the frame")     \
  X(bad_ipv4_total_length, "IPv4 total length below header or past frame")   \
  X(truncated_ipv6, "IPv6 header cut short")                                 \
  X(bad_ipv6_version, "IPv6 version field is not 6")                         \
  X(bad_ipv6_payload_length, "IPv6 payload length past the frame")           \
  X(bad_ipv6_ext_header, "IPv6 extension header chain malformed")            \
  X(ipv6_ext_chain_too_long, "IPv6 extension header chain too long")         \
  X(truncated_l4, "TCP/UDP/SCTP/ICMP header cut short")                      \
  X(bad_tcp_offset, "TCP data offset below 20 bytes or past the packet")     \
  X(bad_fragment, "fragment offset/length inconsistent")                     \
  X(fragment_unknown, "non-first fragment with no tracked first fragment")   \
  X(fragment_policy, "fragment dropped by --fragments drop")                 \
  X(policy_deny, "denied by a rule or by the default action")                \
  X(connection_revoked, "connection no longer allowed by the current policy") \
  X(conn_table_full, "connection table full: new connection refused")       \
  X(tcp_invalid, "TCP packet not valid for the connection state")           \
  X(no_policy, "no rule set loaded and fail-closed")                         \
  X(tx_full, "transmit queue full")                                          \
  X(not_for_appliance, "one-armed: not IPv4 or ARP to the appliance's address") \
  X(appliance_local, "one-armed: to the appliance, but no tunnel, ARP or health check") \
  X(outer_fragment, "one-armed: a fragmented outer IPv4 packet")            \
  X(tunnel_truncated, "tunnel header cut short, or UDP length below it or past the packet") \
  X(geneve_bad_version, "GENEVE version is not 0")                          \
  X(geneve_bad_option, "GENEVE option past the header's options, or a known option of the wrong length") \
  X(geneve_critical_option, "GENEVE option with the critical bit that the appliance does not know") \
  X(geneve_missing_option, "GENEVE packet without an option the load balancer always sends") \
  X(geneve_oam, "GENEVE control (OAM) packet")                              \
  X(geneve_bad_protocol, "GENEVE inner protocol neither IPv4 nor IPv6")     \
  X(vxlan_bad_flags, "VXLAN header without the VNI flag")                   \
  X(vxlan_unknown_vni, "VXLAN VNI not the one of its tunnel")               \
  X(health_quiet, "health-check segment that needs no answer (an ACK, a RST)") \
  X(health_unhealthy, "health check not answered: a worker has stopped running its loop") \
  X(sni_cut, "packet of a connection cut on its ClientHello's server name")   \
  X(hello_held, "client data past a gap, or not a QUIC Initial, before the ClientHello was judged")

enum class DropReason : uint8_t {
#define BULKHEAD_X(name, desc) name,
  BULKHEAD_DROP_REASONS(BULKHEAD_X)
#undef BULKHEAD_X
      count
};

inline constexpr unsigned kDropReasonCount = static_cast<unsigned>(DropReason::count);

inline constexpr const char* drop_reason_name(DropReason r) {
  constexpr const char* names[] = {
#define BULKHEAD_X(name, desc) #name,
      BULKHEAD_DROP_REASONS(BULKHEAD_X)
#undef BULKHEAD_X
  };
  return names[static_cast<unsigned>(r)];
}

inline constexpr const char* drop_reason_description(DropReason r) {
  constexpr const char* descs[] = {
#define BULKHEAD_X(name, desc) desc,
      BULKHEAD_DROP_REASONS(BULKHEAD_X)
#undef BULKHEAD_X
  };
  return descs[static_cast<unsigned>(r)];
}

}  // namespace bulkhead::dataplane
