// The dataplane's end of the control channel: a thread with a ZeroMQ DEALER
// socket (CurveZMQ client; it accepts only the configured control-plane
// key) that says Hello, receives rule sets, applies them and acknowledges.
//
// A push is applied only when its generation is higher than the one
// enforced (replays and reordering are refused with a Nack), and
// acknowledged only after Engine::apply (or apply_change, for a push that
// is a change of the running generation) returned, i.e. after the swap and
// its grace period: an Ack means every worker enforces the generation. The
// set is written to the state directory after the Ack; a set built as a
// change is rebuilt in full once pushes pause.
// Malformed, oversized, stale or invalid messages (control_message.h) are
// refused with a Nack, counted and logged at a limited rate; the active rule
// set never changes because of them. A failed CURVE handshake (the wrong
// server key, or this dataplane's key not admitted) is counted and logged. When the control
// plane is away, nothing changes: enforcement goes on, the socket reconnects.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/channel.h"
#include "dataplane/control_message.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::dataplane {

class Engine;

struct UpdaterConfig {
  ChannelConfig channel;
  size_t max_message_bytes = 256u << 20;
};

struct UpdaterStats {
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> rejected_malformed{0};
  std::atomic<uint64_t> rejected_stale{0};
  std::atomic<uint64_t> rejected_invalid{0};
  std::atomic<uint64_t> last_apply_us{0};
  ChannelCounters channel;
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
  ChannelIdentity who_;
  Engine& engine_;
  UpdaterStats stats_;
  ChannelThread thread_;  // last: stopped before the rest goes
};

}  // namespace bulkhead::dataplane
