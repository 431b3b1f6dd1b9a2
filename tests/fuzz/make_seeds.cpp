// Writes the seed corpora of the fuzz targets, one file per seed in OUT_DIR,
// from the project's own cases:
//   packet      frames built with the golden cases' packet builder;
//   encap       those frames inside GENEVE (AWS, GCP and unknown options)
//               and VXLAN, as cloud load balancers send them, ARP and
//               health checks;
//   capture     captures of those frames (whole, cut by a snapshot length,
//               a conversation) as pcap files, the conversation in every
//               link type the capture reader reads and compressed with
//               gzip, and, given GOLDEN_DIR, the golden cases' own send.pcap
//               and expect.pcap files;
//   flow_batch  FlowBatch messages of the records the capture reader makes
//               of those captures (the golden ones too), as a dataplane
//               would send them, and one of every record kind;
//   push        control-channel pushes of a policy and of changes between
//               its versions, as the control plane makes them;
//   dataplane   the dataplanes' Hello, Ack and Nack messages;
//   policy      the golden cases' policies and POLICY.yaml, and policies
//               that probe the reader's limits (duplicate keys, several
//               documents, nesting after an apostrophe, unknown segments,
//               expiries, aliases, text that needs escaping) and
//               policies written with names (fqdn, sni, modes, dns:,
//               tls:), valid and refused;
//   tuple       the flows of the golden captures as `policy eval` tuple
//               lines and `policy explain` flow strings;
//   capture_request  the requests `bulkhead capture` sends (every filter);
//   capture_reply    the dataplane's answers to it: datagrams, each behind
//               a 2-byte length, from the golden builder's frames;
//   dns         DNS queries and answers as resolvers write them (A, AAAA,
//               CNAME chains, HTTPS hints, EDNS, NXDOMAIN, truncated);
//   tls         ClientHellos from the tests' builder as TLS client streams
//               (one record, many records, no name, ECH, large) and bare;
//   quic        QUIC client Initial datagrams (the RFC 9001 sample's
//               ClientHello, versions 1 and 2, over one and two packets),
//               and frames for the fuzz target's protecting mode;
//   bindings    name bindings as a dataplane saves them in its state
//               directory (both families, tenants, several names);
//   names       captures of DNS over UDP and TCP, a ClientHello over TCP
//               and QUIC Initials, some inside GENEVE and VXLAN, as
//               `bulkhead names` reads them;
//   snoop       DNS exchanges over UDP and TCP (an answer cut across
//               segments) as frames the snooping stage is handed.
// usage: make_seeds packet|encap|capture|flow_batch|dataplane|tuple|capture_request|capture_reply|dns|tls|quic|names|bindings|snoop OUT_DIR [GOLDEN_DIR]
//        make_seeds push OUT_DIR POLICY.yaml
//        make_seeds policy OUT_DIR GOLDEN_DIR POLICY.yaml
#include <pcap/pcap.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "controlplane/flows/pcap_flows.h"
#include "dataplane/names/bindings.h"
#include "proto/names.pb.h"
#include "tests/common/dns_builder.h"
#include "tests/common/hello_builder.h"
#include "controlplane/rule_change.h"
#include "proto/bulkhead.pb.h"
#include "rules/load.h"
#include "rules/match.h"
#include "rules/prefix.h"
#include "tests/common/packet_builder.h"
#include "tests/common/pcap_io.h"
#include "tests/common/tunnel_builder.h"

using namespace bulkhead;
using namespace bulkhead::test;

namespace {

std::vector<Frame> packet_seeds() {
  const Frame syn = build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000,
                                  .dport = 5432});
  std::vector<Frame> v = {
      syn,
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = 5353, .dport = 53,
                    .payload_len = 32}),
      build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 1, .dport = 443,
                    .ipv6_ext = {{0, 8}, {43, 16}, {60, 8}}}),
      build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoIcmpv6, .icmp_type = 128}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 8}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoSctp, .sport = 1, .dport = 2}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .vlans = {7, 8}}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .ipv4_options_len = 8}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .payload_len = 64,
                    .more_fragments = true}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .payload_len = 64,
                    .fragment_offset = 72}),
      build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoUdp, .payload_len = 64,
                    .ipv6_ext = {{44, 8}}, .more_fragments = true}),
      build_packet({.src = "10.0.2.9", .dst = "10.0.1.5", .proto = common::kProtoIcmp, .icmp_type = 3, .icmp_code = 1,
                    .quote = &syn}),
      arp_request("10.0.1.5", "10.0.2.9"),
  };
  return v;
}

std::vector<Frame> encap_seeds() {
  std::vector<Frame> v;
  const auto aws = aws_options(0x0a0b0c0d01020304, 0x1122334455667788, 7);
  auto with_unknown = aws;
  with_unknown.push_back({0x0777, 5, {1, 2, 3, 4}});
  for (const Frame& inner : packet_seeds()) {
    const int type = inner[12] << 8 | inner[13];
    if (type != 0x0800 && type != 0x86dd) continue;  // untagged IP frames only
    v.push_back(geneve_frame({.options = aws}, inner));
    v.push_back(vxlan_frame({.dport = 10800, .vni = 800}, inner));
  }
  const Frame syn = packet_seeds()[0];
  v.push_back(geneve_frame({.options = with_unknown}, syn));
  v.push_back(geneve_frame({.options = {{0x0132, 0x81, {0, 0, 0, 1}}}}, syn));
  v.push_back(geneve_frame({}, syn));
  v.push_back(vxlan_frame({.dport = 10801, .vni = 801}, syn));
  v.push_back(arp_request("10.100.0.10", "10.100.0.5"));
  const std::string get = "GET / HTTP/1.1\r\n\r\n";
  for (uint8_t flags : {common::kTcpSyn, uint8_t(common::kTcpAck | common::kTcpPsh), uint8_t(common::kTcpAck | common::kTcpFin)})
    v.push_back(build_packet({.src = "10.100.0.10", .dst = "10.100.0.5", .proto = common::kProtoTcp, .sport = 33000,
                              .dport = 80, .tcp_flags = flags,
                              .payload = flags & common::kTcpPsh ? std::vector<uint8_t>(get.begin(), get.end())
                                                                 : std::vector<uint8_t>{}}));
  return v;
}

constexpr int64_t kT0 = 1'790'000'000'000;

// A capture of `frames`, each cut to `snaplen` bytes (0: whole), a
// millisecond apart, in `link_type` (the frames' Ethernet headers replaced
// by its own).
std::string capture(const std::vector<Frame>& frames, uint32_t snaplen, int link_type = DLT_EN10MB) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  pcap_t* dead = pcap_open_dead(link_type, 65535);
  pcap_dumper_t* d = pcap_dump_fopen(dead, f);
  int64_t t = kT0;
  for (const Frame& ethernet : frames) {
    const Frame fr = link_type == DLT_EN10MB ? ethernet : as_link(link_type, ethernet, t % 2 == 0);
    pcap_pkthdr h{};
    t += 1;
    h.ts.tv_sec = t / 1000;
    h.ts.tv_usec = static_cast<suseconds_t>(t % 1000 * 1000);
    h.len = static_cast<bpf_u_int32>(fr.size());
    h.caplen = snaplen == 0 ? h.len : std::min<bpf_u_int32>(h.len, snaplen);
    pcap_dump(reinterpret_cast<u_char*>(d), &h, fr.data());
  }
  pcap_dump_close(d);  // closes f
  pcap_close(dead);
  std::string out(buf, len);
  std::free(buf);
  return out;
}

std::vector<std::string> capture_seeds() {
  const auto frames = packet_seeds();
  const PacketSpec c{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000, .dport = 5432};
  std::vector<Frame> conversation = tcp_handshake(c);
  PacketSpec data = c;
  data.tcp_flags = common::kTcpAck | common::kTcpPsh;
  data.payload_len = 600;
  conversation.push_back(build_packet(data));
  conversation.push_back(build_packet(reversed(data)));
  PacketSpec fin = c;
  fin.tcp_flags = common::kTcpFin | common::kTcpAck;
  conversation.push_back(build_packet(fin));
  conversation.push_back(build_packet(reversed(fin)));
  PacketSpec req{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 8};
  PacketSpec rep = reversed(req);
  rep.icmp_type = 0;
  conversation.push_back(build_packet(req));
  conversation.push_back(build_packet(rep));
  std::vector<std::string> out = {capture(frames, 0), capture(frames, 54), capture(conversation, 0),
                                  capture(conversation, 50), capture({}, 0)};
  // The conversation in every other link type read, a tagged frame where
  // the link type keeps tags, and compressed with gzip.
  std::vector<Frame> tagged = conversation;
  tagged.push_back(build_packet({.src = "fd00:1::5", .dst = "fd00:2::53", .vlans = {100, 200}}));
  for (int link : {DLT_RAW, DLT_IPV4, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP})
    out.push_back(capture(link == DLT_IPV4 ? conversation : tagged, 0, link));
  PacketSpec v6{.src = "fd00:1::5", .dst = "fd00:2::53", .proto = common::kProtoUdp, .sport = 5353, .dport = 53};
  out.push_back(capture({build_packet(v6), build_packet(reversed(v6))}, 0, DLT_IPV6));
  out.push_back(gzip(capture(conversation, 0)));
  out.push_back(gzip(capture(tagged, 50, DLT_LINUX_SLL2)));
  return out;
}

// The golden cases' captures, whole: CASE/send.pcap and CASE/expect.pcap.
std::vector<std::string> golden_captures(const std::string& golden) {
  std::vector<std::string> out;
  std::vector<std::filesystem::path> files;
  for (const auto& c : std::filesystem::directory_iterator(golden))
    for (const char* name : {"send.pcap", "expect.pcap"})
      if (std::filesystem::is_regular_file(c.path() / name)) files.push_back(c.path() / name);
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out.push_back(ss.str());
  }
  return out;
}

std::vector<std::string> flow_batch_seeds(std::vector<std::string> captures) {
  std::vector<std::string> out;
  uint64_t sequence = 0;
  for (const std::string& cap : capture_seeds()) captures.push_back(cap);
  for (const std::string& cap : captures) {
    bulkhead::pb::FlowBatch b;
    b.set_version(1);
    b.set_dataplane_id("dp1");
    b.set_sequence(++sequence);
    bulkhead::controlplane::flows::PcapStats stats;
    bulkhead::controlplane::flows::CaptureReader reader(
        [&](std::vector<bulkhead::pb::FlowRecord>& records) {
          for (auto& r : records) *b.add_records() = std::move(r);
        },
        stats);
    std::string error;
    if (reader.read_bytes(cap.data(), cap.size(), "seed", error)) reader.finish();
    out.push_back(b.SerializeAsString());
  }
  // One of every kind, verdict and end reason, IPv4 and IPv6, with what a
  // dataplane adds (rule, segments, generation, lost and suppressed counts).
  bulkhead::pb::FlowBatch b;
  b.set_version(1);
  b.set_dataplane_id("dp2");
  b.set_sequence(1);
  b.set_lost(3);
  b.set_suppressed(7);
  b.set_sample(1);
  for (int kind = bulkhead::pb::FlowRecord::START; kind <= bulkhead::pb::FlowRecord::DENIED; ++kind) {
    for (bool six : {false, true}) {
      auto& r = *b.add_records();
      r.set_kind(static_cast<bulkhead::pb::FlowRecord::Kind>(kind));
      r.set_time_ms(kT0 + 1000);
      r.set_start_ms(kT0);
      r.set_src(six ? std::string(15, '\0') + "\x01" : std::string("\x0a\x00\x01\x05", 4));
      r.set_dst(six ? std::string(15, '\0') + "\x02" : std::string("\x0a\x00\x02\x09", 4));
      r.set_protocol(kind == bulkhead::pb::FlowRecord::UPDATE ? 17 : 6);
      r.set_src_port(41000);
      r.set_dst_port(kind == bulkhead::pb::FlowRecord::DENIED ? 22 : 5432);
      r.set_verdict(kind == bulkhead::pb::FlowRecord::DENIED ? bulkhead::pb::FlowRecord::DENY
                                                              : bulkhead::pb::FlowRecord::WOULD_DENY);
      r.set_mode(kind == bulkhead::pb::FlowRecord::DENIED ? "enforce" : "audit");
      r.set_rule_id("web-to-db");
      r.set_src_segment("web");
      r.set_dst_segment("db");
      r.set_generation(12);
      r.set_opener_known(true);
      r.set_packets_out(5);
      r.set_bytes_out(500);
      r.set_packets_in(4);
      r.set_bytes_in(4000);
      r.set_tcp_flags_out(0x1b);
      r.set_tcp_flags_in(0x1b);
      if (kind == bulkhead::pb::FlowRecord::END) r.set_end_reason(bulkhead::pb::FlowRecord::CLOSED);
    }
  }
  out.push_back(b.SerializeAsString());
  b.set_version(2);  // a version this release refuses
  out.push_back(b.SerializeAsString());
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The leader term the control-push target has accepted: seeds push under
// it, so that they reach the checks past the term's.
constexpr uint64_t kSeedLeaderTerm = 3;

std::string push_message(const pb::PushRuleSet& push, uint64_t leader_term = kSeedLeaderTerm) {
  pb::ControlMessage m;
  m.set_version(1);
  *m.mutable_push() = push;
  m.mutable_push()->set_leader_term(leader_term);
  return m.SerializeAsString();
}

// The policy whole (generation 6, the fuzz target runs 5, under leader term
// 3), and changes of it: a rule dropped, a rule added, the rules reversed;
// and whole under other terms: a new leader's (4) with the running
// generation, a deposed leader's (2), a control plane that does not elect (0).
std::vector<std::string> push_seeds(const std::string& policy_path) {
  std::vector<std::string> out;
  const std::string text = read_text(policy_path);
  auto whole = rules::load_policy(text, "lab-policy.yaml");
  if (!whole.ok()) return out;
  pb::CompiledRuleSet base = *whole.value;
  base.set_generation(5);
  pb::PushRuleSet p;
  *p.mutable_rule_set() = base;
  p.mutable_rule_set()->set_generation(6);
  out.push_back(push_message(p));
  out.push_back(push_message(p, 2));
  out.push_back(push_message(p, 0));
  p.mutable_rule_set()->set_generation(5);
  out.push_back(push_message(p, kSeedLeaderTerm + 1));
  p.mutable_rule_set()->set_generation(6);
  auto changed = [&](pb::CompiledRuleSet next) {
    next.set_generation(6);
    pb::PushRuleSet c;
    if (controlplane::make_change(base, controlplane::encode_rules(base), next, controlplane::encode_rules(next), c))
      out.push_back(push_message(c));
  };
  pb::CompiledRuleSet fewer = base;
  if (fewer.rules_size() > 1) fewer.mutable_rules()->DeleteSubrange(1, 1);
  changed(fewer);
  pb::CompiledRuleSet more = base;
  auto* r = more.add_rules();
  *r = base.rules(0);
  r->set_id("added");
  changed(more);
  pb::CompiledRuleSet reversed = base;
  for (int i = 0, j = reversed.rules_size() - 1; i < j; ++i, --j) reversed.mutable_rules()->SwapElements(i, j);
  changed(reversed);
  return out;
}

std::vector<std::string> dataplane_seeds() {
  // The first byte is the frame count the target's decoder is told.
  std::vector<std::string> out;
  pb::ControlMessage m;
  m.set_version(1);
  m.mutable_hello()->set_dataplane_id("edge-1");
  m.mutable_hello()->set_generation(7);
  m.mutable_hello()->set_uptime_s(3600);
  out.push_back("\x01" + m.SerializeAsString());
  m.mutable_ack()->set_generation(8);
  m.mutable_ack()->set_apply_us(3200);
  m.mutable_ack()->set_sent_at_ns(123456789);
  out.push_back("\x01" + m.SerializeAsString());
  m.mutable_nack()->set_generation(9);
  m.mutable_nack()->set_running_generation(8);
  m.mutable_nack()->set_reason("generation 9 is not newer than the running 12 (replayed or reordered)");
  out.push_back("\x01" + m.SerializeAsString());
  out.push_back("\x02" + m.SerializeAsString());
  out.push_back(std::string("\x01localhost:1000:1000:4242"));
  return out;
}

std::vector<std::string> policy_seeds(const std::string& golden, const std::string& policy_path) {
  std::vector<std::string> out;
  std::vector<std::filesystem::path> files;
  for (const auto& c : std::filesystem::directory_iterator(golden))
    if (std::filesystem::is_regular_file(c.path() / "policy.yaml")) files.push_back(c.path() / "policy.yaml");
  std::sort(files.begin(), files.end());
  for (const auto& f : files) out.push_back(read_text(f));
  out.push_back(read_text(policy_path));
  const std::string head = "version: 1\nsegments:\n  web: [10.0.1.0/24, \"fd00:1::/64\"]\n  db: 10.0.2.0/24\nrules:\n";
  out.push_back(head + "  - { id: a, from: web, to: db, action: allow, action: deny }\n");
  out.push_back(head + "  - { id: a, action: allow }\nrules: []\n");
  out.push_back(head + "---\n" + head);
  out.push_back(head + "  - id: a\n    description: it's\n    from: " + std::string(40, '[') + "\n");
  out.push_back(head + "  - { id: a, from: wbe, to: [dbs, any], action: allow }\n");
  out.push_back(head + "  - { id: a, to: db, action: allow, expires: 0 }\n  - { id: b, to: db, action: deny, expires: "
                       "2030-01-01T00:00:00Z }\n  - { id: c, to: db, action: deny, expires: 9223372036854775807 }\n");
  out.push_back("version: 1\nsegments:\n  web: &w [10.0.1.0/24]\n  db: *w\nrules:\n  - &r { id: a, from: web, "
                "action: allow }\n");
  out.push_back(head + "  - { id: a, to: db, action: allow, description: \"say \\\"hi\\\" \\\\ #1,\\n: [x]\" }\n");
  out.push_back(head + "  - { id: a, from: web, to: db, proto: tcp, ports: [22, \"1000-2000\"], sports: 53, log: true, "
                       "action: allow }\n  - { id: p, to: web, proto: icmp, icmp_types: [echo-request, 3], action: "
                       "allow }\ndefaults: { action: allow, mode: audit }\n");
  // Tenants: both kinds of id, a repeated id, a rule id shared with the
  // shared rules, and a tenant with neither id.
  out.push_back(head + "  - { id: a, to: db, action: allow }\ntenants:\n  blue:\n    endpoint: 0x0a0b0c0d01020304\n"
                       "    rules:\n      - { id: b, from: web, to: db, proto: tcp, ports: [22], action: allow }\n"
                       "  red: { vni: 801, rules: [ { id: c, to: db, action: deny } ] }\n");
  out.push_back(head + "  - { id: a, action: allow }\ntenants:\n  blue: { vni: 5, rules: [ { id: a, action: deny } ] }\n"
                       "  red: { vni: 5 }\n  green: { rules: [] }\n  x: { endpoint: 0xfffffffffffffffff, vni: 1 }\n");
  out.push_back("version: 1\nsegments:\n  inet: { cidrs: [\"0.0.0.0/0\", \"::/0\"], except: [10.0.0.0/8, 10.1.2.3, "
                "\"fd00::/8\"] }\nrules:\n  - { id: a, to: inet, action: allow }\n");
  // Names (docs/egress.md): fqdn and sni items, segments of names, modes,
  // every dns: and tls: key; then what is refused (a pattern of '*', names
  // in from:, fqdn with no trusted resolver, values out of range, segments
  // of different modes under one rule).
  const std::string names =
      "version: 1\nsegments:\n  web: [10.0.1.0/24, \"fd00:1::/64\"]\n  dns: [10.0.0.53]\n"
      "  stripe: { fqdn: [API.Stripe.com., \"*.stripe.network\", \"bücher.example\"], cidrs: [192.0.2.0/24] }\n"
      "  new: { cidrs: [10.2.0.0/16], mode: audit }\n"
      "dns: { trusted: [dns, \"fd00::53\"], grace: 0, max_addresses_per_name: 8, max_names: 100, max_bindings: 1000 }\n"
      "tls: { ports: [443, \"8443-8444\"], quic_ports: 443, hello_packets: 3, hello_ms: 500, no_sni: allow, "
      "timeout: deny, ech: deny, mismatch: allow, reset: false }\nrules:\n";
  out.push_back(names +
                "  - { id: d, from: web, to: dns, proto: udp, ports: [53], action: allow }\n"
                "  - { id: a, from: web, to: [fqdn: api.example.com], proto: tcp, ports: [443], action: allow }\n"
                "  - { id: b, from: web, to: stripe, proto: tcp, ports: [443], action: allow, mode: learn }\n"
                "  - { id: c, from: web, to: [internet, sni: \"*.github.com\"], proto: tcp, ports: [443], action: allow }\n"
                "  - id: e\n    from: new\n    to:\n      - fqdn: [x.example.com, \"*.x.example.com\"]\n"
                "        sni: x.example.com\n      - 203.0.113.0/24\n    action: deny\n"
                "  - { id: f, to: {sni: [a.example, b.example]}, proto: udp, ports: [443], action: allow }\n");
  out.push_back(names + "  - { id: a, from: [fqdn: a.com], to: [fqdn: \"*\", sni: \"a.*.com\"], action: allow }\n"
                        "  - { id: b, from: stripe, to: [fqdn: [], fqdm: x], action: allow, mode: loud }\n"
                        "  - { id: c, from: new, to: [any, fqdn: \"a..com\"], action: allow }\n");
  out.push_back("version: 1\nsegments:\n  a: { cidrs: [10.1.0.0/16], mode: audit }\n  b: { cidrs: [10.2.0.0/16], "
                "mode: enforce }\ndns: { grace: 86401, max_names: 0, ttl: 1 }\ntls: { hello_packets: 65, quic_ports: [] }\n"
                "rules:\n  - { id: a, from: a, to: [b, fqdn: a.example.com], action: allow }\n");
  return out;
}

// Each flow of the golden captures as a tuple line ("6 10.0.1.5 41000
// 10.0.2.9 5432") and as a flow string ("tcp 10.0.1.5:41000 -> ...").
std::vector<std::string> tuple_seeds(const std::vector<std::string>& captures) {
  std::vector<std::string> out;
  for (const std::string& cap : captures) {
    std::string lines, flows;
    controlplane::flows::PcapStats stats;
    controlplane::flows::CaptureReader reader(
        [&](std::vector<pb::FlowRecord>& records) {
          for (const auto& r : records) {
            if (r.kind() != pb::FlowRecord::START) continue;
            rules::Tuple t;
            t.family = r.src().size() == 4 ? 4 : 6;
            std::copy(r.src().begin(), r.src().end(), t.src.begin());
            std::copy(r.dst().begin(), r.dst().end(), t.dst.begin());
            t.proto = static_cast<uint8_t>(r.protocol());
            t.sport = static_cast<uint16_t>(r.src_port());
            t.dport = static_cast<uint16_t>(r.dst_port());
            lines += std::to_string(t.proto) + " " + rules::format_address(t.family, t.src) + " " +
                     std::to_string(t.sport) + "\t" + rules::format_address(t.family, t.dst) + " " +
                     std::to_string(t.dport) + "\n";
            flows += rules::format_tuple(t) + "\n";
          }
        },
        stats);
    std::string error;
    if (reader.read_bytes(cap.data(), cap.size(), "seed", error)) reader.finish();
    if (!lines.empty()) out.push_back(lines);
    if (!flows.empty()) out.push_back(flows);
  }
  out.push_back("tcp 10.0.1.5 41000 10.0.2.9 5432\nudp fd00:1::5 1 fd00:2::9 53\nicmp 10.0.1.5 8 10.0.2.9 0\n");
  out.push_back("icmp 10.0.1.5 -> 10.0.2.9 type 8 code 0\nudp [fd00::1]:53 -> [fd00::2]:53\n47 10.0.0.1 -> 10.0.0.2\n");
  return out;
}

std::vector<std::string> capture_request_seeds() {
  std::vector<std::string> out;
  auto add = [&](bool drops, const std::string& rule, const std::string& reason, bool all, uint32_t duration_ms) {
    pb::CaptureRequest r;
    r.set_version(1);
    r.set_drops(drops);
    r.set_rule(rule);
    r.set_reason(reason);
    r.set_all(all);
    r.set_count(all ? 100 : 1000);
    r.set_rate(1000);
    r.set_duration_ms(duration_ms);
    out.push_back(r.SerializeAsString());
  };
  add(true, "", "", false, 0);
  add(false, "web-dns", "", false, 0);
  add(true, "no-telnet", "policy_deny", false, 30000);
  add(false, "", "truncated_ipv4", false, 500);
  add(false, "default", "", false, 0);
  add(false, "", "", true, 0);
  return out;
}

std::vector<std::string> capture_reply_seeds() {
  auto framed = [](const std::vector<pb::CaptureMessage>& ms) {
    std::string s;
    for (const auto& m : ms) {
      const std::string d = m.SerializeAsString();
      s.push_back(static_cast<char>(d.size() >> 8));
      s.push_back(static_cast<char>(d.size() & 0xff));
      s += d;
    }
    return s;
  };
  pb::CaptureMessage started, packets, end, refused;
  started.mutable_started()->set_filter("drops count=1000 rate=1000/s");
  started.mutable_started()->set_snaplen(2016);
  for (uint32_t p = 0; p < 2; ++p) {
    auto* cp = started.mutable_started()->add_ports();
    cp->set_port(p);
    cp->set_name("net_ring" + std::to_string(p));
  }
  uint32_t k = 0;
  for (const Frame& f : packet_seeds()) {
    if (++k > 8) break;
    auto* cp = packets.mutable_packets()->add_packets();
    cp->set_unix_ns(1'800'000'000'000'000'000 + k);
    cp->set_port(k % 2);
    cp->set_length(static_cast<uint32_t>(f.size()));
    cp->set_data(std::string(f.begin(), f.end()));
    cp->set_dropped(k % 2 == 0);
    cp->set_rule(k % 3 == 0 ? "default" : "web-dns");
    if (k % 2 == 0) cp->set_reason("policy_deny");
    cp->set_mode(k == 5 ? "audit" : "enforce");
  }
  end.mutable_end()->set_packets(8);
  end.mutable_end()->set_lost(3);
  end.mutable_end()->set_why("count reached");
  refused.set_error("nothing to capture");
  return {framed({started, packets, end}), framed({started, end}), framed({refused}), framed({packets})};
}

std::vector<std::string> dns_seeds() {
  using namespace bulkhead::test;
  DnsSpec with_edns = dns_answer("api.example.com", {dns_a("api.example.com", "192.0.2.10"), dns_a("api.example.com", "192.0.2.11")});
  with_edns.additional = {dns_raw("", 41, {}, 0)};
  DnsSpec nxdomain = dns_answer("gone.example", {});
  nxdomain.rcode = 3;
  DnsSpec truncated = dns_answer("tc.example", {dns_a("tc.example", "192.0.2.6")});
  truncated.truncated = true;
  std::vector<DnsSpec> specs = {
      dns_query("api.example.com"),
      with_edns,
      dns_answer("v6.example.com", {dns_aaaa("v6.example.com", "2001:db8::1")}, 28),
      dns_answer("www.example.com", {dns_cname("www.example.com", "cdn.example.net"),
                                     dns_cname("cdn.example.net", "edge.cdn.example"),
                                     dns_a("edge.cdn.example", "198.51.100.7")}),
      dns_answer("svc.example", {dns_raw("svc.example", 65, svcb_hints_rdata({"192.0.2.20"}, {"2001:db8::20"}))}, 65),
      nxdomain,
      truncated,
  };
  std::vector<std::string> out;
  for (const DnsSpec& spec : specs) {
    auto m = bulkhead::test::build_dns(spec);
    out.emplace_back(m.begin(), m.end());
  }
  return out;
}

std::vector<test::HelloSpec> hello_specs() {
  return {
      {},
      {.sni = "Mixed.Case.Example."},
      {.sni = std::nullopt},
      {.sni = "public.example.net", .ech = true},
      {.versions = {0x0a0a, 0x0303}},
      {.padding = 600},
      {.no_extensions = true},
      {.sni = "x", .extra = {{0x0010, {0, 3, 2, 'h', '2'}}}},
  };
}

std::vector<std::string> tls_seeds() {
  std::vector<std::string> out;
  for (const test::HelloSpec& spec : hello_specs()) {
    const test::Bytes hello = test::build_client_hello(spec);
    for (size_t fragment : {16384, 100, 7}) {
      const test::Bytes stream = test::tls_records(hello, fragment);
      out.emplace_back(stream.begin(), stream.end());
    }
    out.emplace_back(hello.begin(), hello.end());
  }
  out.emplace_back("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  return out;
}

// Captures of what `bulkhead names` reads: a DNS query and its answer over
// UDP, the same over TCP in two segments, a ClientHello over TCP in two
// segments, and QUIC Initials of both versions.
std::vector<std::string> names_seeds() {
  using namespace bulkhead::test;
  auto udp = [](const char* src, const char* dst, uint16_t sport, uint16_t dport, const std::vector<uint8_t>& p) {
    PacketSpec s = udp_spec(src, dst, sport, dport);
    s.payload = p;
    return build_packet(s);
  };
  auto tcp = [](const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
                const std::vector<uint8_t>& p) {
    PacketSpec s = tcp_spec(src, dst, sport, dport, flags);
    s.tcp_seq = seq;
    s.payload = p;
    return build_packet(s);
  };
  DnsSpec q = dns_query("api.example.com");
  DnsSpec a = dns_answer("api.example.com", {dns_cname("api.example.com", "edge.example.net"),
                                             dns_a("edge.example.net", "192.0.2.10")});
  const auto query = build_dns(q), answer = build_dns(a);
  const auto tq = dns_tcp_framed(query), ta = dns_tcp_framed(answer);
  const uint8_t psh = common::kTcpPsh | common::kTcpAck;
  std::vector<Frame> dns = {
      udp("10.0.1.5", "10.0.3.53", 40000, 53, query), udp("10.0.3.53", "10.0.1.5", 53, 40000, answer),
      tcp("10.0.1.5", "10.0.3.53", 41000, 53, common::kTcpSyn, 100, {}),
      tcp("10.0.3.53", "10.0.1.5", 53, 41000, common::kTcpSyn | common::kTcpAck, 500, {}),
      tcp("10.0.1.5", "10.0.3.53", 41000, 53, psh, 101, tq),
      tcp("10.0.3.53", "10.0.1.5", 53, 41000, psh, 501, {ta.begin(), ta.begin() + 5}),
      tcp("10.0.3.53", "10.0.1.5", 53, 41000, psh, 506, {ta.begin() + 5, ta.end()})};
  const test::Bytes records = test::tls_records(test::build_client_hello({.sni = "api.example.com"}), 100);
  std::vector<Frame> tls = {tcp("10.0.1.5", "192.0.2.10", 50000, 443, common::kTcpSyn, 1000, {}),
                            tcp("10.0.1.5", "192.0.2.10", 50000, 443, psh, 1001, {records.begin(), records.begin() + 40}),
                            tcp("10.0.1.5", "192.0.2.10", 50000, 443, psh, 1041, {records.begin() + 40, records.end()})};
  const test::Bytes hello = test::build_client_hello({.sni = "quic.example"});
  std::vector<Frame> quic;
  for (uint32_t v : {dataplane::names::kQuicV1, dataplane::names::kQuicV2})
    quic.push_back(udp("10.0.1.5", "192.0.2.10", 51000, 443,
                       test::protect_initial({.version = v, .frames = test::crypto_frame(hello)})));
  std::vector<Frame> all = dns;
  all.insert(all.end(), tls.begin(), tls.end());
  all.insert(all.end(), quic.begin(), quic.end());
  const std::vector<Frame> tunnelled = {geneve_frame({.options = aws_options(1, 2, 3)}, dns[1]),
                                        vxlan_frame({.dport = 10800, .vni = 800}, tls[1])};
  return {capture(dns, 0), capture(tls, 0), capture(quic, 0), capture(all, 0), capture(tunnelled, 0)};
}

std::vector<std::string> bindings_seeds() {
  const uint64_t secrets[6] = {1, 2, 3, 4, 5, 6};
  dataplane::names::BindingTable t({}, dataplane::KeyedHash::with_secrets(secrets));
  dataplane::names::BindingKey k;
  k.client = {10, 0, 1, 5};
  k.server = {192, 0, 2, 10};
  t.bind(k, "api.example.com", 100, 160);
  t.bind(k, "cdn.example.net", 100, 400);
  k.tenant = 3;
  t.bind(k, "xn--bcher-kva.example", 100, 200);
  k.family = 6;
  k.client = {0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
  k.server = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
  t.bind(k, "v6.example", 100, 200);
  bulkhead::pb::NameBindings state;
  t.save(120, 1'800'000'000, state);
  return {state.SerializeAsString()};
}

// A datagram seed starts with an even mode byte; frames for the target to
// protect itself with an odd one (bit 1: version 2), packets separated by
// 0xff 0xfe.
// Frames of DNS exchanges as the snooping stage is handed them, each as
// [flags][length][frame] (tests/fuzz/dns_snoop_fuzz.cpp): over UDP, and over
// TCP with the answer cut across segments.
std::vector<std::string> snoop_seeds() {
  using namespace bulkhead::test;
  auto record = [](std::string& out, uint8_t flags, const Frame& f) {
    out.push_back(static_cast<char>(flags));
    out.push_back(static_cast<char>(f.size() >> 8));
    out.push_back(static_cast<char>(f.size() & 0xff));
    out.append(f.begin(), f.end());
  };
  const char* client = "10.1.0.5";
  const char* resolver = "10.0.0.53";
  auto udp = [&](bool ask, const DnsSpec& dns) {
    PacketSpec s = ask ? udp_spec(client, resolver, 40000, 53) : udp_spec(resolver, client, 53, 40000);
    s.payload = build_dns(dns);
    return build_packet(s);
  };
  const DnsSpec chain = dns_answer("www.example.org", {dns_cname("www.example.org", "edge.example.net"),
                                                       dns_a("edge.example.net", "198.51.100.7")});
  std::vector<std::string> out;
  std::string u;
  record(u, 3, udp(true, dns_query("www.example.org")));
  record(u, 0, udp(false, chain));
  record(u, 1, udp(true, dns_query("api.example.com")));
  record(u, 0, udp(false, dns_answer("api.example.com", {dns_a("api.example.com", "198.51.100.8", 0xffffffff)})));
  out.push_back(u);
  std::string t;
  PacketSpec c = tcp_spec(client, resolver, 41000, 53);
  c.tcp_seq = 1000;
  PacketSpec r = reversed(c);
  r.tcp_flags = common::kTcpSyn | common::kTcpAck;
  r.tcp_seq = 5000;
  record(t, 3, build_packet(c));
  record(t, 0, build_packet(r));
  c.tcp_flags = r.tcp_flags = common::kTcpAck;
  c.tcp_seq = 1001;
  c.payload = dns_tcp_framed(build_dns(dns_query("www.example.org")));
  record(t, 1, build_packet(c));
  const auto answer = dns_tcp_framed(build_dns(chain));
  r.tcp_seq = 5001;
  for (size_t at = 0; at < answer.size(); at += 20) {
    r.payload.assign(answer.begin() + static_cast<long>(at), answer.begin() + static_cast<long>(std::min(answer.size(), at + 20)));
    record(t, 0, build_packet(r));
    r.tcp_seq += static_cast<uint32_t>(r.payload.size());
  }
  out.push_back(t);
  return out;
}

std::vector<std::string> quic_seeds() {
  std::vector<std::string> out;
  const auto datagram = [&out](const test::Bytes& d) {
    out.push_back(std::string(1, '\0') + std::string(d.begin(), d.end()));
  };
  for (const test::HelloSpec& spec : hello_specs()) {
    const test::Bytes hello = test::build_client_hello(spec);
    for (uint32_t v : {dataplane::names::kQuicV1, dataplane::names::kQuicV2}) {
      datagram(test::protect_initial({.version = v, .frames = test::crypto_frame(hello)}));
      const test::Bytes head = test::crypto_frame(hello, 0, 40), tail = test::crypto_frame(hello, 40);
      std::string frames(1, static_cast<char>(v == dataplane::names::kQuicV1 ? 1 : 3));
      frames += std::string(tail.begin(), tail.end()) + "\xff\xfe" + std::string(head.begin(), head.end());
      out.push_back(frames);
    }
  }
  const test::Bytes hello = test::build_client_hello({});
  test::Bytes coalesced = test::protect_initial({.frames = test::crypto_frame(hello, 0, 30), .pad_to = 0});
  const test::Bytes rest = test::protect_initial({.packet_number = 1, .frames = test::crypto_frame(hello, 30)});
  coalesced.insert(coalesced.end(), rest.begin(), rest.end());
  datagram(coalesced);
  // ACK, PING, PADDING and CONNECTION_CLOSE around the CRYPTO frame.
  test::Bytes frames = {0x02, 0x05, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x1c, 0x00, 0x00, 0x01, 'x'};
  const test::Bytes crypto = test::crypto_frame(hello);
  frames.insert(frames.end(), crypto.begin(), crypto.end());
  out.push_back(std::string(1, '\x01') + std::string(frames.begin(), frames.end()));
  return out;
}

bool write_all(const std::string& dir, const char* prefix, const std::vector<std::string>& seeds) {
  int i = 0;
  for (const std::string& s : seeds) {
    std::ofstream out(dir + "/" + prefix + std::to_string(i++), std::ios::binary);
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
    if (!out) return false;
  }
  return !seeds.empty();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc >= 3 ? argv[1] : "";
  const bool ok = what == "push"     ? argc == 4
                  : what == "policy" ? argc == 5
                                     : (argc == 3 || argc == 4) && (what == "packet" || what == "encap" ||
                                                                    what == "capture" || what == "flow_batch" ||
                                                                    what == "dataplane" || what == "tuple" ||
                                                                    what == "capture_request" ||
                                                                    what == "capture_reply" || what == "dns" ||
                                                                    what == "tls" || what == "quic" || what == "names" ||
                                                                    what == "bindings" || what == "snoop");
  if (!ok) {
    std::fprintf(stderr,
                 "usage: make_seeds packet|encap|capture|flow_batch|dataplane|tuple|capture_request|capture_reply|"
                 "dns|tls|quic|names|bindings|snoop OUT_DIR [GOLDEN_DIR] | push OUT_DIR POLICY.yaml | policy OUT_DIR GOLDEN_DIR POLICY.yaml\n");
    return 2;
  }
  const std::string dir = argv[2];
  ::mkdir(dir.c_str(), 0755);
  if (what == "capture") {
    // Not named *.pcap: the fuzz runner would split those into frames.
    if (argc == 4 && !write_all(dir, "golden", golden_captures(argv[3]))) return 1;
    return write_all(dir, "capture", capture_seeds()) ? 0 : 1;
  }
  if (what == "flow_batch")
    return write_all(dir, "batch", flow_batch_seeds(argc == 4 ? golden_captures(argv[3]) : std::vector<std::string>{}))
               ? 0
               : 1;
  if (what == "push") return write_all(dir, "push", push_seeds(argv[3])) ? 0 : 1;
  if (what == "capture_request") return write_all(dir, "request", capture_request_seeds()) ? 0 : 1;
  if (what == "capture_reply") return write_all(dir, "reply", capture_reply_seeds()) ? 0 : 1;
  if (what == "dns") return write_all(dir, "message", dns_seeds()) ? 0 : 1;
  if (what == "tls") return write_all(dir, "stream", tls_seeds()) ? 0 : 1;
  if (what == "bindings") return write_all(dir, "state", bindings_seeds()) ? 0 : 1;
  if (what == "names") return write_all(dir, "capture", names_seeds()) ? 0 : 1;
  if (what == "snoop") return write_all(dir, "frames", snoop_seeds()) ? 0 : 1;
  if (what == "quic") return write_all(dir, "datagram", quic_seeds()) ? 0 : 1;
  if (what == "dataplane") return write_all(dir, "message", dataplane_seeds()) ? 0 : 1;
  if (what == "policy") return write_all(dir, "policy", policy_seeds(argv[3], argv[4])) ? 0 : 1;
  if (what == "tuple")
    return write_all(dir, "tuples", tuple_seeds(argc == 4 ? golden_captures(argv[3]) : capture_seeds())) ? 0 : 1;
  std::vector<std::string> frames;
  for (const Frame& f : what == "encap" ? encap_seeds() : packet_seeds()) frames.emplace_back(f.begin(), f.end());
  return write_all(dir, "frame", frames) ? 0 : 1;
}
