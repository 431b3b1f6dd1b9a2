// The Community ID of a flow (version 1, github.com/corelight/community-id-spec):
// the hash Zeek, Suricata and Elastic attach to a connection so records of
// the same flow join across tools. "1:" and the base64 of a SHA-1 (OpenSSL)
// over the seed, both addresses, the protocol and both ports, ordered so
// both directions of a flow have the same ID. ICMP and ICMPv6 use the type
// as the source port and, for request/reply types, the counterpart type as
// the destination port (otherwise the code, and the flow is one-way).
// Pure; any thread.
#pragma once

#include <cstdint>
#include <string>

namespace bulkhead::controlplane::flows {

// `src`, `dst`: 4 or 16 bytes each, the same length; "" otherwise. For
// ICMP, `src_port` is the type and `dst_port` the code (the flow records'
// convention); ports are ignored for protocols without them.
std::string community_id(const std::string& src, const std::string& dst, uint8_t protocol, uint16_t src_port,
                         uint16_t dst_port, uint16_t seed = 0);

}  // namespace bulkhead::controlplane::flows
