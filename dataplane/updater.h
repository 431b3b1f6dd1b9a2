// The dataplane's end of the control channel: a thread with a ZeroMQ DEALER
// socket to each configured control plane (CurveZMQ client; it accepts only
// that control plane's key) that says Hello to each, receives rule sets,
// applies them and acknowledges to the sender.
//
// A push is applied only when its generation is higher than the one
// enforced (replays and reordering are refused with a Nack), and
// acknowledged only after Engine::apply (or apply_change, for a push that
// is a change of the running generation) returned, i.e. after the swap and
// its grace period: an Ack means every worker enforces the generation. The
// set is written to the state directory after the Ack; a set built as a
// change is rebuilt in full once pushes pause.
// Several control planes elect a leader (docs/ha.md): a push under a leader
// term lower than the highest accepted is refused (a deposed leader, or a
// control plane that does not elect, term 0, after one that does); the
// highest term is kept in the state directory before the Ack, so a restart
// still refuses a deposed leader. The dataplane follows the control plane
// whose push it accepted under the highest term (before any, the first
// that connected); its flow records go there (flows_to, read by the flow
// exporter), or, while that one's connection is down, to the first still
// connected.
// Malformed, oversized, stale or invalid messages (control_message.h) are
// refused with a Nack, counted and logged at a limited rate; the active rule
// set never changes because of them. A failed CURVE handshake (the wrong
// server key, or this dataplane's key not admitted) is counted and logged. When the control
// plane is away, nothing changes: enforcement goes on, the socket reconnects.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/channel.h"
#include "dataplane/control_message.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::dataplane {

class Engine;

struct UpdaterConfig {
  std::vector<ChannelConfig> channels;  // one per control plane, in the configured order
  size_t max_message_bytes = 256u << 20;
};

// One control plane's session, as telemetry shows it. `endpoint` is set
// before the thread starts; the rest is written by the thread.
struct ControlPlaneStats {
  std::string endpoint;
  std::atomic<bool> connected{false};    // past its CURVE handshake
  std::atomic<uint64_t> applied{0};      // its pushes enforced
  std::atomic<uint64_t> deposed{0};      // its pushes refused for their leader term
  std::atomic<uint64_t> last_term{0};    // the leader term of its last push
};

struct UpdaterStats {
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> rejected_malformed{0};
  std::atomic<uint64_t> rejected_stale{0};
  std::atomic<uint64_t> rejected_invalid{0};
  std::atomic<uint64_t> rejected_deposed{0};
  std::atomic<uint64_t> last_apply_us{0};
  std::atomic<uint64_t> leader_term{0};        // the highest accepted
  std::atomic<uint64_t> term_write_failures{0};
  std::atomic<int> followed{-1};  // index into control_planes; -1: none yet
  std::atomic<int> flows_to{0};   // where flow records go (flow_export.h)
  std::deque<ControlPlaneStats> control_planes;  // sized before the thread starts
  ChannelCounters channel;  // every session's, summed
};

class Updater {
 public:
  ~Updater();
  // Reads the keys and starts the thread; nullptr with `error` on failure.
  static std::unique_ptr<Updater> start(const UpdaterConfig& cfg, Engine& engine, std::string& error);
  void stop();
  const UpdaterStats& stats() const { return stats_; }

 private:
  Updater(Engine& engine) : engine_(engine) {}
  void run();

  UpdaterConfig cfg_;
  std::vector<ChannelIdentity> who_;  // one per control plane
  Engine& engine_;
  UpdaterStats stats_;
  ChannelThread thread_;  // last: stopped before the rest goes
};

}  // namespace bulkhead::dataplane
