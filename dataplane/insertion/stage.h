// One-armed insertion's two stages of the worker loop (dataplane/worker.cpp):
// open_tunnels() in place of the parse stage, close_tunnels() just before
// transmit.
//
//   open_tunnels   reads every frame's outer headers (encap.h); answers an
//                  ARP request for the appliance's address and health checks
//                  (health.h) in place (the answer leaves like a passed
//                  packet); parses a tunnelled
//                  packet's inner packet, which every later stage judges
//                  (Burst::view says where it starts); gives everything else
//                  a drop reason.
//   close_tunnels  turns every passed tunnelled packet into its echo toward
//                  the load balancer.
//
// The per-port settings (Appliance) are built once at start-up and read-only
// afterwards; the stages run on a worker's own burst and allocate nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/burst.h"
#include "dataplane/config.h"
#include "dataplane/insertion/encap.h"

namespace bulkhead::dataplane::insertion {

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

 private:
  Insertion insertion_;
  std::vector<PortSetup> ports_;
};

// What open_tunnels() saw in one burst.
struct ReceiveCounts {
  uint32_t tunnelled = 0;
  uint32_t by_tunnel[2] = {};  // VXLAN: external, internal
  uint32_t arp_answered = 0;
  uint32_t health_answered = 0;
  uint32_t unknown_options = 0;
  uint64_t bytes = 0;
};

// `healthy`: every worker is running its loop (health checks are answered).
void open_tunnels(Burst& b, Encap* encap, const PortSetup& port, bool healthy, ReceiveCounts& counts) noexcept;

// Returns the number of echoes made.
uint16_t close_tunnels(Burst& b, const Encap* encap, const PortSetup& port) noexcept;

}  // namespace bulkhead::dataplane::insertion
