#include "tests/integration/golden/cases.h"

#include "common/protocols.h"

namespace bulkhead::test {
namespace {

const char* kPolicy = R"(version: 1
defaults: { action: deny, mode: enforce }
segments:
  web: [10.0.1.0/24, "fd00:1::/64"]
  app: [10.0.2.0/24, "fd00:2::/64"]
rules:
  - { id: web-to-db, from: web, to: app, proto: tcp, ports: [5432], action: allow }
  - { id: web-dns, from: web, to: app, proto: udp, ports: [53], action: allow }
  - { id: ping, from: web, to: app, proto: icmp, icmp_types: [echo-request], action: allow }
  - { id: ping6, from: web, to: app, proto: icmpv6, icmp_types: [echo-request], action: allow }
)";

Frame tcp_syn(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
  return build_packet({.src = src, .dst = dst, .proto = common::kProtoTcp, .sport = sport, .dport = dport});
}

Frame udp(const char* src, const char* dst, uint16_t sport, uint16_t dport, std::vector<uint16_t> vlans = {}) {
  return build_packet({.src = src, .dst = dst, .proto = common::kProtoUdp, .sport = sport, .dport = dport, .vlans = vlans});
}

}  // namespace

std::vector<GoldenCase> golden_cases() {
  const Frame allowed = tcp_syn("10.0.1.5", "10.0.2.9", 41000, 5432);
  const Frame denied = tcp_syn("10.0.1.5", "10.0.2.9", 41001, 22);
  PacketSpec frag = {.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = 5353, .dport = 53,
                     .payload_len = 64, .more_fragments = true};
  PacketSpec frag_later = frag;
  frag_later.more_fragments = false;
  frag_later.fragment_offset = 72;
  PacketSpec frag_denied = frag;
  frag_denied.dport = 99;
  frag_denied.fragment_id = 9;
  PacketSpec frag_denied_later = frag_denied;
  frag_denied_later.more_fragments = false;
  frag_denied_later.fragment_offset = 72;
  Frame bad_ihl = allowed;
  bad_ihl[14] = 0x44;
  return {
      {"rule_kinds",
       "TCP, UDP and ICMP rules allow what they name; other ports, ICMP types and sources are denied",
       kPolicy,
       {allowed, denied, udp("10.0.1.5", "10.0.2.9", 5353, 53),
        build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 8}),
        build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 13}),
        udp("10.0.3.5", "10.0.2.9", 5353, 53)},
       {0, 2, 3},
       {},
       {{"policy_deny", 3}}},
      {"ipv6_extension_headers",
       "the IPv6 extension-header chain (hop-by-hop, routing, destination options, AH) is walked to the transport header",
       kPolicy,
       {build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 1, .dport = 5432,
                      .ipv6_ext = {{0, 8}, {43, 16}, {60, 8}}}),
        build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 1, .dport = 5433,
                      .ipv6_ext = {{51, 16}}}),
        build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoIcmpv6, .icmp_type = 128,
                      .ipv6_ext = {{0, 8}, {60, 8}}})},
       {0, 2}},
      {"vlan_tags",
       "frames with one 802.1Q tag or 802.1ad+802.1Q tags are judged on the packet inside and leave tagged",
       kPolicy,
       {udp("10.0.1.5", "10.0.2.9", 5353, 53, {7}), udp("10.0.1.5", "10.0.2.9", 5353, 53, {7, 8}),
        udp("10.0.1.5", "10.0.2.9", 5353, 54, {7})},
       {0, 1}},
      {"fragments",
       "a later IPv4 fragment follows the verdict of its datagram's first fragment",
       kPolicy,
       {build_packet(frag), build_packet(frag_later), build_packet(frag_denied), build_packet(frag_denied_later)},
       {0, 1}},
      {"fragments_dropped_by_option",
       "--fragments drop drops every fragment, allowed or not",
       kPolicy,
       {build_packet(frag), build_packet(frag_later)},
       {},
       {"--fragments", "drop"},
       {{"fragment_policy", 2}}},
      {"malformed",
       "truncated and malformed frames are dropped by reason; ARP passes; a good frame after them still passes",
       kPolicy,
       {truncated(allowed, 13), truncated(allowed, 30), bad_ihl, arp_request("10.0.1.5", "10.0.2.9"), allowed},
       {3, 4},
       {},
       {{"truncated_l2", 1}, {"truncated_ipv4", 1}, {"bad_ipv4_ihl", 1}}},
      {"audit_mode",
       "audit mode forwards what enforce would drop",
       kPolicy,
       {allowed, denied},
       {0, 1},
       {"--mode", "audit"}},
      {"learn_mode",
       "learn mode forwards everything, even traffic no segment names",
       kPolicy,
       {allowed, denied, tcp_syn("10.0.9.9", "10.0.8.8", 1, 2)},
       {0, 1, 2},
       {"--mode", "learn"}},
  };
}

nlohmann::ordered_json case_json(const GoldenCase& c) {
  nlohmann::ordered_json j;
  j["proves"] = c.proves;
  j["args"] = c.args;
  j["drops"] = nlohmann::ordered_json::object();
  for (const auto& [reason, count] : c.drops) j["drops"][reason] = count;
  return j;
}

}  // namespace bulkhead::test
