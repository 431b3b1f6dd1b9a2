#include "tests/common/packet_builder.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "common/protocols.h"

namespace bulkhead::test {
namespace {

void put16(Frame& f, size_t at, uint16_t v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}

void append16(Frame& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v));
}

void mac(Frame& f, const std::string& s) {
  unsigned b[6];
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
    throw std::invalid_argument("bad MAC " + s);
  for (unsigned x : b) f.push_back(static_cast<uint8_t>(x));
}

uint32_t sum(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) acc += static_cast<uint32_t>(p[n - 1] << 8);
  return acc;
}

uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc);
}

struct Addr {
  int family;
  uint8_t b[16];
};

Addr parse(const std::string& s) {
  Addr a{};
  if (inet_pton(AF_INET, s.c_str(), a.b) == 1) a.family = 4;
  else if (inet_pton(AF_INET6, s.c_str(), a.b) == 1) a.family = 6;
  else throw std::invalid_argument("bad address " + s);
  return a;
}

// The L4 header and payload, checksum left zero.
Frame l4(const PacketSpec& s, bool v6) {
  Frame f;
  switch (s.proto) {
    case common::kProtoTcp:
      append16(f, s.sport);
      append16(f, s.dport);
      append16(f, static_cast<uint16_t>(s.tcp_seq >> 16));
      append16(f, static_cast<uint16_t>(s.tcp_seq));
      append16(f, (s.tcp_flags & common::kTcpAck) ? static_cast<uint16_t>(s.tcp_ack >> 16) : 0);
      append16(f, (s.tcp_flags & common::kTcpAck) ? static_cast<uint16_t>(s.tcp_ack) : 0);
      f.push_back(5 << 4);
      f.push_back(s.tcp_flags);
      append16(f, 65535);
      append16(f, 0);
      append16(f, 0);
      break;
    case common::kProtoUdp:
      append16(f, s.sport);
      append16(f, s.dport);
      append16(f, static_cast<uint16_t>(8 + (s.payload.empty() ? s.payload_len : s.payload.size())));
      append16(f, 0);
      break;
    case common::kProtoSctp:
      append16(f, s.sport);
      append16(f, s.dport);
      for (int i = 0; i < 8; ++i) f.push_back(0);
      break;
    case common::kProtoIcmp:
    case common::kProtoIcmpv6: {
      f.push_back(s.icmp_type);
      f.push_back(s.icmp_code);
      append16(f, 0);
      if (s.quote != nullptr) {
        for (int i = 0; i < 4; ++i) f.push_back(0);
        // Quote the IP packet of the frame (skip its Ethernet header).
        const Frame& q = *s.quote;
        size_t off = 12;
        while (q[off] == 0x81 || q[off] == 0x88) off += 4;
        off += 2;
        f.insert(f.end(), q.begin() + static_cast<long>(off), q.end());
      } else {
        append16(f, s.icmp_id);
        append16(f, 1);
      }
      break;
    }
    default:
      break;
  }
  (void)v6;
  if (!s.payload.empty()) {
    f.insert(f.end(), s.payload.begin(), s.payload.end());
    return f;
  }
  for (uint16_t i = 0; i < s.payload_len; ++i) f.push_back(static_cast<uint8_t>('a' + i % 26));
  return f;
}

}  // namespace

Frame build_packet(const PacketSpec& s) {
  const Addr src = parse(s.src), dst = parse(s.dst);
  if (src.family != dst.family) throw std::invalid_argument("mixed address families");
  const bool v6 = src.family == 6;
  Frame f;
  mac(f, s.dst_mac);
  mac(f, s.src_mac);
  for (size_t i = 0; i < s.vlans.size(); ++i) {
    append16(f, (s.vlans.size() == 2 && i == 0) ? 0x88a8 : 0x8100);
    append16(f, s.vlans[i]);
  }
  append16(f, v6 ? 0x86dd : 0x0800);
  const size_t l3 = f.size();

  Frame body = l4(s, v6);
  // Checksum over the pseudo-header (which a later fragment cannot carry:
  // its payload is opaque bytes, so leave it as built).
  const bool later_fragment = s.fragment_offset != 0;
  const bool no_checksum = s.proto == common::kProtoUdp && !s.udp_checksum;
  if (!later_fragment && !no_checksum && (s.proto == common::kProtoTcp || s.proto == common::kProtoUdp || s.proto == common::kProtoIcmp || s.proto == common::kProtoIcmpv6)) {
    const size_t at = s.proto == common::kProtoTcp ? 16 : s.proto == common::kProtoUdp ? 6 : 2;
    uint32_t acc = 0;
    if (s.proto != common::kProtoIcmp) {
      const size_t n = v6 ? 16 : 4;
      acc = sum(src.b, n, acc);
      acc = sum(dst.b, n, acc);
      acc += static_cast<uint32_t>(body.size());
      acc += s.proto;
    }
    acc = sum(body.data(), body.size(), acc);
    uint16_t c = fold(acc);
    if (s.proto == common::kProtoUdp && c == 0) c = 0xffff;
    put16(body, at, c);
  }

  if (!v6) {
    const uint8_t ihl = static_cast<uint8_t>(20 + s.ipv4_options_len);
    f.push_back(static_cast<uint8_t>(0x40 | ihl / 4));
    f.push_back(0);
    append16(f, static_cast<uint16_t>(ihl + body.size()));
    append16(f, static_cast<uint16_t>(s.fragment_id));
    append16(f, static_cast<uint16_t>((s.more_fragments ? 0x2000 : 0) | (s.fragment_offset / 8)));
    f.push_back(s.ttl);
    f.push_back(s.proto);
    append16(f, 0);
    f.insert(f.end(), src.b, src.b + 4);
    f.insert(f.end(), dst.b, dst.b + 4);
    for (int i = 0; i < s.ipv4_options_len; ++i) f.push_back(i + 1 == s.ipv4_options_len ? 0 : 1);  // NOPs, EOL
    put16(f, l3 + 10, fold(sum(f.data() + l3, ihl)));
    f.insert(f.end(), body.begin(), body.end());
  } else {
    Frame ext;
    for (size_t i = 0; i < s.ipv6_ext.size(); ++i) {
      const auto& e = s.ipv6_ext[i];
      const uint8_t next = i + 1 < s.ipv6_ext.size() ? s.ipv6_ext[i + 1].type : s.proto;
      const size_t start = ext.size();
      ext.push_back(next);
      if (e.type == 44) {
        ext.push_back(0);
        append16(ext, static_cast<uint16_t>(s.fragment_offset | (s.more_fragments ? 1 : 0)));
        for (int k = 3; k >= 0; --k) ext.push_back(static_cast<uint8_t>(s.fragment_id >> (8 * k)));
      } else if (e.type == 51) {
        ext.push_back(static_cast<uint8_t>(e.length / 4 - 2));
        while (ext.size() - start < e.length) ext.push_back(0);
      } else {
        ext.push_back(static_cast<uint8_t>(e.length / 8 - 1));
        while (ext.size() - start < e.length) ext.push_back(e.type == 43 ? 0 : 1);
        if (e.type != 43) {  // a PadN option filling the header
          ext[start + 2] = 1;
          ext[start + 3] = static_cast<uint8_t>(e.length - 4);
          for (size_t k = start + 4; k < start + e.length; ++k) ext[k] = 0;
        }
      }
    }
    f.push_back(0x60);
    f.push_back(0);
    append16(f, 0);
    append16(f, static_cast<uint16_t>(ext.size() + body.size()));
    f.push_back(s.ipv6_ext.empty() ? s.proto : s.ipv6_ext[0].type);
    f.push_back(s.ttl);
    f.insert(f.end(), src.b, src.b + 16);
    f.insert(f.end(), dst.b, dst.b + 16);
    f.insert(f.end(), ext.begin(), ext.end());
    f.insert(f.end(), body.begin(), body.end());
  }
  while (f.size() < 60) f.push_back(0);  // Ethernet minimum (without FCS)
  return f;
}

PacketSpec tcp_spec(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
                    uint8_t flags) {
  return PacketSpec{.src = src, .dst = dst, .proto = common::kProtoTcp, .sport = sport, .dport = dport,
                    .tcp_flags = flags};
}

PacketSpec udp_spec(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
                    uint16_t payload) {
  return PacketSpec{.src = src, .dst = dst, .proto = common::kProtoUdp, .sport = sport, .dport = dport,
                    .payload_len = payload};
}

PacketSpec reversed(PacketSpec s) {
  std::swap(s.src, s.dst);
  std::swap(s.sport, s.dport);
  std::swap(s.src_mac, s.dst_mac);
  return s;
}

std::vector<Frame> tcp_handshake(const PacketSpec& client) {
  PacketSpec syn = client;
  syn.proto = common::kProtoTcp;
  syn.tcp_flags = common::kTcpSyn;
  PacketSpec synack = reversed(syn);
  synack.tcp_flags = common::kTcpSyn | common::kTcpAck;
  PacketSpec ack = syn;
  ack.tcp_flags = common::kTcpAck;
  return {build_packet(syn), build_packet(synack), build_packet(ack)};
}

Frame truncated(Frame f, size_t len) {
  f.resize(len);
  return f;
}

namespace {

Frame arp(uint16_t op, const std::string& sender_mac, const std::string& sender_ip, const std::string& target_mac,
          const std::string& target_ip, const std::string& to_mac) {
  Frame f;
  mac(f, to_mac);
  mac(f, sender_mac);
  append16(f, 0x0806);
  append16(f, 1);
  append16(f, 0x0800);
  f.push_back(6);
  f.push_back(4);
  append16(f, op);
  mac(f, sender_mac);
  const Addr s = parse(sender_ip), t = parse(target_ip);
  f.insert(f.end(), s.b, s.b + 4);
  mac(f, target_mac);
  f.insert(f.end(), t.b, t.b + 4);
  while (f.size() < 60) f.push_back(0);
  return f;
}

}  // namespace

Frame arp_request(const std::string& sender_ip, const std::string& target_ip) {
  return arp(1, "02:00:00:00:00:01", sender_ip, "00:00:00:00:00:00", target_ip, "ff:ff:ff:ff:ff:ff");
}

Frame arp_reply(const std::string& mac, const std::string& ip, const std::string& asker_ip) {
  return arp(2, mac, ip, "02:00:00:00:00:01", asker_ip, "02:00:00:00:00:01");
}

}  // namespace bulkhead::test
