// Port set-up: the packet pool, queues per port, and which worker polls
// which RX queue and transmits on which TX queue.
//
// Called once by the main lcore before the workers start. Every RX queue of
// a port is polled by exactly one worker; packets leave by the pair's other
// port. A TX queue gets a lock only when a device has fewer TX queues than
// workers that transmit to it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <rte_mempool.h>
#include <rte_spinlock.h>

#include "dataplane/config.h"
#include "dataplane/worker.h"

namespace bulkhead::dataplane {

struct PortsSetup {
  rte_mempool* pool = nullptr;
  std::vector<uint16_t> ports;
  std::vector<std::vector<QueueAssignment>> per_worker;
  std::vector<std::unique_ptr<rte_spinlock_t>> tx_locks;
};

bool setup_ports(const Config& cfg, uint32_t workers, PortsSetup& out, std::string& error);
// Stops (and closes, unless `close` is false) the ports, then frees the pool.
void stop_ports(PortsSetup& setup, bool close = true) noexcept;

}  // namespace bulkhead::dataplane
