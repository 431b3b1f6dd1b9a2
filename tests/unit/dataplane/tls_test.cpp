// The ClientHello reader: ClientHellos made by the test builder (with and
// without a name, with ECH, broken in each length field), fed as one message
// or as a TCP stream in records and segments of every shape (1-byte
// segments, many records, out of order, duplicated, with gaps, too large);
// and one real ClientHello, sent by `openssl s_client`.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "dataplane/names/tls.h"
#include "tests/common/hello_builder.h"

namespace bulkhead::dataplane::names {
namespace {

using test::build_client_hello;
using test::Bytes;
using test::HelloSpec;
using test::tls_records;

ClientHello parse(const Bytes& msg) {
  ClientHello h;
  parse_client_hello(msg.data(), msg.size(), h);
  return h;
}

// A fresh assembler for each use: it is 18 KiB, too big for the stack of
// every test.
std::unique_ptr<ClientHelloAssembler> assembler() { return std::make_unique<ClientHelloAssembler>(); }

ClientHello feed_whole(const Bytes& stream) {
  auto a = assembler();
  a->feed(0, stream.data(), stream.size());
  return a->hello();
}

TEST(Tls, ReadsTheServerName) {
  const ClientHello h = parse(build_client_hello({}));
  EXPECT_EQ(h.status, HelloStatus::complete);
  EXPECT_EQ(h.reason, HelloReason::ok);
  EXPECT_TRUE(h.has_sni);
  EXPECT_EQ(h.sni(), "example.com");
  EXPECT_FALSE(h.ech);
  EXPECT_EQ(h.legacy_version, 0x0303);
  EXPECT_EQ(h.supported_version, 0x0304);
}

TEST(Tls, NamesAreLowerCasedWithoutTheTrailingDot) {
  EXPECT_EQ(parse(build_client_hello({.sni = "API.Example.COM."})).sni(), "api.example.com");
  EXPECT_EQ(parse(build_client_hello({.sni = "_dmarc.x-1.example"})).sni(), "_dmarc.x-1.example");
  const std::string longest = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                              std::string(61, 'd');  // 253 bytes
  EXPECT_EQ(parse(build_client_hello({.sni = longest + "."})).sni(), longest);
}

TEST(Tls, NoServerName) {
  const ClientHello h = parse(build_client_hello({.sni = std::nullopt}));
  EXPECT_EQ(h.status, HelloStatus::complete);
  EXPECT_FALSE(h.has_sni);
  EXPECT_EQ(h.sni(), "");
  const ClientHello old = parse(build_client_hello({.no_extensions = true}));
  EXPECT_EQ(old.status, HelloStatus::complete);
  EXPECT_FALSE(old.has_sni);
  EXPECT_EQ(old.supported_version, 0);
}

TEST(Tls, EncryptedClientHelloReportsTheOuterName) {
  const ClientHello h = parse(build_client_hello({.sni = "public.example.net", .ech = true}));
  EXPECT_EQ(h.status, HelloStatus::complete);
  EXPECT_TRUE(h.ech);
  EXPECT_EQ(h.sni(), "public.example.net");
}

TEST(Tls, GreaseVersionsAreNotTheHighest) {
  EXPECT_EQ(parse(build_client_hello({.versions = {0x7a7a, 0x0303}})).supported_version, 0x0303);
}

struct BadCase {
  const char* name;
  HelloSpec spec;
  HelloReason reason;
};

TEST(Tls, RefusesNamesThatAreNotDnsNames) {
  const BadCase cases[] = {
      {"a space", {.sni = "exa mple.com"}, HelloReason::bad_host_name},
      {"a wildcard", {.sni = "*.example.com"}, HelloReason::bad_host_name},
      {"an empty label", {.sni = "a..example.com"}, HelloReason::bad_host_name},
      {"a leading dot", {.sni = ".example.com"}, HelloReason::bad_host_name},
      {"only a dot", {.sni = "."}, HelloReason::bad_host_name},
      {"empty", {.sni = ""}, HelloReason::bad_host_name},
      {"a label of 64", {.sni = std::string(64, 'a') + ".com"}, HelloReason::bad_host_name},
      {"254 bytes", {.sni = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                            std::string(62, 'd')},
       HelloReason::bad_host_name},
      {"UTF-8", {.sni = "b\xc3\xbc" "cher.example"}, HelloReason::bad_host_name},
      {"a NUL", {.sni = std::string("evil.com\0.example.com", 21)}, HelloReason::bad_host_name},
      {"two server_name extensions", {.extra = {{0x0000, {0, 6, 0, 0, 3, 'a', '.', 'b'}}}},
       HelloReason::duplicate_extension},
      {"two ECH extensions", {.ech = true, .extra = {{0xfe0d, {1}}}}, HelloReason::duplicate_extension},
      {"two supported_versions", {.extra = {{0x002b, {2, 3, 4}}}}, HelloReason::duplicate_extension},
      {"odd supported_versions", {.versions = {}, .extra = {{0x002b, {3, 3, 4, 0}}}},
       HelloReason::bad_supported_versions},
      {"empty supported_versions", {.versions = {}, .extra = {{0x002b, {}}}}, HelloReason::bad_supported_versions},
  };
  for (const BadCase& c : cases) {
    const ClientHello h = parse(build_client_hello(c.spec));
    EXPECT_EQ(h.status, HelloStatus::malformed) << c.name;
    EXPECT_EQ(h.reason, c.reason) << c.name << ": " << hello_reason_name(h.reason);
    EXPECT_FALSE(h.has_sni) << c.name;
    EXPECT_FALSE(h.ech) << c.name;
  }
}

TEST(Tls, ServerNameListIsOneHostName) {
  struct ListCase {
    const char* name;
    Bytes data;
  };
  const ListCase cases[] = {
      {"empty extension", {}},
      {"empty list", {0, 0}},
      {"list longer than the extension", {0, 9, 0, 0, 3, 'a', '.', 'b'}},
      {"name past the list", {0, 6, 0, 0, 4, 'a', '.', 'b'}},
      {"two host names", {0, 12, 0, 0, 3, 'a', '.', 'b', 0, 0, 3, 'c', '.', 'd'}},
      {"an unknown name type", {0, 6, 1, 0, 3, 'a', '.', 'b'}},
  };
  for (const ListCase& c : cases) {
    const ClientHello h = parse(build_client_hello({.sni = std::nullopt, .extra = {{0x0000, c.data}}}));
    EXPECT_EQ(h.status, HelloStatus::malformed) << c.name;
    EXPECT_EQ(h.reason, HelloReason::bad_server_name) << c.name << ": " << hello_reason_name(h.reason);
  }
}

// Offsets into the builder's message: type(1) length(3) version(2)
// random(32) session id length(1) session id(32) suites length(2) ...
constexpr size_t kSidLen = 4 + 2 + 32;
constexpr size_t kSuitesLen = kSidLen + 1 + 32;
constexpr size_t kMethodsLen = kSuitesLen + 2 + 8;
constexpr size_t kExtLen = kMethodsLen + 2;

Bytes with(Bytes b, size_t at, std::initializer_list<uint8_t> v) {
  std::copy(v.begin(), v.end(), b.begin() + static_cast<long>(at));
  return b;
}

// The first n bytes of a message, its length saying so.
Bytes cut(Bytes b, size_t n) {
  b.resize(n);
  return with(b, 1, {0, static_cast<uint8_t>((n - 4) >> 8), static_cast<uint8_t>(n - 4)});
}

TEST(Tls, EveryLengthFieldIsChecked) {
  const Bytes good = build_client_hello({});
  Bytes trailing = good;
  trailing.push_back(0);
  trailing[3] = static_cast<uint8_t>(trailing[3] + 1);  // the body's length covers the extra byte
  struct LengthCase {
    const char* name;
    Bytes msg;
    HelloReason reason;
  };
  const LengthCase cases[] = {
      {"session id of 33", with(good, kSidLen, {33}), HelloReason::bad_session_id},
      {"session id past the message", cut(good, kSidLen + 10), HelloReason::bad_session_id},
      {"no session id length", cut(good, kSidLen), HelloReason::bad_session_id},
      {"no cipher suites length", cut(good, kSuitesLen + 1), HelloReason::bad_cipher_suites},
      {"no compression length", cut(good, kMethodsLen), HelloReason::bad_compression},
      {"one byte of extensions length", cut(good, kExtLen + 1), HelloReason::bad_extensions},
      {"extension header cut", cut(good, kExtLen + 2 + 3), HelloReason::bad_extensions},
      {"odd cipher suites", with(good, kSuitesLen, {0, 7}), HelloReason::bad_cipher_suites},
      {"no cipher suites", with(good, kSuitesLen, {0, 0}), HelloReason::bad_cipher_suites},
      {"cipher suites past the message", with(good, kSuitesLen, {0xff, 0xfe}), HelloReason::bad_cipher_suites},
      {"no compression methods", with(good, kMethodsLen, {0}), HelloReason::bad_compression},
      {"compression past the message", with(good, kMethodsLen, {0xff}), HelloReason::bad_compression},
      {"extensions past the message", with(good, kExtLen, {0xff, 0xff}), HelloReason::bad_extensions},
      {"an extension past the block", with(good, kExtLen + 4, {0xff, 0xff}), HelloReason::bad_extensions},
      {"bytes after the extensions", trailing, HelloReason::trailing_bytes},
      {"shorter than version and random", cut(good, 4 + 33), HelloReason::hello_too_short},
      {"a ServerHello", with(good, 0, {2}), HelloReason::not_client_hello},
  };
  for (const LengthCase& c : cases) {
    const ClientHello h = parse(c.msg);
    EXPECT_EQ(h.status, HelloStatus::malformed) << c.name;
    EXPECT_EQ(h.reason, c.reason) << c.name << ": " << hello_reason_name(h.reason);
  }
}

TEST(Tls, EveryPrefixNeedsMore) {
  const Bytes good = build_client_hello({.ech = true});
  for (size_t n = 0; n < good.size(); ++n) {
    ClientHello h;
    parse_client_hello(good.data(), n, h);
    ASSERT_EQ(h.status, HelloStatus::need_more) << n;
    ASSERT_EQ(h.reason, HelloReason::truncated) << n;
  }
  const Bytes stream = tls_records(good, 77);
  for (size_t n = 0; n < stream.size(); ++n) {
    auto a = assembler();
    ASSERT_EQ(a->feed(0, stream.data(), n), HelloStatus::need_more) << n;
  }
}

TEST(Tls, OneRecordOneFeed) {
  const ClientHello h = feed_whole(tls_records(build_client_hello({})));
  EXPECT_EQ(h.status, HelloStatus::complete);
  EXPECT_EQ(h.sni(), "example.com");
}

TEST(Tls, OneByteSegments) {
  const Bytes stream = tls_records(build_client_hello({.sni = "one.byte.example"}));
  auto a = assembler();
  for (size_t i = 0; i + 1 < stream.size(); ++i) ASSERT_EQ(a->feed(i, &stream[i], 1), HelloStatus::need_more) << i;
  EXPECT_EQ(a->feed(stream.size() - 1, &stream.back(), 1), HelloStatus::complete);
  EXPECT_EQ(a->hello().sni(), "one.byte.example");
}

TEST(Tls, ManyRecordsInOneByteSegments) {
  for (size_t fragment : {1, 2, 5, 100}) {
    const Bytes stream = tls_records(build_client_hello({.sni = "records.example"}), fragment);
    auto a = assembler();
    for (size_t i = 0; i < stream.size(); ++i) a->feed(i, &stream[i], 1);
    EXPECT_EQ(a->hello().status, HelloStatus::complete) << fragment;
    EXPECT_EQ(a->hello().sni(), "records.example") << fragment;
  }
}

TEST(Tls, DataAfterTheClientHelloIsNotRead) {
  // The ClientHello's last record also carries the start of another
  // message, and an application-data record follows (early data).
  Bytes msg = build_client_hello({});
  msg.insert(msg.end(), {0x0f, 0, 0, 1});
  Bytes stream = tls_records(msg);
  stream.insert(stream.end(), {23, 3, 3, 0, 2, 0xaa, 0xbb});
  EXPECT_EQ(feed_whole(stream).status, HelloStatus::complete);
}

TEST(Tls, OutOfOrderAndGaps) {
  const Bytes stream = tls_records(build_client_hello({.sni = "gap.example"}), 60);
  const size_t cut1 = 10, cut2 = stream.size() / 2;
  auto a = assembler();
  EXPECT_EQ(a->feed(cut2, stream.data() + cut2, stream.size() - cut2), HelloStatus::need_more);
  EXPECT_EQ(a->feed(0, stream.data(), cut1), HelloStatus::need_more);
  EXPECT_EQ(a->feed(cut1, stream.data() + cut1, cut2 - cut1), HelloStatus::complete);
  EXPECT_EQ(a->hello().sni(), "gap.example");

  // Every byte in reverse order: complete with the first byte.
  auto r = assembler();
  for (size_t i = stream.size(); i-- > 1;) ASSERT_EQ(r->feed(i, &stream[i], 1), HelloStatus::need_more) << i;
  EXPECT_EQ(r->feed(0, stream.data(), 1), HelloStatus::complete);
  EXPECT_EQ(r->hello().sni(), "gap.example");

  // Segments of random sizes in a random order.
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::pair<size_t, size_t>> segs;
    for (size_t i = 0; i < stream.size();) {
      const size_t n = std::min<size_t>(1 + rng() % 40, stream.size() - i);
      segs.emplace_back(i, n);
      i += n;
    }
    std::shuffle(segs.begin(), segs.end(), rng);
    auto s = assembler();
    for (auto [off, n] : segs) s->feed(off, stream.data() + off, n);
    ASSERT_EQ(s->hello().status, HelloStatus::complete) << round;
    ASSERT_EQ(s->hello().sni(), "gap.example");
  }
}

TEST(Tls, DuplicateBytesKeepTheFirstCopy) {
  const Bytes stream = tls_records(build_client_hello({.sni = "first.example"}));
  Bytes other = tls_records(build_client_hello({.sni = "other.example"}));
  auto a = assembler();
  const size_t half = stream.size() / 2;
  a->feed(0, stream.data(), half);
  a->feed(0, other.data(), half);          // a retransmission that disagrees
  a->feed(half / 2, stream.data() + half / 2, half);  // overlapping both sides
  a->feed(half - 3, other.data() + half - 3, 3);
  EXPECT_EQ(a->hello().status, HelloStatus::need_more);
  a->feed(half, stream.data() + half, stream.size() - half);
  EXPECT_EQ(a->hello().status, HelloStatus::complete);
  EXPECT_EQ(a->hello().sni(), "first.example");
  // Decided: nothing changes it.
  auto b = assembler();
  b->feed(0, stream.data(), stream.size());
  b->reset();
  b->feed(0, other.data(), other.size());
  EXPECT_EQ(b->hello().sni(), "other.example");
  EXPECT_EQ(b->feed(0, stream.data(), stream.size()), HelloStatus::complete);
  EXPECT_EQ(b->hello().sni(), "other.example");
}

TEST(Tls, TooLarge) {
  // A handshake length past the capacity: decided as soon as it is read.
  const Bytes big = tls_records(build_client_hello({.padding = 17000}));
  auto a = assembler();
  EXPECT_EQ(a->feed(0, big.data(), 9), HelloStatus::too_large);
  EXPECT_EQ(a->hello().reason, HelloReason::hello_too_large);
  EXPECT_FALSE(a->hello().has_sni);
  // Fits by itself but not with a record header per byte: decided when the
  // buffer is full.
  const Bytes tiny_records = tls_records(build_client_hello({.padding = 3000}), 1);
  ASSERT_GT(tiny_records.size(), ClientHelloAssembler::kClientHelloCapacity);
  auto b = assembler();
  EXPECT_EQ(b->feed(0, tiny_records.data(), ClientHelloAssembler::kClientHelloCapacity - 1), HelloStatus::need_more);
  EXPECT_EQ(b->feed(0, tiny_records.data(), tiny_records.size()), HelloStatus::too_large);
  // A large one that fits is read.
  const ClientHello fits = feed_whole(tls_records(build_client_hello({.padding = 15000})));
  EXPECT_EQ(fits.status, HelloStatus::complete);
  // Bytes past the capacity are not kept, and wait for nothing.
  auto c = assembler();
  EXPECT_EQ(c->feed(1 << 20, big.data(), big.size()), HelloStatus::need_more);
}

TEST(Tls, NotTls) {
  const std::string http = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
  auto a = assembler();
  EXPECT_EQ(a->feed(0, reinterpret_cast<const uint8_t*>(http.data()), 1), HelloStatus::not_tls);
  EXPECT_EQ(a->hello().reason, HelloReason::not_handshake);
  const Bytes sslv2 = {0x80, 0x2e, 0x01, 0x03, 0x01};
  EXPECT_EQ(feed_whole(sslv2).status, HelloStatus::not_tls);
  Bytes v2 = tls_records(build_client_hello({}));
  v2[1] = 2;
  EXPECT_EQ(feed_whole(v2).reason, HelloReason::bad_record_version);
  EXPECT_EQ(feed_whole(v2).status, HelloStatus::not_tls);
}

TEST(Tls, RecordRules) {
  const Bytes msg = build_client_hello({});
  Bytes interleaved = tls_records(Bytes(msg.begin(), msg.begin() + 50));
  interleaved.insert(interleaved.end(), {21, 3, 3, 0, 2, 1, 0});  // an alert
  EXPECT_EQ(feed_whole(interleaved).reason, HelloReason::interleaved_record);
  EXPECT_EQ(feed_whole(interleaved).status, HelloStatus::malformed);
  EXPECT_EQ(feed_whole({22, 3, 1, 0, 0}).reason, HelloReason::empty_record);
  EXPECT_EQ(feed_whole({22, 3, 1, 0x40, 0x01}).reason, HelloReason::record_too_long);
  Bytes server_hello = tls_records(msg);
  server_hello[5] = 2;
  EXPECT_EQ(feed_whole(server_hello).reason, HelloReason::not_client_hello);
  Bytes later_version = tls_records(msg, 50);
  later_version[5 + 50 + 1] = 4;  // the second record's version
  EXPECT_EQ(feed_whole(later_version).reason, HelloReason::bad_record_version);
  EXPECT_EQ(feed_whole(later_version).status, HelloStatus::malformed);
}

TEST(Tls, MutationsAlwaysEndCleanly) {
  const Bytes stream = tls_records(build_client_hello({.ech = true}), 200);
  std::mt19937 rng(11);
  for (int i = 0; i < 3000; ++i) {
    Bytes b = stream;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    b.resize(rng() % (b.size() + 1));
    auto a = assembler();
    a->feed(0, b.data(), b.size());
    const ClientHello& h = a->hello();
    ASSERT_LE(h.sni_len, kMaxHostName);
    if (h.status != HelloStatus::complete) {
      ASSERT_FALSE(h.has_sni);
    }
    ASSERT_LT(static_cast<unsigned>(h.reason), kHelloReasonCount);
  }
}

TEST(Tls, ReasonsHaveNames) {
  for (unsigned i = 0; i < kHelloReasonCount; ++i) {
    EXPECT_STRNE(hello_reason_name(static_cast<HelloReason>(i)), "unknown");
    EXPECT_STRNE(hello_reason_description(static_cast<HelloReason>(i)), "unknown");
  }
  EXPECT_STREQ(hello_reason_name(HelloReason::bad_host_name), "bad_host_name");
  EXPECT_STREQ(hello_status_name(HelloStatus::too_large), "too_large");
}

// The bytes `openssl s_client -servername NAME` sends first, to a socket of
// the test's own that answers nothing.
Bytes openssl_client_hello(const std::string& name, const std::string& extra_args) {
  const int srv = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (srv < 0 || bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(srv, 1) != 0 ||
      getsockname(srv, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return {};
  const std::string cmd = "timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(ntohs(a.sin_port)) +
                          " -servername " + name + " " + extra_args + " </dev/null >/dev/null 2>&1";
  FILE* client = popen(cmd.c_str(), "r");
  Bytes got;
  pollfd p{srv, POLLIN, 0};
  if (client && poll(&p, 1, 10000) == 1) {
    const int c = accept(srv, nullptr, nullptr);
    auto asm_ = assembler();
    uint8_t buf[4096];
    pollfd q{c, POLLIN, 0};
    while (!asm_->hello().decided() && poll(&q, 1, 10000) == 1) {
      const ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) break;
      asm_->feed(got.size(), buf, static_cast<size_t>(n));
      got.insert(got.end(), buf, buf + n);
    }
    close(c);
  }
  close(srv);
  if (client) pclose(client);
  return got;
}

TEST(Tls, RealClientHelloFromOpenssl) {
  if (system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl binary";
  const Bytes tls13 = openssl_client_hello("Example.COM", "");
  ASSERT_FALSE(tls13.empty());
  ClientHello h = feed_whole(tls13);
  EXPECT_EQ(h.status, HelloStatus::complete);
  EXPECT_EQ(h.sni(), "example.com");
  EXPECT_EQ(h.supported_version, 0x0304);
  EXPECT_FALSE(h.ech);
  // In 1-byte segments too.
  auto a = assembler();
  for (size_t i = 0; i < tls13.size(); ++i) a->feed(i, &tls13[i], 1);
  EXPECT_EQ(a->hello().sni(), "example.com");

  const Bytes tls12 = openssl_client_hello("www.example.org", "-tls1_2");
  h = feed_whole(tls12);
  EXPECT_EQ(h.status, HelloStatus::complete);
  EXPECT_EQ(h.sni(), "www.example.org");
  EXPECT_EQ(h.supported_version, 0);  // TLS 1.2 alone offers no supported_versions
}

}  // namespace
}  // namespace bulkhead::dataplane::names
