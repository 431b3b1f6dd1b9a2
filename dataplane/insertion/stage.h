// One-armed insertion's stage of the worker loop (dataplane/worker.cpp):
// open_tunnels() runs in place of the parse stage. It reads every frame's
// outer headers (encap.h); answers an ARP request for the appliance's
// address and the health checks (health.h) in place (the answer leaves like
// a passed packet); turns a tunnelled frame into its echo toward the load
// balancer and parses the packet inside, which every later stage judges
// (Burst::view says where it starts) — so what passes leaves as its echo,
// and what is denied is dropped; everything else gets a drop reason.
//
// The per-port settings (Appliance) are built once at start-up and read-only
// afterwards; the stage runs on a worker's own burst and allocates nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/burst.h"
#include "dataplane/config.h"
#include "dataplane/insertion/encap.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::dataplane::insertion {

// The id that names a tunnelled packet's tenant: the endpoint id (GENEVE,
// AWS profile) or the VNI (other GENEVE profiles; VXLAN: the external
// tunnel's, which names the pair).
struct TenantKey {
  enum class By : uint8_t { endpoint_id, vni, pool } by;
  uint32_t pool_vni;  // VXLAN: the external tunnel's
  uint64_t id(const Encap& e) const noexcept {
    return by == By::endpoint_id ? e.endpoint_id : by == By::vni ? e.vni : pool_vni;
  }
};

struct PortSetup {
  OuterConfig outer;
  uint8_t mac[6] = {};  // the port's own, for ARP answers
};

// The one-armed ports, by port id.
class Appliance {
 public:
  // From the configuration and each port's MAC address (`macs[k]` of
  // cfg.ports[k]).
  Appliance(const InsertionConfig& cfg, const std::vector<std::array<uint8_t, 6>>& macs);
  const PortSetup& port(uint16_t id) const noexcept { return ports_[id]; }
  Insertion insertion() const noexcept { return insertion_; }

  TenantKey tenant_key() const noexcept { return tenant_key_; }
  uint64_t tenant_id(const Encap& e) const noexcept { return tenant_key_.id(e); }
  // The tenant tag (ConnKey::tenant) of an id: 1..N for the --tenant list;
  // 0x8000 and above, folded from the id, for any other.
  uint16_t tenant_tag(uint64_t id) const noexcept;
  // Whether a mid-flow TCP packet of no known connection may open one.
  bool pickup(uint16_t tag) const noexcept {
    return tag >= 1 && tag <= tenants_.size() ? tenants_[tag - 1].pickup : default_pickup_;
  }
  // The name flow records carry: the --tenant name, or "unlisted-XXXX".
  std::string tenant_name(uint16_t tag) const;

 private:
  struct ById {
    uint64_t id;
    uint16_t tag;
    bool operator<(const ById& o) const noexcept { return id < o.id; }
  };
  Insertion insertion_;
  TenantKey tenant_key_;
  bool default_pickup_;
  std::vector<PortSetup> ports_;
  std::vector<TenantConfig> tenants_;
  std::vector<ById> by_id_;  // the tenants of this insertion's kind of id, sorted
};

// Fills in the classifier's value of each tenant of a rule set (its
// pb::Tenant::tag): the connection tenant tag the --tenant list gives the
// tenant's endpoint id or VNI. A tenant of the kind of id this dataplane
// does not key by (or any tenant, inline) gets a value no packet carries.
// False, naming the tenant, when the policy's tenant is of this
// dataplane's kind but not in its --tenant list, or is there under another
// name: its traffic would share connection tags with other endpoints.
// Main lcore or the control channel's thread, off the fast path.
bool resolve_tenants(const InsertionConfig& cfg, pb::CompiledRuleSet& set, std::string& error);

// What open_tunnels() saw in one burst.
struct ReceiveCounts {
  uint32_t tunnelled = 0;
  uint32_t by_tunnel[2] = {};  // VXLAN's external and internal tunnels; 0 for GENEVE
  uint32_t arp_answered = 0;
  uint32_t health_answered = 0;
  uint32_t unknown_options = 0;
  uint64_t bytes = 0;
};

// `healthy`: every worker is running its loop (health checks are answered).
void open_tunnels(Burst& b, const Appliance& appliance, const PortSetup& port, bool healthy,
                  ReceiveCounts& counts) noexcept;

}  // namespace bulkhead::dataplane::insertion
