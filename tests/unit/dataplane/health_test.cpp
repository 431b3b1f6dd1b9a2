// The health-check answers on crafted segments: each answer's flags,
// sequence numbers, body and checksums; what needs no answer; nothing
// answered while a worker has stopped.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include <rte_ip.h>

#include "common/protocols.h"
#include "dataplane/insertion/encap.h"
#include "dataplane/insertion/health.h"
#include "tests/common/packet_builder.h"

namespace bulkhead::dataplane::insertion {
namespace {

using test::Frame;

constexpr uint32_t kChecker = 0x0a64000a;  // 10.100.0.10
constexpr size_t kL3 = 14, kL4 = 34;

OuterConfig config() {
  OuterConfig c;
  inet_pton(AF_INET, "10.100.0.5", c.address);
  std::string path = "/healthz";
  std::copy(path.begin(), path.end(), c.health_path);
  c.health_path_len = static_cast<uint8_t>(path.size());
  return c;
}

Frame segment(uint8_t flags, uint32_t seq, uint32_t ack, const std::string& payload = "") {
  return test::build_packet({.src = "10.100.0.10", .dst = "10.100.0.5", .proto = common::kProtoTcp, .sport = 40000,
                             .dport = 80, .tcp_flags = flags,
                             .payload = std::vector<uint8_t>(payload.begin(), payload.end()), .tcp_seq = seq,
                             .tcp_ack = ack});
}

uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

struct Answer {
  HealthAnswer kind;
  Frame frame;
  uint8_t flags() const { return frame[kL4 + 13]; }
  uint32_t seq() const { return be32(&frame[kL4 + 4]); }
  uint32_t ack() const { return be32(&frame[kL4 + 8]); }
  std::string body() const {
    const size_t ip_len = size_t{frame[kL3 + 2]} << 8 | frame[kL3 + 3];
    return std::string(frame.begin() + kL4 + 20, frame.begin() + static_cast<long>(kL3 + ip_len));
  }
};

Answer answer(Frame f, bool healthy = true) {
  Encap e;
  read_outer(f.data(), static_cast<uint32_t>(f.size()), config(), e);
  EXPECT_EQ(e.kind, Outer::health);
  uint32_t len = static_cast<uint32_t>(f.size());
  f.resize(2048);
  const HealthAnswer kind = answer_health(f.data(), len, static_cast<uint32_t>(f.size()), e, config(), healthy);
  f.resize(len);
  return {kind, f};
}

void expect_valid(const Frame& f) {
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(&f[kL3]);
  EXPECT_EQ(rte_ipv4_cksum(ip), 0) << "IPv4 header checksum";
  Frame zeroed = f;  // the TCP checksum computed afresh must be the one sent
  zeroed[kL4 + 16] = zeroed[kL4 + 17] = 0;
  const uint16_t want = rte_ipv4_udptcp_cksum(reinterpret_cast<const rte_ipv4_hdr*>(&zeroed[kL3]), &zeroed[kL4]);
  EXPECT_EQ(std::memcmp(&want, &f[kL4 + 16], 2), 0) << "TCP checksum";
  char src[16], dst[16];
  inet_ntop(AF_INET, &f[kL3 + 12], src, sizeof(src));
  inet_ntop(AF_INET, &f[kL3 + 16], dst, sizeof(dst));
  EXPECT_STREQ(src, "10.100.0.5");
  EXPECT_STREQ(dst, "10.100.0.10");
  EXPECT_EQ(f[kL4] << 8 | f[kL4 + 1], 80);
  EXPECT_EQ(f[kL4 + 2] << 8 | f[kL4 + 3], 40000);
}

const uint32_t kIsn = health_isn(kChecker, 40000);

TEST(HealthAnswer, SynGetsSynAck) {
  const Answer a = answer(segment(common::kTcpSyn, 1000, 0));
  ASSERT_EQ(a.kind, HealthAnswer::answered);
  expect_valid(a.frame);
  EXPECT_EQ(a.flags(), common::kTcpSyn | common::kTcpAck);
  EXPECT_EQ(a.seq(), kIsn);
  EXPECT_EQ(a.ack(), 1001u);
  EXPECT_EQ(a.frame.size(), 60u);
}

TEST(HealthAnswer, GetOfRootOrTheConfiguredPathIs200AndCloses) {
  for (std::string path : {"/", "/healthz"}) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    const Answer a = answer(segment(common::kTcpAck | common::kTcpPsh, 1001, kIsn + 1, req));
    ASSERT_EQ(a.kind, HealthAnswer::answered) << path;
    expect_valid(a.frame);
    EXPECT_EQ(a.flags(), common::kTcpAck | common::kTcpPsh | common::kTcpFin);
    EXPECT_EQ(a.seq(), kIsn + 1);
    EXPECT_EQ(a.ack(), 1001 + req.size());
    EXPECT_EQ(a.body().substr(0, 15), "HTTP/1.1 200 OK");
  }
}

TEST(HealthAnswer, OtherRequestsAre404) {
  for (std::string req : {"GET /other HTTP/1.1\r\n\r\n", "POST / HTTP/1.1\r\n\r\n", "GET /"}) {
    const Answer a = answer(segment(common::kTcpAck | common::kTcpPsh, 1001, kIsn + 1, req));
    ASSERT_EQ(a.kind, HealthAnswer::answered) << req;
    expect_valid(a.frame);
    EXPECT_EQ(a.body().substr(0, 22), "HTTP/1.1 404 Not Found");
  }
}

TEST(HealthAnswer, FinIsAnsweredWithOurFinUnlessWeClosedFirst) {
  Answer a = answer(segment(common::kTcpAck | common::kTcpFin, 1001, kIsn + 1));
  ASSERT_EQ(a.kind, HealthAnswer::answered);
  expect_valid(a.frame);
  EXPECT_EQ(a.flags(), common::kTcpAck | common::kTcpFin);
  EXPECT_EQ(a.ack(), 1002u);
  a = answer(segment(common::kTcpAck | common::kTcpFin, 1050, kIsn + 70));
  ASSERT_EQ(a.kind, HealthAnswer::answered);
  EXPECT_EQ(a.flags(), common::kTcpAck);
  EXPECT_EQ(a.seq(), kIsn + 70);
  EXPECT_EQ(a.ack(), 1051u);
}

TEST(HealthAnswer, BareAcksAndResetsNeedNoAnswer) {
  EXPECT_EQ(answer(segment(common::kTcpAck, 1001, kIsn + 1)).kind, HealthAnswer::quiet);
  EXPECT_EQ(answer(segment(common::kTcpRst, 1001, 0)).kind, HealthAnswer::quiet);
  EXPECT_EQ(answer(segment(common::kTcpRst | common::kTcpAck, 1001, kIsn + 1)).kind, HealthAnswer::quiet);
}

TEST(HealthAnswer, NothingIsAnsweredWhileAWorkerHasStopped) {
  const Frame syn = segment(common::kTcpSyn, 1000, 0);
  const Answer a = answer(syn, false);
  EXPECT_EQ(a.kind, HealthAnswer::unhealthy);
  EXPECT_EQ(a.frame, syn);
}

}  // namespace
}  // namespace bulkhead::dataplane::insertion
