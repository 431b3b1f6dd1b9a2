#include "dataplane/insertion/health.h"

#include <cstring>
#include <string_view>

#include <rte_ip.h>

#include "common/protocols.h"
#include "dataplane/wire.h"

namespace bulkhead::dataplane::insertion {
namespace {

using wire::be16;
using wire::be32;
using wire::put16;

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
constexpr std::string_view kNotFound = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
constexpr uint32_t kLongestAnswer = kNotFound.size() > kOk.size() ? kNotFound.size() : kOk.size();

void put32(uint8_t* p, uint32_t v) noexcept {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}

template <size_t N>
void swap_bytes(uint8_t* a, uint8_t* b) noexcept {
  uint8_t t[N];
  std::memcpy(t, a, N);
  std::memcpy(a, b, N);
  std::memcpy(b, t, N);
}

// The path of "GET <path> " at the start of `p`, or empty.
std::string_view request_path(std::string_view p) noexcept {
  constexpr std::string_view kGet = "GET ";
  if (p.substr(0, kGet.size()) != kGet) return {};
  p.remove_prefix(kGet.size());
  const auto end = p.find(' ');
  return end == std::string_view::npos ? std::string_view{} : p.substr(0, end);
}

}  // namespace

HealthAnswer answer_health(uint8_t* frame, uint32_t& len, uint32_t capacity, const Encap& e, const OuterConfig& cfg,
                           bool healthy) noexcept {
  uint8_t* ip = frame + e.outer_l3;
  uint8_t* tcp = frame + e.outer_l4;
  const uint32_t ip_len = be16(ip + 2);
  const uint32_t ihl = (ip[0] & 0x0fu) * 4u;
  const uint32_t doff = (tcp[12] >> 4) * 4u;
  // read_outer() checked the IPv4 header and 20 bytes of TCP.
  if (doff < 20 || ihl + doff > ip_len) return HealthAnswer::quiet;
  const uint8_t flags = tcp[13];
  const uint32_t seq = be32(tcp + 4), ack = be32(tcp + 8);
  const uint32_t payload = ip_len - ihl - doff;
  const uint32_t our_isn = health_isn(be32(ip + 12), be16(tcp));
  if (flags & common::kTcpRst) return HealthAnswer::quiet;

  uint8_t out_flags;
  uint32_t out_seq, out_ack;
  std::string_view body;
  if ((flags & (common::kTcpSyn | common::kTcpAck)) == common::kTcpSyn) {
    out_flags = common::kTcpSyn | common::kTcpAck;
    out_seq = our_isn;
    out_ack = seq + 1;
  } else if (!(flags & common::kTcpAck)) {
    return HealthAnswer::quiet;
  } else if (payload > 0) {
    // A request: answered whole, and closed (one segment, as checks are).
    const std::string_view text(reinterpret_cast<const char*>(tcp + doff), payload);
    const std::string_view path = request_path(text);
    const std::string_view wanted(cfg.health_path, cfg.health_path_len);
    body = !path.empty() && (path == "/" || path == wanted) ? kOk : kNotFound;
    out_flags = common::kTcpAck | common::kTcpPsh | common::kTcpFin;
    out_seq = ack;
    out_ack = seq + payload + ((flags & common::kTcpFin) ? 1 : 0);
  } else if (flags & common::kTcpFin) {
    // The checker closes: our FIN too, unless it acknowledges one already.
    const bool we_closed = ack != our_isn + 1;
    out_flags = we_closed ? common::kTcpAck : common::kTcpAck | common::kTcpFin;
    out_seq = ack;
    out_ack = seq + 1;
  } else {
    return HealthAnswer::quiet;  // the handshake's ACK, or the ACK of our answer
  }
  if (!healthy) return HealthAnswer::unhealthy;
  const uint32_t tcp_off = e.outer_l4;
  if (tcp_off + 20 + kLongestAnswer > capacity) return HealthAnswer::quiet;

  swap_bytes<6>(frame, frame + 6);
  swap_bytes<4>(ip + 12, ip + 16);
  swap_bytes<2>(tcp, tcp + 2);
  // No IPv4 options in the answer: the TCP header moves up behind 20 bytes.
  if (ihl != 20) {
    std::memmove(ip + 20, tcp, 20);
    tcp = ip + 20;
  }
  ip[0] = 0x45;
  ip[1] = 0;
  put16(ip + 2, static_cast<uint16_t>(20 + 20 + body.size()));
  put16(ip + 6, 0);
  ip[8] = 64;
  put16(ip + 10, 0);
  put32(tcp + 4, out_seq);
  put32(tcp + 8, out_ack);
  tcp[12] = 5 << 4;
  tcp[13] = out_flags;
  put16(tcp + 14, 65535);
  put16(tcp + 16, 0);
  put16(tcp + 18, 0);
  if (!body.empty()) std::memcpy(tcp + 20, body.data(), body.size());  // an empty view may hold no pointer
  const auto* hdr = reinterpret_cast<const rte_ipv4_hdr*>(ip);
  put16(ip + 10, rte_be_to_cpu_16(rte_ipv4_cksum(hdr)));
  put16(tcp + 16, rte_be_to_cpu_16(rte_ipv4_udptcp_cksum(hdr, tcp)));
  len = e.outer_l3 + 40 + static_cast<uint32_t>(body.size());
  if (len < 60) {  // the Ethernet minimum, padded with zeros
    std::memset(frame + len, 0, 60 - len);
    len = 60;
  }
  return HealthAnswer::answered;
}

}  // namespace bulkhead::dataplane::insertion
