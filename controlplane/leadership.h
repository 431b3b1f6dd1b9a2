// Leadership among the controllers sharing a store in etcd (docs/ha.md).
// Each controller holds an etcd lease (TTL a few seconds, renewed every
// third of it) and registers itself under P/controllers/ID with it. One
// leads: it created P/leader with its lease in a transaction that succeeds
// only when the key does not exist (create revision 0). The key's create
// revision is the term: etcd revisions only grow, so a later leader's term
// is always higher, and the store's writes are fenced on it
// (etcd_store.h). A standby tries that transaction whenever its owner
// calls tick(): the control plane's watch on the store's keys
// (etcd_watch.h) makes that happen as soon as the leader key is deleted
// (the leader's lease lapsed or was revoked), and a slow poll (every
// renew_period() while the watch delivers, poll_period() while it is down)
// is the safety net for a watch that missed the delete.
//
// A leader that cannot renew its lease for longer than the lease stands
// down by itself (it cannot know whether etcd still counts it); the fence
// makes any write it still attempts fail either way.
//
// Thread-safety: one owner thread calls tick() and the rest.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/etcd_client.h"
#include "controlplane/etcd_watch.h"

namespace bulkhead::controlplane {

struct ControllerRecord {
  std::string id;
  std::string cli;     // its CLI endpoint
  std::string listen;  // its dataplane endpoint
  int64_t started_at = 0;
  bool leader = false;
};

class Leadership {
 public:
  struct Config {
    EtcdTarget target;
    ControllerRecord self;  // id, cli, listen, started_at
    int64_t lease_ttl_s = 5;
  };
  enum class Change { none, elected, deposed };

  explicit Leadership(Config cfg);
  ~Leadership();  // resigns: a standby takes over without waiting for the lease

  // Renews the lease and campaigns when due; call at least every
  // poll_period(). Returns what changed: `elected` whenever it leads under
  // a term it did not lead under before the call, also when it led under
  // another one (that term lapsed and it won the next at once).
  Change tick(std::chrono::steady_clock::time_point now);
  std::chrono::milliseconds poll_period() const;
  // How often the lease is renewed: a third of it.
  std::chrono::milliseconds renew_period() const { return std::chrono::milliseconds(cfg_.lease_ttl_s * 1000 / 3); }

  bool leading() const { return term_ != 0; }
  int64_t term() const { return term_; }
  // The leader as last seen by tick() (id empty: none seen).
  const ControllerRecord& leader() const { return leader_; }
  int64_t leader_term() const { return leader_term_; }
  // Every registered controller, the leader marked: from the view the
  // watch keeps (watched()) when `watched` says it delivers and the view
  // was read since its last resync, else read now (and the view rebuilt).
  bool controllers(std::vector<ControllerRecord>& out, std::string& error, bool watched = false);
  // A change of a key under the prefix, from the watch: keeps the view of
  // the controllers and the leader key current.
  void watched(const WatchEvent& e);
  // The watch may have missed changes: the next controllers() reads etcd.
  void forget_view() { view_read_ = false; }
  const std::string& last_error() const { return last_error_; }

  // Gives up leadership and the lease (clean shutdown).
  void resign();

 private:
  bool ensure_lease(std::chrono::steady_clock::time_point now);
  void campaign();
  static std::string record_json(const ControllerRecord& r);
  static ControllerRecord parse_record(const std::string& json);

  Config cfg_;
  EtcdClient client_;
  int64_t lease_ = 0;
  std::chrono::steady_clock::time_point renewed_{};  // the last successful grant or renewal
  std::chrono::steady_clock::time_point renew_due_{};
  int64_t term_ = 0;
  ControllerRecord leader_;
  int64_t leader_term_ = 0;
  std::string last_error_;
  // The watched view: controllers by key, and the leader key's value
  // (empty: none); each with the revision it was read at, so that an
  // event older than the read does not undo it.
  struct Viewed {
    std::string value;
    int64_t revision = 0;
  };
  std::map<std::string, Viewed> view_;  // by key; an empty value: deleted
  bool view_read_ = false;
};

}  // namespace bulkhead::controlplane
