// The packet parser on crafted frames: a table of cases, each named for what
// it proves, then truncation at every length and random mutations.
#include <gtest/gtest.h>

#include <random>

#include "common/protocols.h"
#include "dataplane/packet.h"
#include "dataplane/wire.h"
#include "tests/common/packet_builder.h"

namespace bulkhead::dataplane {
namespace {

using test::Frame;
using test::PacketSpec;
using test::build_packet;

struct ParseCase {
  const char* name;
  Frame frame;
  PacketKind kind;
  DropReason reason = DropReason::count;  // for drops
  uint8_t proto = 0;
  uint16_t sport = 0;
  uint16_t dport = 0;
  bool fragment = false;
  bool first_fragment = false;
};

Frame with(Frame f, size_t at, uint8_t v) {
  f[at] = v;
  return f;
}

const Frame kUdp4 = build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = 5353, .dport = 53});
const Frame kTcp4 = build_packet(
    {.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000, .dport = 443, .tcp_flags = common::kTcpSyn});
const Frame kTcp6 = build_packet(
    {.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 41000, .dport = 443, .tcp_flags = common::kTcpSyn});

std::vector<ParseCase> cases() {
  using common::kProtoIcmp;
  using common::kProtoIcmpv6;
  using common::kProtoTcp;
  using common::kProtoUdp;
  return {
      {"udp4", kUdp4, PacketKind::ip, DropReason::count, common::kProtoUdp, 5353, 53},
      {"tcp4", kTcp4, PacketKind::ip, DropReason::count, common::kProtoTcp, 41000, 443},
      {"tcp4_dont_fragment", with(kTcp4, 14 + 6, 0x40), PacketKind::ip, DropReason::count, common::kProtoTcp, 41000, 443},
      {"tcp4_offset_past_packet", with(kTcp4, 14 + 20 + 12, 0xf0), PacketKind::drop, DropReason::bad_tcp_offset},
      {"tcp6", kTcp6, PacketKind::ip, DropReason::count, common::kProtoTcp, 41000, 443},
      {"sctp4", build_packet({.proto = common::kProtoSctp, .sport = 1, .dport = 2}), PacketKind::ip, DropReason::count,
       common::kProtoSctp, 1, 2},
      {"icmp_type_code_as_ports", build_packet({.proto = common::kProtoIcmp, .icmp_type = 3, .icmp_code = 1}), PacketKind::ip,
       DropReason::count, common::kProtoIcmp, 3, 1},
      {"icmpv6_echo", build_packet({.src = "fd00::1", .dst = "fd00::2", .proto = common::kProtoIcmpv6, .icmp_type = 128}),
       PacketKind::ip, DropReason::count, common::kProtoIcmpv6, 128, 0},
      {"gre_has_no_ports", build_packet({.proto = 47}), PacketKind::ip, DropReason::count, 47, 0, 0},
      {"vlan", build_packet({.proto = common::kProtoUdp, .sport = 1, .dport = 2, .vlans = {5}}), PacketKind::ip, DropReason::count,
       common::kProtoUdp, 1, 2},
      {"qinq", build_packet({.proto = common::kProtoUdp, .sport = 1, .dport = 2, .vlans = {5, 6}}), PacketKind::ip,
       DropReason::count, common::kProtoUdp, 1, 2},
      {"ipv4_options", build_packet({.proto = common::kProtoUdp, .sport = 1, .dport = 2, .ipv4_options_len = 12}), PacketKind::ip,
       DropReason::count, common::kProtoUdp, 1, 2},
      {"ipv6_ext_chain", build_packet({.src = "fd00::1", .dst = "fd00::2", .proto = common::kProtoTcp, .sport = 1, .dport = 2,
                                       .ipv6_ext = {{0, 8}, {43, 24}, {51, 12}, {60, 8}}}),
       PacketKind::ip, DropReason::count, common::kProtoTcp, 1, 2},
      {"ipv4_first_fragment", build_packet({.proto = common::kProtoUdp, .sport = 1, .dport = 2, .more_fragments = true}),
       PacketKind::ip, DropReason::count, common::kProtoUdp, 1, 2, true, true},
      {"ipv4_later_fragment", build_packet({.proto = common::kProtoUdp, .sport = 1, .dport = 2, .fragment_offset = 64}),
       PacketKind::ip, DropReason::count, common::kProtoUdp, 0, 0, true, false},
      {"ipv6_later_fragment", build_packet({.src = "fd00::1", .dst = "fd00::2", .proto = common::kProtoUdp, .sport = 1, .dport = 2,
                                            .ipv6_ext = {{44, 8}}, .fragment_offset = 64}),
       PacketKind::ip, DropReason::count, common::kProtoUdp, 0, 0, true, false},
      {"ipv6_atomic_fragment_is_whole", build_packet({.src = "fd00::1", .dst = "fd00::2", .proto = common::kProtoUdp, .sport = 1,
                                                     .dport = 2, .ipv6_ext = {{44, 8}}}),
       PacketKind::ip, DropReason::count, common::kProtoUdp, 1, 2, false, false},
      {"arp_is_non_ip", test::arp_request("10.0.0.1", "10.0.0.2"), PacketKind::non_ip},
      {"runt_frame", test::truncated(kUdp4, 13), PacketKind::drop, DropReason::truncated_l2},
      {"three_vlan_tags", build_packet({.vlans = {1, 2}}) /* patched below */, PacketKind::drop,
       DropReason::vlan_too_deep},
      {"truncated_ipv4", test::truncated(kUdp4, 14 + 19), PacketKind::drop, DropReason::truncated_ipv4},
      {"ipv4_bad_version", with(kUdp4, 14, 0x75), PacketKind::drop, DropReason::bad_ipv4_version},
      {"ipv4_ihl_below_5", with(kUdp4, 14, 0x44), PacketKind::drop, DropReason::bad_ipv4_ihl},
      {"ipv4_ihl_past_frame", with(kUdp4, 14, 0x4f), PacketKind::drop, DropReason::bad_ipv4_ihl},
      {"ipv4_total_length_past_frame", with(kUdp4, 16, 0x09), PacketKind::drop, DropReason::bad_ipv4_total_length},
      {"ipv4_total_length_below_header", with(with(kUdp4, 16, 0), 17, 10), PacketKind::drop,
       DropReason::bad_ipv4_total_length},
      {"truncated_ipv6", test::truncated(kTcp6, 14 + 39), PacketKind::drop, DropReason::truncated_ipv6},
      {"ipv6_bad_version", with(kTcp6, 14, 0x40), PacketKind::drop, DropReason::bad_ipv6_version},
      {"ipv6_payload_past_frame", with(kTcp6, 18, 0x7f), PacketKind::drop, DropReason::bad_ipv6_payload_length},
      {"ipv6_ext_header_past_packet",
       with(build_packet({.src = "fd00::1", .dst = "fd00::2", .proto = common::kProtoUdp, .ipv6_ext = {{60, 8}}}), 14 + 40 + 1, 200),
       PacketKind::drop, DropReason::bad_ipv6_ext_header},
      {"ipv6_ext_chain_too_long",
       build_packet({.src = "fd00::1", .dst = "fd00::2", .proto = common::kProtoUdp,
                     .ipv6_ext = {{60, 8}, {60, 8}, {60, 8}, {60, 8}, {60, 8}, {60, 8}, {60, 8}, {60, 8}, {60, 8}}}),
       PacketKind::drop, DropReason::ipv6_ext_chain_too_long},
      {"udp_header_cut", with(with(kUdp4, 16, 0), 17, 20 + 4), PacketKind::drop, DropReason::truncated_l4},
      {"tcp_offset_below_5", with(kTcp6, 14 + 40 + 12, 0x40), PacketKind::drop, DropReason::bad_tcp_offset},
      {"tcp_offset_past_packet", with(kTcp6, 14 + 40 + 12, 0xf0), PacketKind::drop, DropReason::bad_tcp_offset},
      {"tiny_first_fragment",
       with(with(build_packet({.proto = common::kProtoTcp, .more_fragments = true}), 16, 0), 17, 20 + 8), PacketKind::drop,
       DropReason::bad_fragment},
  };
}

class Parse : public ::testing::TestWithParam<ParseCase> {};

TEST_P(Parse, Case) {
  ParseCase c = GetParam();
  if (std::string(c.name) == "three_vlan_tags") {
    // Insert a third tag after the two the builder wrote.
    c.frame.insert(c.frame.begin() + 20, {0x81, 0x00, 0x00, 0x03});
  }
  std::vector<uint8_t> exact(c.frame.begin(), c.frame.end());
  PacketMeta m;
  parse_packet(exact.data(), static_cast<uint32_t>(exact.size()), m);
  ASSERT_EQ(m.kind, c.kind) << (m.kind == PacketKind::drop ? drop_reason_name(m.drop_reason) : "");
  if (c.kind == PacketKind::drop) {
    EXPECT_STREQ(drop_reason_name(m.drop_reason), drop_reason_name(c.reason));
    return;
  }
  if (c.kind != PacketKind::ip) return;
  EXPECT_EQ(m.tuple.proto, c.proto);
  EXPECT_EQ(m.tuple.sport, c.sport);
  EXPECT_EQ(m.tuple.dport, c.dport);
  EXPECT_EQ(m.is_fragment, c.fragment);
  EXPECT_EQ(m.first_fragment, c.first_fragment);
}

INSTANTIATE_TEST_SUITE_P(Frames, Parse, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Parse, AddressesAndVlanCount) {
  PacketMeta m;
  Frame f = build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .vlans = {1, 2}});
  parse_packet(f.data(), static_cast<uint32_t>(f.size()), m);
  EXPECT_EQ(m.vlan_count, 2);
  EXPECT_EQ(m.tuple.family, 4);
  const uint8_t src[16] = {10, 0, 1, 5};
  EXPECT_EQ(0, std::memcmp(m.tuple.src, src, 16)) << "unused address bytes are zero";
  EXPECT_EQ(m.l3_offset, 22);
}

TEST(Parse, IcmpErrorsCarryTheQuotedTuple) {
  const Frame inner4 = build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000,
                                     .dport = 5432});
  const Frame err4 = build_packet({.src = "10.0.2.1", .dst = "10.0.1.5", .proto = common::kProtoIcmp, .icmp_type = 3,
                                   .quote = &inner4});
  PacketMeta m;
  parse_packet(err4.data(), static_cast<uint32_t>(err4.size()), m);
  ASSERT_TRUE(m.has_inner);
  EXPECT_EQ(m.inner.proto, common::kProtoTcp);
  EXPECT_EQ(m.inner.sport, 41000);
  EXPECT_EQ(m.inner.dport, 5432);
  EXPECT_EQ(m.inner.src[3], 5);

  const Frame inner6 = build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoUdp, .sport = 1,
                                     .dport = 53});
  const Frame err6 = build_packet({.src = "fd00:2::1", .dst = "fd00:1::5", .proto = common::kProtoIcmpv6, .icmp_type = 1,
                                   .quote = &inner6});
  parse_packet(err6.data(), static_cast<uint32_t>(err6.size()), m);
  ASSERT_TRUE(m.has_inner);
  EXPECT_EQ(m.inner.family, 6);
  EXPECT_EQ(m.inner.dport, 53);

  // An echo request is not an error: nothing quoted.
  const Frame echo = build_packet({.proto = common::kProtoIcmp, .icmp_type = 8});
  parse_packet(echo.data(), static_cast<uint32_t>(echo.size()), m);
  EXPECT_FALSE(m.has_inner);
}

void check_sane(const PacketMeta& m, size_t len) {
  ASSERT_TRUE(m.kind == PacketKind::ip || m.kind == PacketKind::non_ip || m.kind == PacketKind::drop);
  if (m.kind == PacketKind::drop) {
    ASSERT_LT(static_cast<unsigned>(m.drop_reason), kDropReasonCount);
    return;
  }
  EXPECT_LE(m.l3_offset, len);
  EXPECT_LE(m.l4_offset, len);
}

// Parses buf[0..len) as a frame, and from byte 14 on as an IPv4 packet with
// no link-layer header, each both ways: the fast reading of the common
// packet must be the general parser's.
PacketMeta parse_both_ways(const uint8_t* buf, size_t len) {
  PacketMeta m{}, general{};
  parse_packet(buf, static_cast<uint32_t>(len), m);
  parse_any_packet(buf, static_cast<uint32_t>(len), general);
  EXPECT_TRUE(m == general) << "frame of " << len << " bytes";
  if (len >= 14) {
    PacketMeta ip{}, ip_general{};
    parse_ip_packet(buf + 14, static_cast<uint32_t>(len - 14), wire::kEthIpv4, ip);
    parse_any_ip_packet(buf + 14, static_cast<uint32_t>(len - 14), wire::kEthIpv4, ip_general);
    EXPECT_TRUE(ip == ip_general) << "IP packet of " << len - 14 << " bytes";
  }
  return m;
}

// Every prefix of valid frames parses without reading past its end (the
// buffer is exactly sized on the heap, so ASan and valgrind see overreads).
TEST(Parse, EveryTruncationIsSafe) {
  std::vector<Frame> frames = {kUdp4, kTcp4, kTcp6};
  for (const auto& c : cases()) frames.push_back(c.frame);
  for (const auto& f : frames) {
    for (size_t len = 0; len <= f.size(); ++len) {
      auto buf = std::make_unique<uint8_t[]>(len ? len : 1);
      std::memcpy(buf.get(), f.data(), len);
      check_sane(parse_both_ways(buf.get(), len), len);
    }
  }
}

TEST(Parse, RandomMutationsAreSafe) {
  std::mt19937 rng(20261124);
  std::vector<Frame> seeds;
  for (const auto& c : cases()) seeds.push_back(c.frame);
  for (int i = 0; i < 200000; ++i) {
    Frame f = seeds[rng() % seeds.size()];
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < flips; ++k) f[rng() % f.size()] = static_cast<uint8_t>(rng());
    const size_t len = rng() % 4 == 0 ? rng() % (f.size() + 1) : f.size();
    auto buf = std::make_unique<uint8_t[]>(len ? len : 1);
    std::memcpy(buf.get(), f.data(), len);
    check_sane(parse_both_ways(buf.get(), len), len);
  }
}

}  // namespace
}  // namespace bulkhead::dataplane
