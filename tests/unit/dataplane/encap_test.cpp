// The outer-header reader of one-armed insertion on crafted frames: a table
// of cases, each named for what it proves; the echo and the ARP answer
// checked against frames built independently; truncation at every length.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include "common/protocols.h"
#include "dataplane/insertion/encap.h"
#include "dataplane/packet.h"
#include "tests/common/tunnel_builder.h"

namespace bulkhead::dataplane::insertion {
namespace {

using test::Frame;
using test::GeneveOption;
using test::TunnelSpec;
using test::aws_options;
using test::build_packet;
using test::geneve_frame;
using test::vxlan_frame;

OuterConfig config(Insertion i = Insertion::geneve, GeneveProfile p = GeneveProfile::aws) {
  OuterConfig c;
  c.insertion = i;
  c.profile = p;
  inet_pton(AF_INET, "10.100.0.5", c.address);
  return c;
}

const Frame kInner = build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000,
                                   .dport = 5432});
const Frame kInner6 = build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoUdp, .sport = 5353,
                                    .dport = 53});
const auto kAws = aws_options(0x0a0b0c0d01020304, 0x1122334455667788, 0xc00c1e);

std::vector<GeneveOption> plus(std::vector<GeneveOption> v, GeneveOption o) {
  v.push_back(std::move(o));
  return v;
}

Frame with(Frame f, size_t at, uint8_t v) {
  f[at] = v;
  return f;
}

// Offsets in an untagged GENEVE frame: Ethernet 14, IPv4 20, UDP 8.
constexpr size_t kGeneve = 42;

struct OuterCase {
  const char* name;
  Frame frame;
  OuterConfig cfg;
  Outer kind;
  DropReason reason = DropReason::count;
};

std::vector<OuterCase> cases() {
  const Frame aws = geneve_frame({.options = kAws}, kInner);
  Frame short_udp = aws;
  short_udp[kGeneve - 4] = 0;  // UDP length 4
  short_udp[kGeneve - 3] = 4;
  Frame long_udp = aws;
  long_udp[kGeneve - 4] = 0x7f;
  Frame optlen_past = aws;
  optlen_past[kGeneve] = 0x3f;  // 252 bytes of options in a shorter packet
  Frame option_past = aws;
  option_past[kGeneve + 8 + 3] = 0x1f;  // the first option's length past the options
  return {
      {"AWS GENEVE with its three options is a tunnel", aws, config(), Outer::tunnel},
      {"an unknown option passes", geneve_frame({.options = plus(kAws, {0x0777, 5, {1, 2, 3, 4}})}, kInner), config(),
       Outer::tunnel},
      {"an empty option (no data) passes", geneve_frame({.options = plus(kAws, {0x0777, 5, {}})}, kInner), config(),
       Outer::tunnel},
      {"an unknown critical option drops",
       geneve_frame({.options = plus(kAws, {0x0777, 0x85, {1, 2, 3, 4}})}, kInner), config(), Outer::drop,
       DropReason::geneve_critical_option},
      {"a missing cookie drops under AWS",
       geneve_frame({.options = {kAws[0], kAws[1]}}, kInner), config(), Outer::drop, DropReason::geneve_missing_option},
      {"no options pass the generic profile", geneve_frame({}, kInner),
       config(Insertion::geneve, GeneveProfile::generic), Outer::tunnel},
      {"a GCP option passes the GCP profile even when critical",
       geneve_frame({.options = {{0x0132, 0x81, {0, 0, 0, 1}}}}, kInner), config(Insertion::geneve, GeneveProfile::gcp),
       Outer::tunnel},
      {"version 1 drops", geneve_frame({.options = kAws, .version = 1}, kInner), config(), Outer::drop,
       DropReason::geneve_bad_version},
      {"an OAM packet drops", geneve_frame({.options = kAws, .oam = true}, kInner), config(), Outer::drop,
       DropReason::geneve_oam},
      {"Ethernet inside GENEVE drops", geneve_frame({.options = kAws, .protocol = 0x6558}, kInner), config(),
       Outer::drop, DropReason::geneve_bad_protocol},
      {"a UDP length below the tunnel header drops", short_udp, config(), Outer::drop, DropReason::tunnel_truncated},
      {"a UDP length past the packet drops", long_udp, config(), Outer::drop, DropReason::tunnel_truncated},
      {"an option length past the packet drops", optlen_past, config(), Outer::drop, DropReason::geneve_bad_option},
      {"one option's length past the options drops", option_past, config(), Outer::drop,
       DropReason::geneve_bad_option},
      {"an AWS endpoint id of 4 bytes drops",
       geneve_frame({.options = {{0x0108, 1, {0, 0, 0, 1}}, kAws[1], kAws[2]}}, kInner), config(), Outer::drop,
       DropReason::geneve_bad_option},
      {"another destination address is not for the appliance",
       geneve_frame({.appliance = "10.100.0.6", .options = kAws}, kInner), config(), Outer::drop,
       DropReason::not_for_appliance},
      {"other UDP to the appliance drops", geneve_frame({.dport = 6082, .options = kAws}, kInner), config(),
       Outer::drop, DropReason::appliance_local},
      {"a fragmented outer packet drops", with(aws, 20, 0x20), config(), Outer::drop, DropReason::outer_fragment},
      {"TCP to the health port is a health check",
       build_packet({.src = "10.100.0.10", .dst = "10.100.0.5", .proto = common::kProtoTcp, .sport = 999, .dport = 80}),
       config(), Outer::health},
      {"TCP to another port drops",
       build_packet({.src = "10.100.0.10", .dst = "10.100.0.5", .proto = common::kProtoTcp, .sport = 999, .dport = 22}),
       config(), Outer::drop, DropReason::appliance_local},
      {"IPv6 is not for the appliance", kInner6, config(), Outer::drop, DropReason::not_for_appliance},
      {"ARP for the appliance's address is answered", test::arp_request("10.100.0.10", "10.100.0.5"), config(),
       Outer::arp},
      {"ARP for another address drops", test::arp_request("10.100.0.10", "10.100.0.6"), config(), Outer::drop,
       DropReason::not_for_appliance},
      {"VXLAN on the external tunnel", vxlan_frame({.dport = 10800, .vni = 800}, kInner),
       config(Insertion::vxlan), Outer::tunnel},
      {"VXLAN on the internal tunnel", vxlan_frame({.dport = 10801, .vni = 801}, kInner),
       config(Insertion::vxlan), Outer::tunnel},
      {"VXLAN with the other tunnel's VNI drops", vxlan_frame({.dport = 10800, .vni = 801}, kInner),
       config(Insertion::vxlan), Outer::drop, DropReason::vxlan_unknown_vni},
      {"VXLAN without the I flag drops", with(vxlan_frame({.dport = 10800, .vni = 800}, kInner), kGeneve, 0),
       config(Insertion::vxlan), Outer::drop, DropReason::vxlan_bad_flags},
      {"GENEVE in VXLAN insertion is other UDP", aws, config(Insertion::vxlan), Outer::drop,
       DropReason::appliance_local},
  };
}

TEST(ReadOuter, Cases) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    Encap e;
    read_outer(c.frame.data(), static_cast<uint32_t>(c.frame.size()), c.cfg, e);
    EXPECT_EQ(e.kind, c.kind);
    if (c.kind == Outer::drop) {
      EXPECT_STREQ(drop_reason_name(e.drop_reason), drop_reason_name(c.reason));
    }
    if (c.kind == Outer::tunnel) {
      EXPECT_LE(e.inner_offset + e.inner_length, c.frame.size());
    }
  }
}

// Reads `f`, which must be a tunnel with kAws's three options.
Encap read_aws(const Frame& f) {
  Encap e;
  read_outer(f.data(), static_cast<uint32_t>(f.size()), config(), e);
  EXPECT_EQ(e.kind, Outer::tunnel);
  EXPECT_EQ(e.endpoint_id, 0x0a0b0c0d01020304u);
  EXPECT_EQ(e.attachment_id, 0x1122334455667788u);
  EXPECT_EQ(e.cookie, 0xc00c1eu);
  return e;
}

TEST(ReadOuter, ReadsTheAwsOptionsAndFindsTheInnerPacket) {
  for (const Frame& inner : {kInner, kInner6}) {
    const Frame f = geneve_frame({.vni = 77, .options = plus(kAws, {0x0777, 5, {9, 9, 9, 9, 9, 9, 9, 9}})}, inner);
    const Encap e = read_aws(f);
    EXPECT_EQ(e.vni, 77u);
    EXPECT_EQ(e.options, 4);
    EXPECT_EQ(e.unknown_options, 1);
    const auto ip = test::ip_packet(inner);
    EXPECT_EQ(e.inner_offset, kGeneve + 8 + 12 + 12 + 8 + 12);
    ASSERT_EQ(e.inner_length, ip.size());
    EXPECT_TRUE(std::equal(ip.begin(), ip.end(), f.begin() + e.inner_offset));
    EXPECT_EQ(e.inner_ethertype, (ip[0] >> 4) == 4 ? kEthIpv4 : kEthIpv6);
    // The inner packet, parsed without a link-layer header.
    PacketMeta m;
    parse_ip_packet(f.data() + e.inner_offset, e.inner_length, e.inner_ethertype, m);
    ASSERT_EQ(m.kind, PacketKind::ip);
    EXPECT_EQ(m.l3_offset, 0);
    EXPECT_EQ(m.tuple.family, (ip[0] >> 4) == 4 ? 4 : 6);
    EXPECT_EQ(m.tuple.dport, (ip[0] >> 4) == 4 ? 5432 : 53);
  }
}

TEST(ReadTunnelPayload, FindsThePacketOfAnyTunnelWithoutAConfiguration) {
  constexpr uint32_t kUdpPayload = 14 + 20 + 8;  // the builders' outer Ethernet, IPv4 and UDP
  const auto ip = test::ip_packet(kInner);
  for (const auto& options : {std::vector<GeneveOption>{}, kAws}) {
    const Frame f = geneve_frame({.vni = 9, .options = options}, kInner);
    Tunnelled t;
    ASSERT_TRUE(read_tunnel_payload(f.data() + kUdpPayload, uint32_t(f.size() - kUdpPayload), Insertion::geneve, t));
    EXPECT_EQ(t.vni, 9u);
    EXPECT_EQ(t.inner_ethertype, kEthIpv4);
    ASSERT_EQ(t.inner_length, ip.size());
    EXPECT_TRUE(std::equal(ip.begin(), ip.end(), f.begin() + kUdpPayload + t.inner_offset));
    EXPECT_FALSE(read_tunnel_payload(f.data() + kUdpPayload, 7, Insertion::geneve, t));
  }
  const Frame v = vxlan_frame({.dport = 4789, .vni = 4242}, kInner);
  Tunnelled t;
  ASSERT_TRUE(read_tunnel_payload(v.data() + kUdpPayload, uint32_t(v.size() - kUdpPayload), Insertion::vxlan, t));
  EXPECT_EQ(t.vni, 4242u);
  EXPECT_EQ(t.inner_ethertype, kEthTransparent);
  EXPECT_EQ(t.inner_length, kInner.size());
  const Frame critical = geneve_frame({.options = {{0x0ff0, 0x81, {1, 2, 3, 4}}}}, kInner);
  EXPECT_FALSE(read_tunnel_payload(critical.data() + kUdpPayload, uint32_t(critical.size() - kUdpPayload),
                                   Insertion::geneve, t));
}

TEST(ReadOuter, ReadsAwsOptionsInAnyOrderAlike) {
  // AWS's own order is read at once, any other by the generic walk.
  for (auto opts : {kAws, std::vector<GeneveOption>{kAws[2], kAws[0], kAws[1]}}) {
    const Frame f = geneve_frame({.options = opts}, kInner);
    const Encap e = read_aws(f);
    EXPECT_EQ(e.options, 3);
    EXPECT_EQ(e.unknown_options, 0);
    EXPECT_EQ(e.inner_offset, kGeneve + 8 + 32);
  }
}

// The frame AWS sends is read at once (read_aws_frame), exactly as the
// general reader reads it; a frame off that layout is left to the general
// reader, whatever it holds.
TEST(ReadOuter, TheAwsFrameIsReadAtOnceAndAlike) {
  auto fast = [](const Frame& f, const OuterConfig& cfg, Encap& e) {
    return read_aws_frame(f.data(), static_cast<uint32_t>(f.size()), cfg, e);
  };
  auto any = [](const Frame& f, const OuterConfig& cfg) {
    Encap e;
    read_any_outer(f.data(), static_cast<uint32_t>(f.size()), cfg, e);
    return e;
  };
  const Frame aws = geneve_frame({.vni = 77, .options = kAws}, kInner);
  for (const Frame& f : {aws, geneve_frame({.options = kAws}, kInner6), with(aws, 15, 0xb8) /* any TOS */}) {
    for (auto profile : {GeneveProfile::aws, GeneveProfile::gcp, GeneveProfile::generic}) {
      Encap e;
      ASSERT_TRUE(fast(f, config(Insertion::geneve, profile), e));
      EXPECT_EQ(e, any(f, config(Insertion::geneve, profile)));
      EXPECT_EQ(e.kind, Outer::tunnel);
    }
  }
  Frame fragment = with(aws, 20, 0x20);  // more fragments
  Frame short_udp = aws;
  short_udp[kGeneve - 3] = 40;  // UDP length 40: no room for the options
  Frame past_packet = aws;
  past_packet[16] = 0;  // IPv4 total length 40: the datagram outruns the packet
  past_packet[17] = 40;
  const std::pair<const char*, Frame> off_layout[] = {
      {"options in another order", geneve_frame({.options = {kAws[2], kAws[0], kAws[1]}}, kInner)},
      {"a fourth option", geneve_frame({.options = plus(kAws, {0x0777, 5, {}})}, kInner)},
      {"IPv4 options", with(aws, 14, 0x46)},
      {"a fragment", fragment},
      {"another address", geneve_frame({.appliance = "10.100.0.6", .options = kAws}, kInner)},
      {"another port", geneve_frame({.dport = 6082, .options = kAws}, kInner)},
      {"version 1", geneve_frame({.options = kAws, .version = 1}, kInner)},
      {"OAM", geneve_frame({.options = kAws, .oam = true}, kInner)},
      {"Ethernet inside", geneve_frame({.options = kAws, .protocol = 0x6558}, kInner)},
      {"a short UDP length", short_udp},
      {"a datagram past its packet", past_packet},
      {"a cut frame", Frame(aws.begin(), aws.begin() + 81)},
  };
  for (const auto& [name, f] : off_layout) {
    SCOPED_TRACE(name);
    Encap e;
    EXPECT_FALSE(fast(f, config(), e));
  }
  Encap e;
  EXPECT_FALSE(fast(aws, config(Insertion::vxlan), e));
  // Every case of the table reads the same through read_outer() as
  // through the general reader alone.
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    Encap both;
    read_outer(c.frame.data(), static_cast<uint32_t>(c.frame.size()), c.cfg, both);
    const Encap general = any(c.frame, c.cfg);
    EXPECT_EQ(both.kind, general.kind);
    if (both.kind == Outer::tunnel) {
      EXPECT_EQ(both, general);
    }
  }
}

TEST(Echo, IsTheSameGeneveBytesSentBack) {
  const auto opts = plus(kAws, {0x0777, 5, {1, 2, 3, 4}});
  Frame f = geneve_frame({.vni = 5, .options = opts}, kInner);
  Encap e;
  read_outer(f.data(), static_cast<uint32_t>(f.size()), config(), e);
  ASSERT_EQ(e.kind, Outer::tunnel);
  echo(f.data(), e, config());
  EXPECT_EQ(f, geneve_frame({.vni = 5, .options = opts, .echo = true}, kInner));
}

TEST(Echo, LeavesVxlanOnTheOtherTunnel) {
  for (int t = 0; t < 2; ++t) {
    SCOPED_TRACE(t);
    const VxlanTunnel in = config().vxlan[t], out = config().vxlan[t ^ 1];
    Frame f = vxlan_frame({.dport = in.port, .vni = in.vni}, kInner);
    Encap e;
    read_outer(f.data(), static_cast<uint32_t>(f.size()), config(Insertion::vxlan), e);
    ASSERT_EQ(e.kind, Outer::tunnel);
    EXPECT_EQ(e.tunnel, t);
    echo(f.data(), e, config(Insertion::vxlan));
    EXPECT_EQ(f, vxlan_frame({.dport = out.port, .vni = out.vni, .echo = true}, kInner));
  }
}

TEST(AnswerArp, RepliesFromTheAppliancesMac) {
  Frame f = test::arp_request("10.100.0.10", "10.100.0.5");
  Encap e;
  read_outer(f.data(), static_cast<uint32_t>(f.size()), config(), e);
  ASSERT_EQ(e.kind, Outer::arp);
  const uint8_t mac[6] = {2, 0x70, 0x63, 0x61, 0x70, 0};
  answer_arp(f.data(), e, mac);
  const Frame want = {
      0x02, 0, 0, 0, 0, 0x01, 2, 0x70, 0x63, 0x61, 0x70, 0, 0x08, 0x06,  // to the asker, from us
      0, 1, 0x08, 0, 6, 4, 0, 2,                                          // a reply
      2, 0x70, 0x63, 0x61, 0x70, 0, 10, 100, 0, 5,                        // sender: us
      0x02, 0, 0, 0, 0, 0x01, 10, 100, 0, 10};                            // target: the asker
  EXPECT_TRUE(std::equal(want.begin(), want.end(), f.begin()));
}

TEST(ReadOuter, NeverReadsPastTheFrameAtAnyLength) {
  for (const auto& c : cases()) {
    for (size_t n = 0; n <= c.frame.size(); ++n) {
      std::vector<uint8_t> cut(c.frame.begin(), c.frame.begin() + static_cast<long>(n));
      cut.shrink_to_fit();
      Encap e;
      read_outer(cut.data(), static_cast<uint32_t>(n), c.cfg, e);
      if (e.kind == Outer::tunnel) {
        EXPECT_LE(e.inner_offset + e.inner_length, n) << c.name;
      }
    }
  }
}

}  // namespace
}  // namespace bulkhead::dataplane::insertion
