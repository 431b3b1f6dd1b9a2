#include "dataplane/insertion/encap.h"

#include <cstring>

#include "common/protocols.h"
#include "dataplane/wire.h"

namespace bulkhead::dataplane::insertion {
namespace {

using wire::be16;
using wire::be24;
using wire::be32;
using wire::be64;
using wire::put16;

constexpr uint32_t kGeneveHeader = 8;
constexpr uint32_t kVxlanHeader = 8;
constexpr uint32_t kArpLength = 28;

inline void drop(Encap& e, DropReason r) noexcept {
  e.kind = Outer::drop;
  e.drop_reason = r;
}

// Walks the GENEVE options at p[0..n): each a 4-byte header (class, type
// with the critical bit on top, length in 4-byte words) and its data.
// At most n / 4 steps.
void read_geneve_options(const uint8_t* p, uint32_t n, const OuterConfig& cfg, Encap& e) noexcept {
  uint32_t off = 0;
  while (off < n) {
    if (off + 4 > n) return drop(e, DropReason::geneve_bad_option);
    const uint16_t cls = be16(p + off);
    const uint8_t type = p[off + 2];
    const uint32_t data_len = (p[off + 3] & 0x1fu) * 4u;
    const uint8_t* data = p + off + 4;
    if (off + 4 + data_len > n) return drop(e, DropReason::geneve_bad_option);
    ++e.options;
    bool known = false;
    if (cls == kAwsOptionClass) {
      switch (type) {
        case kAwsEndpointId:
        case kAwsAttachmentId:
          if (data_len != 8) return drop(e, DropReason::geneve_bad_option);
          (type == kAwsEndpointId ? e.endpoint_id : e.attachment_id) = be64(data);
          (type == kAwsEndpointId ? e.has_endpoint_id : e.has_attachment_id) = true;
          known = true;
          break;
        case kAwsFlowCookie:
          if (data_len != 4) return drop(e, DropReason::geneve_bad_option);
          e.cookie = be32(data);
          e.has_cookie = true;
          known = true;
          break;
        default:
          break;
      }
    } else if (cls == kGcpOptionClass && cfg.profile == GeneveProfile::gcp) {
      known = true;  // GCP's own: echoed as they are, whatever their bits
    }
    if (!known) {
      ++e.unknown_options;
      if (type & 0x80) return drop(e, DropReason::geneve_critical_option);
    }
    off += 4 + data_len;
  }
}

// The options exactly as AWS Gateway Load Balancer sends them, in its
// order: endpoint id, attachment id, flow cookie (32 bytes). Read at once;
// any other layout takes the generic walk, which reads this one the same.
constexpr uint32_t kAwsOptionsLength = 32;
bool read_aws_layout(const uint8_t* p, Encap& e) noexcept {
  if (be32(p) != 0x01080102u || be32(p + 12) != 0x01080202u || be32(p + 24) != 0x01080301u) return false;
  e.endpoint_id = be64(p + 4);
  e.attachment_id = be64(p + 16);
  e.cookie = be32(p + 28);
  e.has_endpoint_id = e.has_attachment_id = e.has_cookie = true;
  e.options = 3;
  return true;
}

void read_geneve(const uint8_t* p, uint32_t n, const OuterConfig& cfg, Encap& e) noexcept {
  if (n < kGeneveHeader) return drop(e, DropReason::tunnel_truncated);
  if ((p[0] >> 6) != 0) return drop(e, DropReason::geneve_bad_version);
  const uint32_t opt_len = (p[0] & 0x3fu) * 4u;
  if (kGeneveHeader + opt_len > n) return drop(e, DropReason::geneve_bad_option);
  if (p[1] & 0x80) return drop(e, DropReason::geneve_oam);
  e.inner_ethertype = be16(p + 2);
  e.vni = be24(p + 4);
  if (opt_len != kAwsOptionsLength || !read_aws_layout(p + kGeneveHeader, e)) {
    read_geneve_options(p + kGeneveHeader, opt_len, cfg, e);
    if (e.kind == Outer::drop) return;
  }
  if (e.inner_ethertype != kEthIpv4 && e.inner_ethertype != kEthIpv6)
    return drop(e, DropReason::geneve_bad_protocol);
  if (cfg.profile == GeneveProfile::aws && !(e.has_endpoint_id && e.has_attachment_id && e.has_cookie))
    return drop(e, DropReason::geneve_missing_option);
  e.inner_offset = static_cast<uint16_t>(e.outer_l4 + 8 + kGeneveHeader + opt_len);
  e.inner_length = static_cast<uint16_t>(n - kGeneveHeader - opt_len);
  e.kind = Outer::tunnel;
}

void read_vxlan(const uint8_t* p, uint32_t n, const VxlanTunnel& t, Encap& e) noexcept {
  if (n < kVxlanHeader) return drop(e, DropReason::tunnel_truncated);
  if ((p[0] & 0x08) == 0) return drop(e, DropReason::vxlan_bad_flags);
  e.vni = be24(p + 4);
  if (e.vni != t.vni) return drop(e, DropReason::vxlan_unknown_vni);
  e.inner_ethertype = kEthTransparent;
  e.inner_offset = static_cast<uint16_t>(e.outer_l4 + 8 + kVxlanHeader);
  e.inner_length = static_cast<uint16_t>(n - kVxlanHeader);
  e.kind = Outer::tunnel;
}

// An ARP request (Ethernet, IPv4) for the appliance's address.
void read_arp(const uint8_t* p, uint32_t avail, const OuterConfig& cfg, Encap& e) noexcept {
  if (avail < kArpLength || be16(p) != 1 || be16(p + 2) != kEthIpv4 || p[4] != 6 || p[5] != 4 || be16(p + 6) != 1 ||
      std::memcmp(p + 24, cfg.address, 4) != 0)
    return drop(e, DropReason::not_for_appliance);
  e.kind = Outer::arp;
}

}  // namespace

bool read_tunnel_payload(const uint8_t* payload, uint32_t len, Insertion kind, Tunnelled& out) noexcept {
  // The readers above, told to take what any tunnel carries: the generic
  // GENEVE profile (no option required; an unknown critical option refuses
  // the packet, as at the dataplane's ports), the frame's own VNI.
  OuterConfig cfg;
  cfg.profile = GeneveProfile::generic;
  cfg.insertion = kind;
  Encap e{};  // as read_any_outer() starts: the readers mark a drop, or succeed
  e.drop_reason = DropReason::count;
  if (kind == Insertion::geneve) {
    read_geneve(payload, len, cfg, e);
  } else if (kind == Insertion::vxlan && len >= kVxlanHeader) {
    read_vxlan(payload, len, VxlanTunnel{0, be24(payload + 4)}, e);
  } else {
    return false;
  }
  if (e.kind != Outer::tunnel) return false;
  out.inner_offset = e.inner_offset - 8u;  // read_geneve and read_vxlan count from the UDP header
  out.inner_length = e.inner_length;
  out.inner_ethertype = e.inner_ethertype;
  out.vni = e.vni;
  return true;
}

void read_any_outer(const uint8_t* frame, uint32_t len, const OuterConfig& cfg, Encap& e) noexcept {
  e = Encap{};
  e.drop_reason = DropReason::count;
  const wire::L2 l2 = wire::read_l2(frame, len);
  if (l2.drop != DropReason::count) return drop(e, l2.drop);
  const uint32_t off = l2.l3_offset;
  const uint16_t ethertype = l2.ethertype;
  e.outer_l3 = static_cast<uint16_t>(off);
  const uint8_t* ip = frame + off;
  const uint32_t avail = len - off;
  if (ethertype == kEthArp) return read_arp(ip, avail, cfg, e);
  if (ethertype != kEthIpv4) return drop(e, DropReason::not_for_appliance);
  if (avail < 20) return drop(e, DropReason::truncated_ipv4);
  if ((ip[0] >> 4) != 4) return drop(e, DropReason::bad_ipv4_version);
  const uint32_t ihl = (ip[0] & 0x0fu) * 4u;
  if (ihl < 20 || ihl > avail) return drop(e, DropReason::bad_ipv4_ihl);
  const uint32_t total = be16(ip + 2);
  if (total < ihl || total > avail) return drop(e, DropReason::bad_ipv4_total_length);
  if (std::memcmp(ip + 16, cfg.address, 4) != 0) return drop(e, DropReason::not_for_appliance);
  if ((be16(ip + 6) & 0x3fff) != 0) return drop(e, DropReason::outer_fragment);
  e.outer_l4 = static_cast<uint16_t>(off + ihl);
  const uint8_t* l4 = ip + ihl;
  const uint32_t l4avail = total - ihl;
  if (ip[9] == common::kProtoTcp) {
    if (l4avail < 20) return drop(e, DropReason::truncated_l4);
    if (be16(l4 + 2) != cfg.health_port) return drop(e, DropReason::appliance_local);
    e.kind = Outer::health;
    return;
  }
  if (ip[9] != common::kProtoUdp) return drop(e, DropReason::appliance_local);
  if (l4avail < 8) return drop(e, DropReason::truncated_l4);
  const uint16_t dport = be16(l4 + 2);
  const uint32_t ulen = be16(l4 + 4);
  const bool geneve = cfg.insertion == Insertion::geneve && dport == cfg.geneve_port;
  int vxlan = -1;
  if (cfg.insertion == Insertion::vxlan)
    for (int t = 0; t < 2; ++t)
      if (dport == cfg.vxlan[t].port) vxlan = t;
  if (!geneve && vxlan < 0) return drop(e, DropReason::appliance_local);
  if (ulen < 8 || ulen > l4avail) return drop(e, DropReason::tunnel_truncated);
  if (geneve) return read_geneve(l4 + 8, ulen - 8, cfg, e);
  e.tunnel = static_cast<uint8_t>(vxlan);
  read_vxlan(l4 + 8, ulen - 8, cfg.vxlan[vxlan], e);
}

void answer_arp(uint8_t* frame, const Encap& e, const uint8_t (&mac)[6]) noexcept {
  // ARP payload: hardware type, protocol type, lengths, operation (8 bytes),
  // then sender MAC (8), sender IP (14), target MAC (18), target IP (24).
  uint8_t* arp = frame + e.outer_l3;
  uint8_t asked[4];
  std::memcpy(asked, arp + 24, 4);
  std::memcpy(frame, arp + 8, 6);  // to the asker's hardware address
  std::memcpy(frame + 6, mac, 6);
  put16(arp + 6, 2);
  std::memcpy(arp + 18, arp + 8, 10);  // target: the asker, MAC and IP
  std::memcpy(arp + 8, mac, 6);        // sender: us, at the address asked for
  std::memcpy(arp + 14, asked, 4);
}

}  // namespace bulkhead::dataplane::insertion
