// The control plane daemon's core: the policy store, the dataplanes it
// knows, the ZeroMQ sockets (ROUTER with CURVE for dataplanes, admitted by a
// ZAP handler against the configured dataplane keys; ROUTER for the CLI on
// an ipc socket with file permissions, or on tcp with CURVE and admitted
// operator keys), the flow collector, and the loop that serves them.
//
// A dataplane is its CurveZMQ key: everything known about it (the name it
// announces, its generation, what was pushed to it) hangs on the key ZAP
// authenticated, never on the routing id its connection uses. A name
// another key already uses is refused; a second connection with a key whose
// first one is live is refused (dead ones are closed by ZMTP heartbeats);
// an Ack counts only for a generation pushed to that key. Each configured
// key is reported as enforcing the current generation, refusing it (with
// the reason), or unreachable. Every message that can be refused is counted
// and logged at a limited rate, with the peer's identity escaped.
//
// With a store in etcd (--store etcd://...), several control planes share
// it and one leads (controlplane/leadership.h): only the leader pushes to
// dataplanes, under its term, and changes the store; a standby answers
// reads from the store as etcd holds it and passes changes on to the
// leader's CLI endpoint (on a thread of their own), relaying its answer;
// with no leader known or reachable it refuses them, saying why. A
// forwarded change is never forwarded again. A newly elected leader reads
// the store again and pushes its current generation to every dataplane
// behind it. A watch on the store's
// keys (controlplane/etcd_watch.h) wakes the loop: a standby campaigns as
// soon as the leader key is deleted and reads the store again when its
// current pointer moves, so its CLI reads are answered from that view
// without asking etcd (unless the watch is down).
//
// Threading: run() owns everything on the calling thread; the watch has its
// threads and hands updates over through a queue and an eventfd; the ZAP handler
// runs on a thread of its own and only reads the immutable key sets; the
// flow collector has its own threads (records, and flow queries, whose
// replies run() relays) and locks; changes passed on to the leader have
// theirs (forwards_), whose replies run() relays too.
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

#include "common/metrics_server.h"
#include "common/prometheus.h"
#include "common/keys.h"
#include "common/rate_limit.h"
#include "controlplane/etcd_store.h"
#include "controlplane/etcd_watch.h"
#include "controlplane/flow_collector.h"
#include "controlplane/leadership.h"
#include "controlplane/reply_thread.h"
#include "controlplane/store.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane {

struct ServerConfig {
  std::string store_dir;                    // a directory, or etcd://HOST:PORT[,HOST:PORT...][/PREFIX]
  std::string state_dir;                    // local state beside an etcd store (the flow store's snapshot)
  std::string name;                         // this control plane among those sharing an etcd store
  int64_t lease_ttl_s = 5;                  // its leadership lease
  std::string listen = "tcp://0.0.0.0:7300";
  std::string key_file;                     // this control plane's key pair
  std::vector<std::string> dataplane_keys;  // public key files admitted
  std::string cli = "ipc:///run/bulkhead/controlplane.sock";
  std::vector<std::string> cli_keys;        // public key files of remote operators (a tcp:// CLI endpoint)
  std::string flow_listen;                  // "": no flow collection
  std::string flow_log;                     // JSON lines of every flow record ("": none)
  flows::FlowLogOptions flow_log_limits;    // its size and rate caps
  std::optional<flows::SyslogTarget> flow_syslog;  // every flow record to a syslog collector (none: no)
  flows::SyslogOptions flow_syslog_options;
  size_t flow_capacity = 2'000'000;         // aggregates kept (in memory)
  std::optional<flows::ClickHouseTarget> flow_clickhouse;  // the flows in ClickHouse (none: in memory)
  size_t flow_store_buffer = 1'000'000;     // with ClickHouse: aggregates held while it is slow or away
  int64_t flow_retention_s = 30 * 24 * 3600;
  std::string metrics_listen;               // Prometheus /metrics on ADDR:PORT ("": none)
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
    std::string key;       // Z85 public key: who it is
    pb::DataplaneInfo info;
    std::string route;     // routing id of its connection ("": none yet)
    std::chrono::steady_clock::time_point last_seen{};  // {}: never
    uint64_t pushed = 0;   // generation last pushed
    std::chrono::steady_clock::time_point pushed_at;
    bool pushed_change = false;   // the last push was a change, not the whole set
    uint64_t refused_change = 0;  // a generation whose change it refused: it gets the whole set
    std::set<uint64_t> pushed_generations;  // the last few pushed to it: the Acks it may send
    uint64_t refused = 0;  // a generation it refused whole, and why
    std::string refusal;
  };

  Server() = default;
  void zap_loop();
  // One message from the dataplanes' socket (all its frames), or the CLI's.
  void read_dataplane_message();
  void read_cli_message();
  // Sends the CLI the replies worked out off the loop (`from`: flow
  // queries, changes passed on to the leader), each [route][reply].
  void relay_replies(zmq::socket_t& from);
  void on_dataplane(const std::string& route, const std::string& key, const std::string& address,
                    const pb::ControlMessage& m);
  // Counts and logs (rate-limited) a refused dataplane message; `dp` when
  // the sender's key is known.
  void refuse(Dataplane* dp, const std::string& why);
  void note(const std::string& line);
  // The compiled set of the store's current generation (cached), or null.
  const pb::CompiledRuleSet* current_set();
  // Makes `set` the cached current one; the one before becomes the base of
  // the change made here.
  void adopt(pb::CompiledRuleSet set);
  // The current set as a change of the one before, for a dataplane that
  // runs that one, or null.
  const pb::PushRuleSet* change_for(const Dataplane& dp);
  // `sent_at_ns`: when this generation's distribution started (steady clock).
  void push(Dataplane& dp, int64_t sent_at_ns);
  // Pushes the current generation to every connected dataplane: `all` for
  // a new generation, `owing` to those that owe it (owes_push) after an
  // election or a leader's re-read of the store.
  enum class PushTo { all, owing };
  void push_connected(PushTo to);
  bool connected(const Dataplane& dp, std::chrono::steady_clock::time_point now) const;
  // The newest generation any dataplane reported, and the dataplane.
  uint64_t dataplanes_newest(std::string* who = nullptr) const;
  // Empty, or what to do because the store is behind its dataplanes.
  std::string store_behind() const;
  void fill_status(pb::CliResponse& r);
  // Renders the metrics (controlplane/metrics.cpp) for the metrics thread
  // to serve; on run()'s thread, at most every kMetricsPeriod.
  void refresh_metrics();
  // `author`: who sent it; `from_peer`: a control plane of this deployment
  // did (the control planes' key, or their uid on an ipc socket), so what it
  // says of a request it forwards is believed. Nothing when the answer
  // comes later, through forwards_ (a change passed on to the leader).
  std::optional<pb::CliResponse> on_cli(const pb::CliRequest& req, const std::string& author, bool from_peer,
                                        const std::string& route);
  // Passes a change on to the leader (`leader`), off the loop; false when
  // too many wait already.
  bool forward(const pb::CliRequest& req, const std::string& author, const ControllerRecord& leader,
               const pb::CliResponse& base, const std::string& route);
  // Leadership (an etcd store only; a file store always leads, term 0).
  bool leading() const { return !leadership_ || leadership_->leading(); }
  // Whether dp should be pushed the current generation now (docs/ha.md).
  bool owes_push(const Dataplane& dp, uint64_t current) const;
  uint64_t term() const { return leadership_ ? static_cast<uint64_t>(leadership_->term()) : 0; }
  void lead_tick();
  // Takes the watch's updates: a leader key changed or a resync makes the
  // next lead_tick() run at once; the current pointer moved or a resync
  // makes a standby read the store again.
  void on_watch();
  // A change whose request id a stored generation holds: fills `r` with
  // that generation (already applied, nothing stored), or with an error
  // when the id made another change, and returns true; false when no
  // generation holds the id.
  bool answer_applied(const pb::CliRequest& req, pb::CliResponse& r);
  // Why a standby refuses a change, and where to send it.
  std::string standby_refusal() const;

  ServerConfig cfg_;
  std::unique_ptr<PolicyStore> store_;
  EtcdBackend* etcd_ = nullptr;  // the store's backend when it is etcd
  std::unique_ptr<Leadership> leadership_;
  std::chrono::steady_clock::time_point lead_due_{};
  std::unique_ptr<EtcdWatch> watch_;  // an etcd store only
  bool store_stale_ = false;          // a re-read the watch asked for failed
  bool leader_key_changed_ = false;   // the watch saw it: lead_tick() runs at once
  std::map<std::string, std::string> allowed_;      // Z85 key -> key file name, dataplanes
  std::map<std::string, std::string> cli_allowed_;  // Z85 key -> key file name, remote operators
  zmq::context_t ctx_{1};
  std::unique_ptr<zmq::socket_t> zap_, dataplanes_, cli_;
  std::unique_ptr<FlowCollector> flows_;
  common::CurveKeys own_;  // this control plane's key pair (shared by the control planes of one deployment)
  // Changes a standby passes on to the leader; forwards_stop_ cuts one
  // under way short at stop.
  std::unique_ptr<ReplyThread> forwards_;
  std::atomic<bool> forwards_stop_{false};
  std::thread zap_thread_;
  std::atomic<bool> zap_stop_{false};
  std::map<std::string, Dataplane> known_;        // by key: every configured dataplane
  std::map<std::string, std::string> names_;      // announced id -> the key that uses it
  uint64_t refused_messages_ = 0;
  common::LogLimit log_limit_{10, std::chrono::seconds(1)};
  uint64_t behind_reported_ = 0;  // the dataplanes' newest generation last reported as past the store
  std::optional<pb::CompiledRuleSet> current_set_;
  std::vector<std::string> current_rules_;  // encoded (rule_change.h) when a change was made
  std::optional<pb::CompiledRuleSet> previous_set_;  // the set current before
  std::vector<std::string> previous_rules_;
  std::optional<pb::PushRuleSet> change_;  // current_set_ as a change of previous_set_
  bool distribute_ = false;  // a CLI request made a new generation: push it after the reply
  // Metrics: written by run()'s thread; the text is what the metrics
  // thread serves (metrics_mu_).
  uint64_t pushes_full_ = 0, pushes_change_ = 0, acks_ = 0, nacks_ = 0;
  common::prometheus::Histogram apply_latency_{
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
  std::chrono::steady_clock::time_point metrics_at_{};
  std::mutex metrics_mu_;
  std::string metrics_text_;
  std::unique_ptr<common::MetricsServer> metrics_;  // last: stopped first
};

}  // namespace bulkhead::controlplane
