#include "tests/integration/golden/cases.h"

#include "common/protocols.h"
#include "dataplane/insertion/health.h"
#include "tests/common/tunnel_builder.h"

namespace bulkhead::test {

const char* const kGoldenPolicy = R"(version: 1
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

namespace {

// kGoldenPolicy with two tenants of their own rules (docs/policy.md).
const std::string kTenantPolicy = std::string(kGoldenPolicy) + R"(tenants:
  blue:
    endpoint: 0x0a0b0c0d01020304
    rules:
      - { id: blue-ssh, from: web, to: app, proto: tcp, ports: [22], action: allow }
  red:
    endpoint: 0x0a0b0c0d01020399
    rules:
      - { id: red-no-db, from: web, to: app, proto: tcp, ports: [5432], action: deny }
)";

Frame tcp_syn(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
  return build_packet({.src = src, .dst = dst, .proto = common::kProtoTcp, .sport = sport, .dport = dport});
}

// The SYN-ACK answering tcp_syn("10.0.1.5", "10.0.2.9", 41000, 5432).
Frame reversed_syn_ack() {
  return build_packet({.src = "10.0.2.9", .dst = "10.0.1.5", .proto = common::kProtoTcp, .sport = 5432, .dport = 41000,
                       .tcp_flags = common::kTcpSyn | common::kTcpAck, .src_mac = "02:00:00:00:00:02",
                       .dst_mac = "02:00:00:00:00:01"});
}

Frame udp(const char* src, const char* dst, uint16_t sport, uint16_t dport, std::vector<uint16_t> vlans = {}) {
  return build_packet({.src = src, .dst = dst, .proto = common::kProtoUdp, .sport = sport, .dport = dport, .vlans = vlans});
}

// One-armed insertion behind a cloud load balancer: the appliance is
// 10.100.0.5 on port 0, the balancer 10.100.0.10.
const std::vector<std::string> kGeneveArgs = {"--insertion", "geneve", "--address", "10.100.0.5"};
const std::vector<std::string> kVxlanArgs = {"--insertion", "vxlan", "--address", "10.100.0.5"};
// net_pcap's MAC address for its first port.
const char* kPcapMac = "02:70:63:61:70:00";

const auto kAws = aws_options(0x0a0b0c0d01020304, 0x1122334455667788, 0xc00c1e);

std::vector<GeneveOption> aws_cookie(uint32_t cookie) { return aws_options(0x0a0b0c0d01020304, 0x1122334455667788, cookie); }

std::vector<GeneveOption> plus(std::vector<GeneveOption> v, GeneveOption o) {
  v.push_back(std::move(o));
  return v;
}

// A frame from the balancer, and the echo the appliance must send back.
Frame geneve_in(const Frame& inner, std::vector<GeneveOption> options = kAws) {
  return geneve_frame({.options = std::move(options)}, inner);
}
Frame geneve_back(const Frame& inner, std::vector<GeneveOption> options = kAws) {
  return geneve_frame({.options = std::move(options), .echo = true}, inner);
}

// Outer offsets of an AWS GENEVE frame: Ethernet 14, IPv4 20, UDP 8, GENEVE 8 and options 12 + 12 + 8.
constexpr size_t kAwsInner = 14 + 20 + 8 + 8 + 32;

std::vector<GoldenCase> cloud_cases() {
  const Frame syn = tcp_syn("10.0.1.5", "10.0.2.9", 41000, 5432);
  const Frame denied = tcp_syn("10.0.1.5", "10.0.2.9", 41001, 22);
  const Frame dns = udp("10.0.1.5", "10.0.2.9", 5353, 53);
  const PacketSpec client{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41002,
                          .dport = 5432};
  const auto hs = tcp_handshake(client);
  PacketSpec data_spec = client;
  data_spec.tcp_flags = common::kTcpAck | common::kTcpPsh;
  data_spec.payload_len = 100;
  const Frame data = build_packet(data_spec);
  PacketSpec mid = client;
  mid.sport = 41003;
  mid.tcp_flags = common::kTcpAck | common::kTcpPsh;
  const Frame midflow = build_packet(mid);
  const Frame syn6 = build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 1,
                                   .dport = 5432});
  const Frame denied6 = build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 1,
                                      .dport = 5433});
  const Frame jumbo = build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41004,
                                    .dport = 5432, .payload_len = 8500 - 40});
  const GeneveOption unknown{0x0777, 5, {1, 2, 3, 4, 5, 6, 7, 8}};
  const auto other_endpoint = aws_options(0x0a0b0c0d01020399, 0x1122334455667788, 0xc00c1e);
  const GeneveOption critical{0x0777, 0x85, {1, 2, 3, 4}};

  Frame option_past = geneve_in(syn);
  option_past[14 + 20 + 8 + 8 + 3] = 0x1f;  // the first option's length past the options
  Frame short_udp = geneve_in(syn);
  short_udp[14 + 20 + 4] = 0;  // UDP length 6
  short_udp[14 + 20 + 5] = 6;
  Frame inner_cut = geneve_in(syn);
  inner_cut[kAwsInner + 3] += 20;  // the inner IPv4 total length 20 bytes past what the tunnel holds

  const Frame other_tcp = build_packet({.src = "10.100.0.10", .dst = "10.100.0.5", .proto = common::kProtoTcp,
                                        .sport = 33000, .dport = 22});
  const Frame other_udp = build_packet({.src = "10.100.0.10", .dst = "10.100.0.5", .proto = common::kProtoUdp,
                                        .sport = 33000, .dport = 53});
  const Frame elsewhere = geneve_frame({.appliance = "10.100.0.6", .options = kAws}, syn);

  // Health checks from the balancer at 10.100.0.10 (TCP and HTTP to port 80).
  const auto lb = [](uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack, std::string request = "") {
    return build_packet({.src = "10.100.0.10", .dst = "10.100.0.5", .proto = common::kProtoTcp, .sport = sport,
                         .dport = 80, .tcp_flags = flags, .src_mac = "02:00:00:00:0a:0a", .dst_mac = kPcapMac,
                         .payload = std::vector<uint8_t>(request.begin(), request.end()), .tcp_seq = seq,
                         .tcp_ack = ack});
  };
  const auto us = [](uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack, std::string answer = "") {
    return build_packet({.src = "10.100.0.5", .dst = "10.100.0.10", .proto = common::kProtoTcp, .sport = 80,
                         .dport = dport, .tcp_flags = flags, .src_mac = kPcapMac, .dst_mac = "02:00:00:00:0a:0a",
                         .payload = std::vector<uint8_t>(answer.begin(), answer.end()), .tcp_seq = seq,
                         .tcp_ack = ack});
  };
  constexpr uint32_t kBalancer = 0x0a64000a;  // 10.100.0.10
  using dataplane::insertion::health_isn;
  const uint32_t isn1 = health_isn(kBalancer, 33001), isn2 = health_isn(kBalancer, 33002),
                 isn3 = health_isn(kBalancer, 33003);
  const std::string get = "GET / HTTP/1.1\r\nHost: 10.100.0.5\r\n\r\n";
  const std::string get_other = "GET /other HTTP/1.1\r\n\r\n";
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
  const std::string not_found = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  constexpr uint8_t kAck = common::kTcpAck, kSyn = common::kTcpSyn, kFin = common::kTcpFin, kPsh = common::kTcpPsh,
                    kRst = common::kTcpRst;
  const auto n = [](const std::string& t) { return static_cast<uint32_t>(t.size()); };

  return {
      {"health_checks",
       "TCP and HTTP health checks to the appliance's address and health port are answered from the dataplane: SYN-ACK, 200 for / and 404 for other paths with the connection closed, FIN answered; bare ACKs and RSTs need no answer",
       kGoldenPolicy,
       {// HTTP: handshake, GET /, the balancer's ACK and FIN after ours.
        lb(33001, kSyn, 1000, 0), lb(33001, kAck, 1001, isn1 + 1), lb(33001, kAck | kPsh, 1001, isn1 + 1, get),
        lb(33001, kAck | kFin, 1001 + n(get), isn1 + 2 + n(ok)),
        // HTTP: another path.
        lb(33002, kSyn, 5000, 0), lb(33002, kAck | kPsh, 5001, isn2 + 1, get_other),
        // TCP: connect, then close first; then a RST.
        lb(33003, kSyn, 7000, 0), lb(33003, kAck | kFin, 7001, isn3 + 1), lb(33003, kRst, 7002, 0)},
       {},
       kGeneveArgs,
       {{"health_quiet", 2}},
       {us(33001, kSyn | kAck, isn1, 1001), us(33001, kAck | kPsh | kFin, isn1 + 1, 1001 + n(get), ok),
        us(33001, kAck, isn1 + 2 + n(ok), 1002 + n(get)),
        us(33002, kSyn | kAck, isn2, 5001), us(33002, kAck | kPsh | kFin, isn2 + 1, 5001 + n(get_other), not_found),
        us(33003, kSyn | kAck, isn3, 7001), us(33003, kAck | kFin, isn3 + 1, 7002)},
       0},
      {"geneve_allow_deny",
       "GENEVE insertion: an allowed inner packet goes back in the same GENEVE bytes, addresses swapped; a denied one is dropped",
       kGoldenPolicy,
       {geneve_in(syn), geneve_in(denied), geneve_in(dns)},
       {},
       kGeneveArgs,
       {{"policy_deny", 1}},
       {geneve_back(syn), geneve_back(dns)},
       0},
      {"geneve_inner_ipv6",
       "an IPv6 packet inside IPv4 GENEVE is judged by the IPv6 rules",
       kGoldenPolicy,
       {geneve_in(syn6), geneve_in(denied6)},
       {},
       kGeneveArgs,
       {{"policy_deny", 1}},
       {geneve_back(syn6)},
       0},
      {"geneve_cookie_change",
       "a connection's packets keep their own flow cookie: the echo carries the cookie of the packet it answers, never an earlier one",
       kGoldenPolicy,
       {geneve_in(hs[0], aws_cookie(1)), geneve_in(hs[1], aws_cookie(1)), geneve_in(hs[2], aws_cookie(2)),
        geneve_in(data, aws_cookie(3))},
       {},
       kGeneveArgs,
       {},
       {geneve_back(hs[0], aws_cookie(1)), geneve_back(hs[1], aws_cookie(1)), geneve_back(hs[2], aws_cookie(2)),
        geneve_back(data, aws_cookie(3))},
       0},
      {"geneve_unknown_option",
       "an option the appliance does not know (not critical) goes back untouched",
       kGoldenPolicy,
       {geneve_in(syn, plus(kAws, unknown))},
       {},
       kGeneveArgs,
       {},
       {geneve_back(syn, plus(kAws, unknown))},
       0},
      {"geneve_missing_option",
       "without the flow cookie, AWS GENEVE is dropped and counted",
       kGoldenPolicy,
       {geneve_in(syn, {kAws[0], kAws[1]}), geneve_in(dns)},
       {},
       kGeneveArgs,
       {{"geneve_missing_option", 1}},
       {geneve_back(dns)},
       0},
      {"geneve_critical_option",
       "an unknown option with the critical bit is dropped (RFC 8926 3.5), counted",
       kGoldenPolicy,
       {geneve_in(syn, plus(kAws, critical)), geneve_in(dns)},
       {},
       kGeneveArgs,
       {{"geneve_critical_option", 1}},
       {geneve_back(dns)},
       0},
      {"geneve_malformed",
       "option length past the packet, version 1, a UDP length below the header and an inner packet cut short are dropped by reason; a good one after them passes",
       kGoldenPolicy,
       {option_past, geneve_frame({.options = kAws, .version = 1}, syn), short_udp, inner_cut, geneve_in(dns)},
       {},
       kGeneveArgs,
       {{"geneve_bad_option", 1}, {"geneve_bad_version", 1}, {"tunnel_truncated", 1}, {"bad_ipv4_total_length", 1}},
       {geneve_back(dns)},
       0},
      {"geneve_jumbo",
       "an 8,500-byte inner packet (8,568 bytes of outer IPv4) passes whole, unfragmented",
       kGoldenPolicy,
       {geneve_in(jumbo)},
       {},
       kGeneveArgs,
       {},
       {geneve_back(jumbo)},
       0},
      {"geneve_strict",
       "a mid-flow TCP packet of no known connection is dropped by default (strict)",
       kGoldenPolicy,
       {geneve_in(midflow), geneve_in(syn)},
       {},
       kGeneveArgs,
       {{"tcp_invalid", 1}},
       {geneve_back(syn)},
       0},
      {"geneve_appliance_address",
       "ARP for the appliance's address is answered; other UDP and TCP to it (not the health port), and GENEVE to another address, are never forwarded",
       kGoldenPolicy,
       {arp_request("10.100.0.10", "10.100.0.5"), arp_request("10.100.0.10", "10.100.0.6"), other_udp, other_tcp,
        elsewhere, geneve_in(dns)},
       {},
       kGeneveArgs,
       {{"not_for_appliance", 2}, {"appliance_local", 2}},
       {arp_reply(kPcapMac, "10.100.0.5", "10.100.0.10"), geneve_back(dns)},
       0},
      {"geneve_tenants",
       "the same inner 5-tuple under two GWLB endpoints is two connections: a mid-flow ACK under the second endpoint finds none (strict) while the first endpoint's passes",
       kGoldenPolicy,
       {geneve_in(hs[0]), geneve_in(hs[1]), geneve_in(hs[2]), geneve_in(hs[2], other_endpoint)},
       {},
       kGeneveArgs,
       {{"tcp_invalid", 1}},
       {geneve_back(hs[0]), geneve_back(hs[1]), geneve_back(hs[2])},
       0},
      {"geneve_tenant_policies",
       "two tenants with the same 5-tuple and different policies: blue (one endpoint) is allowed tcp/22 by its own rule and tcp/5432 by the shared one; red (another endpoint) is denied tcp/5432 by its own rule and tcp/22 by the default",
       kTenantPolicy,
       {geneve_in(syn), geneve_in(syn, other_endpoint), geneve_in(denied), geneve_in(denied, other_endpoint)},
       {},
       {"--insertion", "geneve", "--address", "10.100.0.5", "--tenant", "blue:endpoint=0x0a0b0c0d01020304:strict",
        "--tenant", "red:endpoint=0x0a0b0c0d01020399:strict"},
       {{"policy_deny", 2}},
       {geneve_back(syn), geneve_back(denied)},
       0},
      {"geneve_pickup",
       "a mid-flow TCP packet of no known connection: picked up (judged as an opener, then tracked) for a tenant with pickup, dropped for one with strict",
       kGoldenPolicy,
       {geneve_in(midflow), geneve_in(midflow, other_endpoint), geneve_in(data, other_endpoint)},
       {},
       {"--insertion", "geneve", "--address", "10.100.0.5", "--tenant", "blue:endpoint=0x0a0b0c0d01020304:pickup",
        "--tenant", "red:endpoint=0x0a0b0c0d01020399:strict"},
       {{"tcp_invalid", 2}},
       {geneve_back(midflow)},
       0},
      {"vxlan_azure",
       "VXLAN insertion: what arrives on the external tunnel leaves on the internal one and back; the inner frame is judged and kept",
       kGoldenPolicy,
       {vxlan_frame({.dport = 10800, .vni = 800}, syn), vxlan_frame({.dport = 10801, .vni = 801}, reversed_syn_ack()),
        vxlan_frame({.dport = 10800, .vni = 800}, denied), vxlan_frame({.dport = 10800, .vni = 801}, dns)},
       {},
       kVxlanArgs,
       {{"policy_deny", 1}, {"vxlan_unknown_vni", 1}},
       {vxlan_frame({.dport = 10801, .vni = 801, .echo = true}, syn),
        vxlan_frame({.dport = 10800, .vni = 800, .echo = true}, reversed_syn_ack())},
       0},
  };
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
  std::vector<GoldenCase> cases = {
      {"rule_kinds",
       "TCP, UDP and ICMP rules allow what they name; other ports, ICMP types and sources are denied",
       kGoldenPolicy,
       {allowed, denied, udp("10.0.1.5", "10.0.2.9", 5353, 53),
        build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 8}),
        build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 13}),
        udp("10.0.3.5", "10.0.2.9", 5353, 53)},
       {0, 2, 3},
       {},
       {{"policy_deny", 3}}},
      {"ipv6_extension_headers",
       "the IPv6 extension-header chain (hop-by-hop, routing, destination options, AH) is walked to the transport header",
       kGoldenPolicy,
       {build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 1, .dport = 5432,
                      .ipv6_ext = {{0, 8}, {43, 16}, {60, 8}}}),
        build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 1, .dport = 5433,
                      .ipv6_ext = {{51, 16}}}),
        build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoIcmpv6, .icmp_type = 128,
                      .ipv6_ext = {{0, 8}, {60, 8}}})},
       {0, 2}},
      {"vlan_tags",
       "frames with one 802.1Q tag or 802.1ad+802.1Q tags are judged on the packet inside and leave tagged",
       kGoldenPolicy,
       {udp("10.0.1.5", "10.0.2.9", 5353, 53, {7}), udp("10.0.1.5", "10.0.2.9", 5353, 53, {7, 8}),
        udp("10.0.1.5", "10.0.2.9", 5353, 54, {7})},
       {0, 1}},
      {"fragments",
       "a later IPv4 fragment follows the verdict of its datagram's first fragment",
       kGoldenPolicy,
       {build_packet(frag), build_packet(frag_later), build_packet(frag_denied), build_packet(frag_denied_later)},
       {0, 1}},
      {"fragments_dropped_by_option",
       "--fragments drop drops every fragment, allowed or not",
       kGoldenPolicy,
       {build_packet(frag), build_packet(frag_later)},
       {},
       {"--fragments", "drop"},
       {{"fragment_policy", 2}}},
      {"malformed",
       "truncated and malformed frames are dropped by reason; ARP passes; a good frame after them still passes",
       kGoldenPolicy,
       {truncated(allowed, 13), truncated(allowed, 30), bad_ihl, arp_request("10.0.1.5", "10.0.2.9"), allowed},
       {3, 4},
       {},
       {{"truncated_l2", 1}, {"truncated_ipv4", 1}, {"bad_ipv4_ihl", 1}}},
      {"audit_mode",
       "audit mode forwards what enforce would drop",
       kGoldenPolicy,
       {allowed, denied},
       {0, 1},
       {"--mode", "audit"}},
      {"learn_mode",
       "learn mode forwards everything, even traffic no segment names",
       kGoldenPolicy,
       {allowed, denied, tcp_syn("10.0.9.9", "10.0.8.8", 1, 2)},
       {0, 1, 2},
       {"--mode", "learn"}},
  };
  for (auto& c : cloud_cases()) cases.push_back(std::move(c));
  return cases;
}

nlohmann::ordered_json case_json(const GoldenCase& c) {
  nlohmann::ordered_json j;
  j["proves"] = c.proves;
  j["args"] = c.args;
  j["drops"] = nlohmann::ordered_json::object();
  for (const auto& [reason, count] : c.drops) j["drops"][reason] = count;
  if (c.out_port != 1) j["out_port"] = c.out_port;
  return j;
}

std::vector<Frame> expected_frames(const GoldenCase& c) {
  if (!c.answers.empty()) return c.answers;
  std::vector<Frame> out;
  for (size_t i : c.expect) out.push_back(c.send.at(i));
  return out;
}

}  // namespace bulkhead::test
