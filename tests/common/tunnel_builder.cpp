#include "tests/common/tunnel_builder.h"

#include <stdexcept>

namespace bulkhead::test {
namespace {

void append(std::vector<uint8_t>& v, uint64_t x, int bytes) {
  for (int k = bytes - 1; k >= 0; --k) v.push_back(static_cast<uint8_t>(x >> (8 * k)));
}

Frame outer(const TunnelSpec& s, std::vector<uint8_t> payload) {
  PacketSpec p{.src = s.balancer, .dst = s.appliance, .proto = common::kProtoUdp, .sport = s.sport, .dport = s.dport,
               .src_mac = s.balancer_mac, .dst_mac = s.appliance_mac, .payload = std::move(payload)};
  if (s.echo) {
    std::swap(p.src, p.dst);
    std::swap(p.src_mac, p.dst_mac);
    p.udp_checksum = false;
  }
  return build_packet(p);
}

}  // namespace

std::vector<GeneveOption> aws_options(uint64_t endpoint_id, uint64_t attachment_id, uint32_t cookie) {
  std::vector<GeneveOption> v(3);
  v[0] = {0x0108, 1, {}};
  append(v[0].data, endpoint_id, 8);
  v[1] = {0x0108, 2, {}};
  append(v[1].data, attachment_id, 8);
  v[2] = {0x0108, 3, {}};
  append(v[2].data, cookie, 4);
  return v;
}

std::vector<uint8_t> ip_packet(const Frame& f) {
  size_t off = 12;
  while (off + 4 <= f.size() && (f[off] == 0x81 || f[off] == 0x88)) off += 4;
  off += 2;
  if (f.size() < off + 20) throw std::invalid_argument("not an IP frame");
  const size_t n = (f[off] >> 4) == 4 ? static_cast<size_t>(f[off + 2] << 8 | f[off + 3])
                                      : 40 + static_cast<size_t>(f[off + 4] << 8 | f[off + 5]);
  if (off + n > f.size()) throw std::invalid_argument("IP length past the frame");
  return {f.begin() + static_cast<long>(off), f.begin() + static_cast<long>(off + n)};
}

Frame geneve_frame(const TunnelSpec& s, const Frame& inner) {
  std::vector<uint8_t> opts;
  for (const auto& o : s.options) {
    if (o.data.size() % 4 != 0 || o.data.size() > 124) throw std::invalid_argument("GENEVE option length");
    append(opts, o.cls, 2);
    opts.push_back(o.type);
    opts.push_back(static_cast<uint8_t>(o.data.size() / 4));
    opts.insert(opts.end(), o.data.begin(), o.data.end());
  }
  if (opts.size() > 252) throw std::invalid_argument("GENEVE options too long");
  const std::vector<uint8_t> ip = ip_packet(inner);
  bool critical = false;
  for (const auto& o : s.options) critical |= (o.type & 0x80) != 0;
  std::vector<uint8_t> g;
  g.push_back(static_cast<uint8_t>(s.version << 6 | opts.size() / 4));
  g.push_back(static_cast<uint8_t>((s.oam ? 0x80 : 0) | (critical ? 0x40 : 0)));
  append(g, s.protocol != 0 ? s.protocol : ((ip[0] >> 4) == 4 ? 0x0800 : 0x86dd), 2);
  append(g, s.vni, 3);
  g.push_back(0);
  g.insert(g.end(), opts.begin(), opts.end());
  g.insert(g.end(), ip.begin(), ip.end());
  return outer(s, std::move(g));
}

Frame vxlan_frame(const TunnelSpec& s, const Frame& inner) {
  std::vector<uint8_t> v = {0x08, 0, 0, 0};
  append(v, s.vni, 3);
  v.push_back(0);
  v.insert(v.end(), inner.begin(), inner.end());
  return outer(s, std::move(v));
}

}  // namespace bulkhead::test
