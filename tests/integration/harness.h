// An in-process dataplane for integration tests.
//
// The EAL is initialised once per test binary (--no-huge, --in-memory, no
// PCI). Each Harness builds a real Engine over two real ethdev ports made
// from rte_rings (the net_ring PMD): the test enqueues frames on a port's RX
// ring, drives the workers with poll_once(), and reads what the dataplane
// transmitted from the other port's TX ring. Ordering is exact, so stateful
// exchanges (a SYN, then its SYN-ACK) are tested packet by packet.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/engine.h"
#include "tests/common/temp_dir.h"

struct rte_ring;
struct rte_mempool;

namespace bulkhead::test {

using Frame = std::vector<uint8_t>;

// Initialises the EAL once; safe to call from every test.
void init_eal();

class Harness {
 public:
  // Writes `policy_yaml` to a temporary file and loads it. `tweak` may
  // adjust the configuration (timeouts, mode, fragments) before start.
  explicit Harness(const std::string& policy_yaml, uint32_t workers = 1,
                   void (*tweak)(dataplane::Config&) = nullptr);
  ~Harness();

  bool loaded() const { return loaded_; }
  const std::string& error() const { return error_; }

  // Queues a frame as if it arrived on `port` (0 or 1).
  void send(int port, const Frame& frame);
  // Runs worker passes until every RX ring is empty.
  void run();
  // Frames the dataplane transmitted on `port` since the last call.
  std::vector<Frame> received(int port);
  // send + run + received on the other port, for one frame.
  std::vector<Frame> pass(int from_port, const Frame& frame);

  // Rewrites the policy file and reloads it (as SIGHUP does).
  bool reload(const std::string& policy_yaml, std::string* error = nullptr);

  dataplane::Engine& engine() { return *engine_; }
  uint64_t drops(dataplane::DropReason r);
  uint64_t events(dataplane::WorkerCounter c);
  // A rule's counters as telemetry shows them one sweep period later
  // (settle() first).
  dataplane::RuleCounter rule(const std::string& id);
  // Moves the clock one sweep period on while the workers sweep, so every
  // connection's traffic is folded into the rule counters.
  void settle();

 private:
  TempDir dir_;  // holds the policy file
  std::string policy_path_;
  std::unique_ptr<dataplane::Engine> engine_;
  dataplane::PortsSetup ports_;
  rte_ring* rx_[2] = {};
  rte_ring* tx_[2] = {};
  uint16_t port_id_[2] = {};
  rte_mempool* inject_pool_ = nullptr;
  bool loaded_ = false;
  std::string error_;
};

}  // namespace bulkhead::test
