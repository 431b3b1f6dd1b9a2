// The QUIC Initial reader: the sample packets of RFC 9001 and RFC 9369
// (appendix A of each: keys, header protection, the client's Initial), a
// real client's first datagram (ngtcp2), then Initials made by the test
// builder: CRYPTO frames out of order and
// across packets and datagrams, coalesced packets, and every way a datagram
// is refused (another version, not an Initial, too small, cut short, a bad
// tag, a frame an Initial may not carry).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <random>
#include <string>

#include "dataplane/names/quic.h"
#include "tests/common/hello_builder.h"

namespace bulkhead::dataplane::names {
namespace {

using test::Bytes;
using test::build_client_hello;
using test::crypto_frame;
using test::hex_bytes;
using test::InitialSpec;
using test::protect_initial;

// RFC 9001 A.2: the client's Initial, 1200 bytes, DCID 8394c8f03e515708.
const char* const kRfc9001ClientInitial =
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
    "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
    "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
    "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
    "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
    "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
    "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
    "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
    "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
    "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
    "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
    "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
    "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
    "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
    "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
    "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
    "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
    "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
    "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
    "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
    "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
    "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
    "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
    "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
    "e221af44860018ab0856972e194cd934";

// RFC 9369 A.2: the same Initial under QUIC version 2.
const char* const kRfc9369ClientInitial =
    "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485"
    "dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04"
    "9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d"
    "250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a"
    "12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500"
    "cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68"
    "18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33"
    "12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3"
    "d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd"
    "6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520"
    "bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045"
    "636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f"
    "ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12"
    "16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5"
    "4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4"
    "fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b"
    "8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7"
    "14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9"
    "9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91"
    "abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd"
    "80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db"
    "848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18"
    "d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15"
    "c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc"
    "7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61"
    "f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710"
    "10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b"
    "3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e"
    "06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce"
    "8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1"
    "34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1"
    "e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd"
    "5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3"
    "8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89"
    "d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53"
    "6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19"
    "9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b"
    "a18b2faa745b6fe189cf772a9f84cbfc";

const Bytes kRfcDcid = hex_bytes("8394c8f03e515708");

class Quic : public ::testing::Test {
 protected:
  std::unique_ptr<QuicInitialReader> reader_ = std::make_unique<QuicInitialReader>();
  std::unique_ptr<QuicHelloAssembler> conn_ = std::make_unique<QuicHelloAssembler>();

  QuicRead read(const Bytes& d) { return reader_->read(d.data(), d.size(), *conn_); }
  std::string hex(const uint8_t* p, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) {
      s += digits[p[i] >> 4];
      s += digits[p[i] & 15];
    }
    return s;
  }
};

// Appendix A.1 of RFC 9001 and of RFC 9369: the keys of both sides for
// the sample connection id, and A.2's header protection mask.
struct KeyVector {
  uint32_t version;
  const char* client[3];  // key, iv, hp
  const char* server[3];
  const char* sample;
  const char* mask;
};

const KeyVector kKeyVectors[] = {
    {kQuicV1,
     {"1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
     {"cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e", "c206b8d9b9f0f37644430b490eeaa314"},
     "d1b1c98dd7689fb8ec11d242b123dc9b", "437b9aec36"},
    {kQuicV2,
     {"8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"},
     {"82db637861d55e1d011f19ea71d5d2a7", "dd13c276499c0249d3310652", "edf6d05c83121201b436e16877593c3a"},
     "ffe67b6abcdb4298b485dd04de806071", "94a0c95e80"},
};

TEST_F(Quic, RfcKeys) {
  ASSERT_TRUE(reader_->ok());
  for (const KeyVector& v : kKeyVectors) {
    for (bool server : {false, true}) {
      QuicInitialKeys k;
      ASSERT_TRUE(reader_->derive_keys(v.version, kRfcDcid.data(), kRfcDcid.size(), server, k));
      const char* const* want = server ? v.server : v.client;
      EXPECT_EQ(hex(k.key, 16), want[0]) << v.version << server;
      EXPECT_EQ(hex(k.iv, 12), want[1]) << v.version << server;
      EXPECT_EQ(hex(k.hp, 16), want[2]) << v.version << server;
      if (server) continue;
      uint8_t mask[16];
      ASSERT_TRUE(reader_->header_mask(k.hp, hex_bytes(v.sample).data(), mask));
      EXPECT_EQ(hex(mask, 5), v.mask) << v.version;
    }
  }
  QuicInitialKeys k;
  EXPECT_FALSE(reader_->derive_keys(0xff00001d, kRfcDcid.data(), kRfcDcid.size(), false, k));
}

TEST_F(Quic, Rfc9001ClientInitial) {
  const Bytes d = hex_bytes(kRfc9001ClientInitial);
  ASSERT_EQ(d.size(), 1200u);
  const QuicRead r = read(d);
  EXPECT_EQ(r.status, HelloStatus::complete) << hello_reason_name(r.reason);
  EXPECT_EQ(r.version, kQuicV1);
  EXPECT_EQ(r.initials, 1);
  EXPECT_EQ(conn_->hello().sni(), "example.com");
  EXPECT_EQ(conn_->hello().supported_version, 0x0304);
  EXPECT_FALSE(conn_->hello().ech);
}

TEST_F(Quic, Rfc9369ClientInitial) {
  const QuicRead r = read(hex_bytes(kRfc9369ClientInitial));
  EXPECT_EQ(r.status, HelloStatus::complete) << hello_reason_name(r.reason);
  EXPECT_EQ(r.version, kQuicV2);
  EXPECT_EQ(conn_->hello().sni(), "example.com");
}

TEST_F(Quic, BuiltInitialsOfBothVersions) {
  const Bytes hello = build_client_hello({.sni = "quic.example", .ech = true});
  for (uint32_t v : {kQuicV1, kQuicV2}) {
    conn_->reset();
    const QuicRead r = read(protect_initial({.version = v, .frames = crypto_frame(hello)}));
    EXPECT_EQ(r.status, HelloStatus::complete) << v;
    EXPECT_EQ(conn_->hello().sni(), "quic.example");
    EXPECT_TRUE(conn_->hello().ech);
  }
}

TEST_F(Quic, CryptoFramesOutOfOrderAcrossDatagrams) {
  const Bytes hello = build_client_hello({.sni = "split.example", .padding = 2500});
  const size_t a = 700, b = 1500;
  // Three Initials, the middle part first, then the end, then the start.
  EXPECT_EQ(read(protect_initial({.packet_number = 1, .frames = crypto_frame(hello, a, b - a)})).status,
            HelloStatus::need_more);
  EXPECT_EQ(read(protect_initial({.packet_number = 2, .frames = crypto_frame(hello, b)})).status,
            HelloStatus::need_more);
  const QuicRead r = read(protect_initial({.packet_number = 0, .frames = crypto_frame(hello, 0, a)}));
  EXPECT_EQ(r.status, HelloStatus::complete);
  EXPECT_EQ(conn_->hello().sni(), "split.example");
  // Later datagrams of a decided connection are not decrypted.
  EXPECT_EQ(read(protect_initial({.packet_number = 3, .frames = {0x01}})).initials, 0);
}

TEST_F(Quic, FramesInOnePacketInAnyOrder) {
  const Bytes hello = build_client_hello({.sni = "frames.example"});
  Bytes frames = {0x01, 0x00, 0x00};                      // PING, PADDING
  frames.insert(frames.end(), {0x02, 0x05, 0x00, 0x01, 0x00, 0x01, 0x00});  // ACK, one more range
  frames.insert(frames.end(), {0x03, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03});  // ACK with ECN counts
  const Bytes tail = crypto_frame(hello, 100);
  const Bytes head = crypto_frame(hello, 0, 100);
  frames.insert(frames.end(), tail.begin(), tail.end());
  frames.insert(frames.end(), {0x1c, 0x00, 0x00, 0x02, 'o', 'k'});  // CONNECTION_CLOSE
  frames.insert(frames.end(), head.begin(), head.end());
  frames.insert(frames.end(), head.begin(), head.end());  // a duplicate
  EXPECT_EQ(read(protect_initial({.frames = frames})).status, HelloStatus::complete);
  EXPECT_EQ(conn_->hello().sni(), "frames.example");
}

TEST_F(Quic, CoalescedPackets) {
  const Bytes hello = build_client_hello({.sni = "coalesced.example", .padding = 1500});
  Bytes d = protect_initial({.packet_number = 0, .frames = crypto_frame(hello, 0, 1000), .pad_to = 0});
  const Bytes second = protect_initial({.packet_number = 1, .frames = crypto_frame(hello, 1000), .pad_to = 0});
  const Bytes zero_rtt = protect_initial({.packet_number = 0, .frames = {0x01}, .pad_to = 0, .zero_rtt = true});
  d.insert(d.end(), zero_rtt.begin(), zero_rtt.end());
  d.insert(d.end(), second.begin(), second.end());
  d.resize(std::max<size_t>(d.size(), 1200), 0);  // padded with zeros after the packets
  const QuicRead r = read(d);
  EXPECT_EQ(r.status, HelloStatus::complete) << hello_reason_name(r.reason);
  EXPECT_EQ(r.initials, 2);
  EXPECT_EQ(conn_->hello().sni(), "coalesced.example");
}

TEST_F(Quic, CoalescedPacketOfAnotherConnectionIsIgnored) {
  const Bytes hello = build_client_hello({});
  Bytes d = protect_initial({.frames = crypto_frame(hello, 0, 50), .pad_to = 0});
  const Bytes other =
      protect_initial({.dcid = {1, 2, 3, 4, 5, 6, 7, 8}, .frames = crypto_frame(hello, 50), .pad_to = 1200});
  d.insert(d.end(), other.begin(), other.end());
  const QuicRead r = read(d);
  EXPECT_EQ(r.status, HelloStatus::need_more);
  EXPECT_EQ(r.initials, 1);
}

TEST_F(Quic, NewDestinationConnectionIdAfterRetry) {
  const Bytes hello = build_client_hello({.sni = "retry.example"});
  EXPECT_EQ(read(protect_initial({.frames = crypto_frame(hello, 0, 100)})).status, HelloStatus::need_more);
  const QuicRead r = read(protect_initial({.dcid = {9, 9, 9, 9}, .packet_number = 1, .frames = crypto_frame(hello)}));
  EXPECT_EQ(r.status, HelloStatus::complete);
  EXPECT_EQ(conn_->hello().sni(), "retry.example");
  // An empty Destination Connection ID has keys too.
  conn_->reset();
  EXPECT_EQ(read(protect_initial({.dcid = {}, .frames = crypto_frame(hello)})).status, HelloStatus::complete);
}

TEST_F(Quic, RefusedDatagramsLeaveTheConnectionAlone) {
  const Bytes hello = build_client_hello({});
  const Bytes good = protect_initial({.frames = crypto_frame(hello)});
  struct Case {
    const char* name;
    Bytes datagram;
    HelloStatus status;
    HelloReason reason;
  };
  Bytes bad_tag = good;
  bad_tag[good.size() - 1] ^= 1;
  Bytes bad_ciphertext = good;
  bad_ciphertext[200] ^= 0x80;
  Bytes unknown = good;
  unknown[4] = 0x1d;  // 0x0000001d: an old draft
  Bytes negotiation = good;
  std::fill(negotiation.begin() + 1, negotiation.begin() + 5, 0);
  Bytes short_header = good;
  short_header[0] = 0x40;
  Bytes fixed_bit = good;
  fixed_bit[0] &= 0xbf;
  Bytes long_cid = good;
  long_cid[5] = 21;
  Bytes past_datagram = good;
  past_datagram[1 + 4 + 1 + 8 + 1 + 1] = 0x7f;  // Length 0x3fff..
  const Case cases[] = {
      {"a bad tag", bad_tag, HelloStatus::malformed, HelloReason::quic_bad_tag},
      {"changed ciphertext", bad_ciphertext, HelloStatus::malformed, HelloReason::quic_bad_tag},
      {"an unknown version", unknown, HelloStatus::not_tls, HelloReason::quic_unknown_version},
      {"version negotiation", negotiation, HelloStatus::not_tls, HelloReason::quic_unknown_version},
      {"a short header", short_header, HelloStatus::not_tls, HelloReason::quic_short_header},
      {"no fixed bit", fixed_bit, HelloStatus::not_tls, HelloReason::quic_fixed_bit},
      {"a 0-RTT packet first", protect_initial({.frames = {1}, .zero_rtt = true}), HelloStatus::not_tls,
       HelloReason::quic_not_initial},
      {"a datagram under 1200 bytes", protect_initial({.frames = crypto_frame(hello), .pad_to = 600}),
       HelloStatus::not_tls, HelloReason::quic_datagram_too_small},
      {"a connection id of 21 bytes", long_cid, HelloStatus::malformed, HelloReason::quic_bad_cid},
      {"a Length past the datagram", past_datagram, HelloStatus::malformed, HelloReason::quic_truncated},
      {"empty", {}, HelloStatus::not_tls, HelloReason::quic_short_header},
      {"a header cut short", Bytes(good.begin(), good.begin() + 12), HelloStatus::malformed,
       HelloReason::quic_truncated},
  };
  for (const Case& c : cases) {
    const QuicRead r = read(c.datagram);
    EXPECT_EQ(r.status, c.status) << c.name;
    EXPECT_EQ(r.reason, c.reason) << c.name << ": " << hello_reason_name(r.reason);
    EXPECT_EQ(conn_->hello().status, HelloStatus::need_more) << c.name;
  }
  EXPECT_EQ(read(good).status, HelloStatus::complete);
}

TEST_F(Quic, BrokenFramesDecideTheConnection) {
  const Bytes hello = build_client_hello({});
  struct Case {
    const char* name;
    Bytes frames;
    HelloStatus status;
    HelloReason reason;
  };
  const Bytes crypto_end = {0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0xaa, 0xbb};  // 2^62 - 1, 2
  const Case cases[] = {
      {"a STREAM frame", {0x08, 0x00, 0x01}, HelloStatus::malformed, HelloReason::quic_bad_frame},
      {"a CRYPTO frame past the packet", {0x06, 0x00, 0x7f, 0xff, 0x01}, HelloStatus::malformed,
       HelloReason::quic_bad_frame},
      {"an ACK with more ranges than the packet holds", {0x02, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
       HelloStatus::malformed, HelloReason::quic_bad_frame},
      {"a CRYPTO frame past 2^62", crypto_end, HelloStatus::malformed, HelloReason::quic_bad_crypto_frame},
      {"a ServerHello", crypto_frame(Bytes{2, 0, 0, 0}), HelloStatus::malformed, HelloReason::not_client_hello},
      {"a ClientHello longer than 16 KiB", crypto_frame(build_client_hello({.padding = 17000}), 0, 900),
       HelloStatus::too_large, HelloReason::hello_too_large},
  };
  for (const Case& c : cases) {
    conn_->reset();
    const QuicRead r = read(protect_initial({.frames = c.frames}));
    EXPECT_EQ(r.status, c.status) << c.name;
    EXPECT_EQ(r.reason, c.reason) << c.name << ": " << hello_reason_name(r.reason);
    EXPECT_EQ(conn_->hello().status, c.status) << c.name;
    EXPECT_FALSE(conn_->hello().has_sni) << c.name;
  }
  // CRYPTO data far past the capacity is not kept and does no harm.
  conn_->reset();
  Bytes far = {0x06, 0x80, 0x10, 0x00, 0x00, 0x02, 0xaa, 0xbb};  // offset 1 MiB
  const Bytes all = crypto_frame(hello);
  far.insert(far.end(), all.begin(), all.end());
  EXPECT_EQ(read(protect_initial({.frames = far})).status, HelloStatus::complete);
}

TEST_F(Quic, MutatedDatagramsEndCleanly) {
  const Bytes good = hex_bytes(kRfc9001ClientInitial);
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    Bytes d = good;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) d[rng() % 64] = static_cast<uint8_t>(rng());
    if (rng() % 2) d.resize(rng() % (d.size() + 1));
    conn_->reset();
    const QuicRead r = read(d);
    ASSERT_LT(static_cast<unsigned>(r.reason), kHelloReasonCount);
    if (r.status == HelloStatus::complete) {
      ASSERT_EQ(conn_->hello().sni(), "example.com");
    }
  }
}

// The first datagram a real QUIC client sends: ngtcp2's example client
// (Debian's ngtcp2-client, over GnuTLS) to a UDP socket of the test's own
// that never answers; the client is stopped once it has sent.
Bytes ngtcp2_first_datagram() {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return {};
  const std::string port = std::to_string(ntohs(a.sin_port));
  // The name is given both ways (host and --sni) so that the client's
  // choice between them does not matter; it sends "localhost" for an
  // address either way.
  const char* argv[] = {"gtlsclient", "-q", "--handshake-timeout=5s", "--sni=localhost", "127.0.0.1",
                        port.c_str(), nullptr};
  posix_spawn_file_actions_t io;
  posix_spawn_file_actions_init(&io);
  posix_spawn_file_actions_addopen(&io, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&io, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&io, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  Bytes got;
  if (posix_spawnp(&pid, "gtlsclient", &io, nullptr, const_cast<char* const*>(argv), environ) == 0) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) == 1) {
      got.resize(65535);
      const ssize_t n = recv(fd, got.data(), got.size(), 0);
      got.resize(n > 0 ? static_cast<size_t>(n) : 0);
    }
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  posix_spawn_file_actions_destroy(&io);
  close(fd);
  return got;
}

TEST_F(Quic, RealClientInitialFromNgtcp2) {
  if (system("command -v gtlsclient >/dev/null 2>&1") != 0) GTEST_SKIP() << "no gtlsclient (ngtcp2-client)";
  const Bytes d = ngtcp2_first_datagram();
  ASSERT_GE(d.size(), kQuicMinInitialDatagram);
  const QuicRead r = read(d);
  EXPECT_EQ(r.status, HelloStatus::complete) << hello_reason_name(r.reason);
  EXPECT_EQ(r.version, kQuicV1);
  EXPECT_EQ(conn_->hello().sni(), "localhost");
  EXPECT_EQ(conn_->hello().supported_version, 0x0304);
}

}  // namespace
}  // namespace bulkhead::dataplane::names
