// What the dataplane's sockets to the control plane share: the keys and the
// identity read once at start, the helper thread that owns each socket, and
// the CurveZMQ client set-up (the only server accepted is the configured
// control-plane key) with a watch on its handshakes. Used by the control
// channel (updater.h) and the flow exporter (flow_export.h).
//
// Threading: a ChannelThread is started and stopped by its owner's thread;
// the CurveClient lives on the helper thread; its counter may be read from
// any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "dataplane/log.h"

namespace bulkhead::dataplane {

// Where a socket connects and with which keys, as configured.
struct ChannelConfig {
  std::string endpoint;         // e.g. tcp://10.0.0.1:7300
  std::string server_key_file;  // the control plane's public key
  std::string key_file;         // this dataplane's key pair
  std::string id;               // dataplane identity (default: host name)
};

struct ChannelIdentity {
  std::string server_public;  // the control plane's public key (Z85)
  std::string public_key;     // this dataplane's key pair (Z85)
  std::string secret_key;
  std::string id;             // the configured name, else the host name
};

// Reads the key files; false with `error` when one is missing or malformed.
bool load_channel_identity(const ChannelConfig& cfg, ChannelIdentity& out, std::string& error);

// What a CurveClient counts; read by telemetry from any thread.
struct ChannelCounters {
  std::atomic<uint64_t> handshake_failures{0};
  std::atomic<uint64_t> connections_lost{0};  // established connections that dropped
};

// A helper thread with every signal blocked and a stop flag its body polls.
class ChannelThread {
 public:
  ~ChannelThread() { stop(); }
  void start(std::function<void()> body);
  // Sets the flag and joins; idempotent.
  void stop();
  bool stopping() const noexcept { return stop_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// One CurveZMQ client socket of the control plane that reconnects by itself
// (200 ms, backing off to 2 s), and a monitor of its connections: a
// handshake that fails — the control plane closed the connection before the
// handshake ended (its key is not the one in --controlplane-key, or it is
// not a Bulkhead control plane), or it refused this dataplane's key — is
// counted and logged at most once every 10 seconds. An established
// connection that drops is counted and connected afresh: ZeroMQ itself
// gives up on a connection that broke its protocol (a frame larger than
// the socket's maxmsgsize), and a dataplane must never be cut off from its
// control plane for good by what it was sent.
class CurveClient {
 public:
  // `what` names the channel in log lines ("control channel").
  CurveClient(zmq::context_t& ctx, zmq::socket_type type, const ChannelIdentity& who, const char* what,
              ChannelCounters& counters);
  ~CurveClient();
  // Connects; false with `error` for an endpoint ZeroMQ cannot use.
  bool connect(const std::string& endpoint, std::string& error);
  zmq::socket_t& socket() noexcept { return sock_; }
  // Reads the monitor's events (call in the thread's loop; never blocks).
  void watch();
  // A connection is up and past its handshake (as of the last watch()).
  bool established() const noexcept { return handshaked_; }

 private:
  void reconnect();
  std::string what_;
  std::string endpoint_;
  zmq::socket_t sock_;
  zmq::socket_t monitor_;
  bool connected_ = false;   // a connection is up whose handshake has not ended
  bool handshaked_ = false;  // a connection is up and past its handshake
  ChannelCounters& counters_;
  RateLimit limit_{1, 10};
  RateLimit lost_limit_{1, 10};
};

}  // namespace bulkhead::dataplane
