#include "dataplane/insertion/stage.h"

#include "dataplane/insertion/health.h"

#include <algorithm>
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
    : insertion_(cfg.mode) {
  uint16_t top = 0;
  for (uint16_t p : cfg.ports) top = std::max(top, p);
  ports_.resize(size_t{top} + 1);
  for (size_t k = 0; k < cfg.ports.size() && k < cfg.addresses.size(); ++k) {
    PortSetup& s = ports_[cfg.ports[k]];
    s.outer = cfg.outer(k);
    if (k < macs.size()) std::memcpy(s.mac, macs[k].data(), 6);
  }
}

void open_tunnels(Burst& b, const PortSetup& port, bool healthy, ReceiveCounts& n) noexcept {
  for (uint16_t i = 0; i < b.n && i < kPrefetchAhead; ++i) rte_prefetch0(rte_pktmbuf_mtod(b.pkts[i], void*));
  for (uint16_t i = 0; i < b.n; ++i) {
    if (i + kPrefetchAhead < b.n) rte_prefetch0(rte_pktmbuf_mtod(b.pkts[i + kPrefetchAhead], void*));
    uint8_t* frame = rte_pktmbuf_mtod(b.pkts[i], uint8_t*);
    const uint32_t len = rte_pktmbuf_data_len(b.pkts[i]);
    Encap e;
    PacketMeta& m = b.meta[i];
    b.len[i] = rte_pktmbuf_pkt_len(b.pkts[i]);
    b.view[i] = 0;
    n.bytes += b.len[i];
    read_outer(frame, len, port.outer, e);
    switch (e.kind) {
      case Outer::tunnel:
        b.view[i] = e.inner_offset;
        if (e.inner_ethertype == kEthTransparent) parse_packet(frame + e.inner_offset, e.inner_length, m);
        else parse_ip_packet(frame + e.inner_offset, e.inner_length, e.inner_ethertype, m);
        // The echo is made now, while the headers are in cache: only the
        // outer headers change, which no later stage reads, and a packet
        // the policy denies is dropped whatever they say.
        echo(frame, e, port.outer);
        ++n.tunnelled;
        ++n.by_tunnel[e.tunnel & 1];
        n.unknown_options += e.unknown_options;
        break;
      case Outer::arp:
        answer_arp(frame, e, port.mac);
        m.kind = PacketKind::answer;
        ++n.arp_answered;
        break;
      case Outer::health: {
        uint32_t answer_len = len;
        const uint32_t capacity = b.pkts[i]->nb_segs == 1 ? len + rte_pktmbuf_tailroom(b.pkts[i]) : len;
        switch (answer_health(frame, answer_len, capacity, e, port.outer, healthy)) {
          case HealthAnswer::answered:
            b.pkts[i]->data_len = static_cast<uint16_t>(answer_len);
            b.pkts[i]->pkt_len = answer_len;
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
  }
}

}  // namespace bulkhead::dataplane::insertion
