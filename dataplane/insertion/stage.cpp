#include "dataplane/insertion/stage.h"

#include "dataplane/acl_key.h"
#include "dataplane/insertion/health.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <rte_prefetch.h>

namespace bulkhead::dataplane::insertion {
namespace {

constexpr uint16_t kPrefetchAhead = 4;

void settle_drop(PacketMeta& m, DropReason r) noexcept {
  m.kind = PacketKind::drop;
  m.drop_reason = r;
}

}  // namespace

Appliance::Appliance(const InsertionConfig& cfg, const std::vector<std::array<uint8_t, 6>>& macs)
    : insertion_(cfg.mode),
      tenant_key_{cfg.mode == Insertion::vxlan               ? TenantKey::By::pool
                  : cfg.profile == GeneveProfile::aws ? TenantKey::By::endpoint_id
                                                      : TenantKey::By::vni,
                  cfg.vxlan[0].vni},
      default_pickup_(cfg.pickup),
      tenants_(cfg.tenants) {
  const bool by_endpoint = tenant_key_.by == TenantKey::By::endpoint_id;
  for (size_t k = 0; k < tenants_.size(); ++k)
    if (tenants_[k].by_endpoint == by_endpoint) by_id_.push_back({tenants_[k].id, static_cast<uint16_t>(k + 1)});
  std::sort(by_id_.begin(), by_id_.end());
  uint16_t top = 0;
  for (uint16_t p : cfg.ports) top = std::max(top, p);
  ports_.resize(size_t{top} + 1);
  for (size_t k = 0; k < cfg.ports.size() && k < cfg.addresses.size(); ++k) {
    PortSetup& s = ports_[cfg.ports[k]];
    s.outer = cfg.outer(k);
    if (k < macs.size()) std::memcpy(s.mac, macs[k].data(), 6);
  }
}

uint16_t Appliance::tenant_tag(uint64_t id) const noexcept {
  const auto it = std::lower_bound(by_id_.begin(), by_id_.end(), ById{id, 0});
  if (it != by_id_.end() && it->id == id) return it->tag;
  return static_cast<uint16_t>(0x8000u | ((id ^ id >> 15 ^ id >> 30 ^ id >> 45 ^ id >> 60) & 0x7fffu));
}

std::string Appliance::tenant_name(uint16_t tag) const {
  if (tag == 0) return {};
  if (tag <= tenants_.size()) return tenants_[tag - 1].name;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "unlisted-%04x", tag & 0x7fffu);
  return buf;
}

bool resolve_tenants(const InsertionConfig& cfg, pb::CompiledRuleSet& set, std::string& error) {
  const bool by_endpoint = cfg.mode == Insertion::geneve && cfg.profile == GeneveProfile::aws;
  for (auto& t : *set.mutable_tenants()) {
    t.set_tag(kUnmatchedTenant);
    const bool endpoint = t.kind() == pb::Tenant::ENDPOINT;
    if (!cfg.one_armed() || endpoint != by_endpoint) continue;
    char id[40];
    std::snprintf(id, sizeof(id), endpoint ? "endpoint=0x%016llx" : "vni=%llu", static_cast<unsigned long long>(t.id()));
    const auto it = std::find_if(cfg.tenants.begin(), cfg.tenants.end(),
                                 [&](const TenantConfig& c) { return c.by_endpoint == endpoint && c.id == t.id(); });
    if (it == cfg.tenants.end()) {
      error = "the policy's tenant '" + t.name() + "' (" + id + ") is not in this dataplane's --tenant list; add " +
              "--tenant " + t.name() + ":" + id + ":strict (or :pickup)";
      return false;
    }
    if (it->name != t.name()) {
      error = "the policy's tenant '" + t.name() + "' (" + id + ") is --tenant '" + it->name +
              "' here; the names must agree";
      return false;
    }
    t.set_tag(static_cast<uint32_t>(it - cfg.tenants.begin() + 1));
  }
  return true;
}

namespace {

// The tenant of the burst's last tunnelled packet: a load balancer's bursts
// come mostly from one endpoint (or VNI), so its tag is looked up only when
// the id changes.
struct LastTenant {
  uint64_t id;
  uint16_t tag;
  bool pickup;
};

[[gnu::noinline]] LastTenant look_up_tenant(const Appliance& appliance, uint64_t id) noexcept {
  const uint16_t tag = appliance.tenant_tag(id);
  return {id, tag, appliance.pickup(tag)};
}

inline void follow_tenant(const Appliance& appliance, uint64_t id, LastTenant& t) noexcept {
  if (id != t.id) t = look_up_tenant(appliance, id);
}

// The tunnelled packet, for every later stage: where it starts, its tenant,
// its parse.
inline void open_inner(Burst& b, uint16_t i, const uint8_t* frame, const Encap& e, const LastTenant& t) noexcept {
  b.view[i] = e.inner_offset;
  b.tenant[i] = t.tag;
  b.pickup[i] = t.pickup;
  if (e.inner_ethertype == kEthTransparent) parse_packet(frame + e.inner_offset, e.inner_length, b.meta[i]);
  else parse_ip_packet(frame + e.inner_offset, e.inner_length, e.inner_ethertype, b.meta[i]);
}

// Any frame but AWS's usual one: the general reader, then the tunnel opened,
// the ARP request or health check answered, or the drop reason. The tenant
// goes by value both ways, so that the caller's stays in registers.
[[gnu::noinline]] LastTenant open_other(Burst& b, uint16_t i, const Appliance& appliance, const PortSetup& port,
                                        bool healthy, LastTenant tenant, ReceiveCounts& n) noexcept {
  rte_mbuf* mbuf = b.pkts[i];
  uint8_t* frame = rte_pktmbuf_mtod(mbuf, uint8_t*);
  const uint32_t len = rte_pktmbuf_data_len(mbuf);
  PacketMeta& m = b.meta[i];
  Encap e;
  read_any_outer(frame, len, port.outer, e);
  b.view[i] = 0;
  b.tenant[i] = 0;
  b.pickup[i] = false;
  switch (e.kind) {
    case Outer::tunnel:
      follow_tenant(appliance, appliance.tenant_id(e), tenant);
      open_inner(b, i, frame, e, tenant);
      // The echo is made now, while the headers are in cache: only the
      // outer headers change, which no later stage reads, and a packet the
      // policy denies is dropped whatever they say.
      echo(frame, e, port.outer);
      ++n.tunnelled;
      if (port.outer.insertion == Insertion::vxlan) ++n.by_tunnel[e.tunnel & 1];
      n.unknown_options += e.unknown_options;
      break;
    case Outer::arp:
      answer_arp(frame, e, port.mac);
      m.kind = PacketKind::answer;
      ++n.arp_answered;
      break;
    case Outer::health: {
      uint32_t answer_len = len;
      const uint32_t capacity = mbuf->nb_segs == 1 ? len + rte_pktmbuf_tailroom(mbuf) : len;
      switch (answer_health(frame, answer_len, capacity, e, port.outer, healthy)) {
        case HealthAnswer::answered:
          mbuf->data_len = static_cast<uint16_t>(answer_len);
          mbuf->pkt_len = answer_len;
          m.kind = PacketKind::answer;
          ++n.health_answered;
          break;
        case HealthAnswer::quiet:
          settle_drop(m, DropReason::health_quiet);
          break;
        case HealthAnswer::unhealthy:
          settle_drop(m, DropReason::health_unhealthy);
          break;
      }
      break;
    }
    case Outer::drop:
      settle_drop(m, e.drop_reason);
      break;
  }
  return tenant;
}

}  // namespace

void open_tunnels(Burst& b, const Appliance& appliance, const PortSetup& port, bool healthy,
                  ReceiveCounts& n) noexcept {
  for (uint16_t i = 0; i < b.n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(b.pkts[i], void*));
  // What the loop reads of the port and the appliance, in locals: the
  // stores into the burst's byte arrays could alias them, which would have
  // them read again for every packet. So are the counts.
  const OuterConfig outer = port.outer;
  const TenantKey key = appliance.tenant_key();
  const bool geneve = outer.insertion == Insertion::geneve;
  LastTenant tenant = look_up_tenant(appliance, 0);
  uint64_t bytes = 0;
  uint32_t aws_frames = 0;
  for (uint16_t i = 0; i < b.n; ++i) {
    if (i + kPrefetchAhead < b.n) {
      const uint8_t* ahead = rte_pktmbuf_mtod(b.pkts[i + kPrefetchAhead], const uint8_t*);
      rte_prefetch0(ahead);
      rte_prefetch0(ahead + 64);
    }
    uint8_t* frame = rte_pktmbuf_mtod(b.pkts[i], uint8_t*);
    b.len[i] = rte_pktmbuf_pkt_len(b.pkts[i]);
    bytes += b.len[i];
    // AWS's usual frame in a reading of its own, which nothing else sees:
    // the compiler keeps it in registers, and its echo needs no more than
    // turning around.
    if (Encap aws; geneve && read_aws_frame(frame, rte_pktmbuf_data_len(b.pkts[i]), outer, aws)) {
      follow_tenant(appliance, key.id(aws), tenant);
      open_inner(b, i, frame, aws, tenant);
      turn_around(frame, aws);
      ++aws_frames;
      continue;
    }
    tenant = open_other(b, i, appliance, port, healthy, tenant, n);
  }
  n.bytes += bytes;
  n.tunnelled += aws_frames;
}

}  // namespace bulkhead::dataplane::insertion
