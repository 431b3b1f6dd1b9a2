// The control plane daemon's core: the policy store, the dataplanes it
// knows, the ZeroMQ sockets (ROUTER with CURVE for dataplanes, admitted by a
// ZAP handler against the configured dataplane keys; ROUTER for the CLI on
// an ipc socket with file permissions), the flow collector, and the loop
// that serves them.
//
// Threading: run() owns everything on the calling thread; the ZAP handler
// runs on a thread of its own and only reads the immutable key set; the
// flow collector has its own thread and lock.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "controlplane/flow_collector.h"
#include "controlplane/store.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane {

struct ServerConfig {
  std::string store_dir;
  std::string listen = "tcp://0.0.0.0:7300";
  std::string key_file;                     // this control plane's key pair
  std::vector<std::string> dataplane_keys;  // public key files admitted
  std::string cli = "ipc:///run/bulkhead/controlplane.sock";
  std::string flow_listen;                  // "": no flow collection
  std::string flow_log;                     // JSON lines of every flow record ("": none)
  size_t flow_capacity = 2'000'000;         // aggregates kept
  int64_t flow_retention_s = 30 * 24 * 3600;
};

class Server {
 public:
  // Opens the store, reads the keys and binds the sockets; nullptr with
  // `error` on failure.
  static std::unique_ptr<Server> create(const ServerConfig& cfg, std::string& error);
  ~Server();
  // Serves until stop() (or a signal sets the flag it polls).
  void run(const std::atomic<bool>& stop);

 private:
  struct Dataplane {
    pb::DataplaneInfo info;
    std::chrono::steady_clock::time_point last_seen;
    uint64_t pushed = 0;  // generation last pushed
    std::chrono::steady_clock::time_point pushed_at;
    bool pushed_change = false;   // the last push was a change, not the whole set
    uint64_t refused_change = 0;  // a generation whose change it refused: it gets the whole set
  };

  Server() = default;
  void zap_loop();
  void on_dataplane(const std::string& id, const std::string& user, const std::string& address,
                    const pb::ControlMessage& m);
  // The compiled set of the store's current generation (cached), or null.
  const pb::CompiledRuleSet* current_set();
  // Makes `set` the cached current one; the one before becomes the base of
  // the change made here.
  void adopt(pb::CompiledRuleSet set);
  // The current set as a change of the one before, for a dataplane that
  // runs that one, or null.
  const pb::PushRuleSet* change_for(const Dataplane& dp);
  // `sent_at_ns`: when this generation's distribution started (steady clock).
  void push(const std::string& id, Dataplane& dp, int64_t sent_at_ns);
  void push_all();
  pb::CliResponse on_cli(const pb::CliRequest& req);

  ServerConfig cfg_;
  std::unique_ptr<PolicyStore> store_;
  std::set<std::string> allowed_;  // Z85 public keys of admitted dataplanes
  zmq::context_t ctx_{1};
  std::unique_ptr<zmq::socket_t> zap_, dataplanes_, cli_;
  std::unique_ptr<FlowCollector> flows_;
  std::thread zap_thread_;
  std::atomic<bool> zap_stop_{false};
  std::map<std::string, Dataplane> known_;
  std::optional<pb::CompiledRuleSet> current_set_;
  std::vector<std::string> current_rules_;  // encoded (rule_change.h) when a change was made
  std::optional<pb::CompiledRuleSet> previous_set_;  // the set current before
  std::vector<std::string> previous_rules_;
  std::optional<pb::PushRuleSet> change_;  // current_set_ as a change of previous_set_
  bool distribute_ = false;  // a CLI request made a new generation: push it after the reply
};

}  // namespace bulkhead::controlplane
