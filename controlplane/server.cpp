#include "controlplane/server.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <iostream>
#include <utility>

#include "common/keys.h"
#include "common/protobuf_log.h"
#include "common/request_id.h"
#include "common/sha256.h"
#include "common/text.h"
#include "common/threads.h"
#include "controlplane/cli_client.h"
#include "controlplane/dataplane_message.h"
#include "controlplane/rule_change.h"
#include "rules/analysis.h"
#include "rules/load.h"

namespace bulkhead::controlplane {
namespace {

constexpr uint32_t kVersion = kChannelVersion;
constexpr auto kConnectedWithin = std::chrono::seconds(3);
// A connection that said something this recently is live: a second
// connection with its key is refused meanwhile (Hellos come every second).
constexpr auto kRouteLiveWithin = std::chrono::milliseconds(2500);
constexpr auto kRepushAfter = std::chrono::seconds(2);
constexpr size_t kPushedKept = 32;
constexpr size_t kMessagesPerWake = 256;
// How stale the served metrics may be, at most (plus one poll).
constexpr auto kMetricsPeriod = std::chrono::milliseconds(250);
constexpr const char* kDataplaneDomain = "bulkhead";
constexpr const char* kCliDomain = "bulkhead-cli";
// The author ZAP names a CLI peer holding the control planes' own key: a
// standby passing a change on (docs/ha.md).
constexpr const char* kPeerControlPlane = "control plane";
// A change passed on to the leader: a connection within kForwardConnect
// (else it was not sent), an answer within kForwardAnswer (the CLI waits
// 30 s), at most kMaxWaitingForwards waiting behind the one under way.
constexpr auto kForwardConnect = std::chrono::seconds(2);
constexpr auto kForwardAnswer = std::chrono::seconds(25);
constexpr size_t kMaxWaitingForwards = 8;

int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string z85(const std::string& raw) {
  char out[41] = {};
  if (raw.size() != 32 || zmq_z85_encode(out, reinterpret_cast<const uint8_t*>(raw.data()), 32) == nullptr) return {};
  return out;
}

// zmq::poll, or a blocking receive, throws EINTR when a signal lands; the
// loops poll their stop flags instead.
bool poll_interrupted(zmq::pollitem_t* items, size_t n, std::chrono::milliseconds timeout) {
  try {
    zmq::poll(items, n, timeout);
    return false;
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
    return true;
  }
}

std::string ipc_path(const std::string& endpoint) {
  return endpoint.rfind("ipc://", 0) == 0 ? endpoint.substr(6) : std::string();
}

// "dp1" for ".../dp1.pub": how a key is named in status and logs.
std::string key_name(const std::string& file) {
  std::string base = file.substr(file.rfind('/') + 1);
  if (base.size() > 4 && base.compare(base.size() - 4, 4, ".pub") == 0) base.resize(base.size() - 4);
  return base;
}

// Reads admitted public key files into `out` (key -> name).
bool read_admitted(const std::vector<std::string>& files, std::map<std::string, std::string>& out,
                   std::string& error) {
  for (const auto& f : files) {
    common::CurveKeys k;
    if (!common::read_curve_keys(f, false, k, error)) return false;
    if (!out.emplace(k.public_key, key_name(f)).second) {
      error = f + ": the same key as " + out[k.public_key] + "; each key is one dataplane";
      return false;
    }
  }
  return true;
}

// A connection property of a received message, or null (zmq::message_t's
// gets() throws when the property is absent).
const char* property(zmq::message_t& m, const char* name) { return zmq_msg_gets(m.handle(), name); }

// The authenticated author of a CLI request: the peer's uid on the ipc
// socket (ZeroMQ reads it with SO_PEERCRED into the Peer-Address
// "host:UID:GID:PID"), or the operator key ZAP admitted.
std::string cli_author(zmq::message_t& body) {
  const char* user = property(body, "User-Id");
  if (user != nullptr && *user) return user;
  const char* peer = property(body, "Peer-Address");
  const auto uid = peer ? peer_uid(peer) : std::nullopt;
  if (!uid) return {};
  const std::string uid_text = std::to_string(*uid);
  std::string name;
  passwd pw{}, *found = nullptr;
  char buf[4096];
  if (getpwuid_r(static_cast<uid_t>(*uid), &pw, buf, sizeof(buf), &found) == 0 && found != nullptr) name = found->pw_name;
  return "uid " + uid_text + (name.empty() ? std::string() : " (" + name + ")");
}

}  // namespace

std::unique_ptr<Server> Server::create(const ServerConfig& cfg, std::string& error) {
  common::limit_protobuf_logs("bulkhead-controlplane");
  std::unique_ptr<Server> s(new Server());
  s->cfg_ = cfg;
  std::vector<std::string> warnings;
  if (is_etcd_url(cfg.store_dir)) {
    EtcdTarget target;
    if (!parse_etcd_url(cfg.store_dir, target, error)) {
      error = "--store " + cfg.store_dir + ": " + error;
      return nullptr;
    }
    if (!cfg.flow_listen.empty() && cfg.state_dir.empty()) {
      error = "with a store in etcd, --flow-listen needs --state-dir (where the flow store's snapshot is kept)";
      return nullptr;
    }
    auto backend = std::make_unique<EtcdBackend>(target);
    s->etcd_ = backend.get();
    s->store_ = PolicyStore::open(std::move(backend), error, &warnings);
    if (!s->store_) {
      error = "the store in " + cfg.store_dir + ": " + error;
      return nullptr;
    }
    Leadership::Config lc;
    lc.target = target;
    lc.self = {cfg.name, cfg.cli, cfg.listen, unix_now(), false};
    lc.lease_ttl_s = cfg.lease_ttl_s;
    s->leadership_ = std::make_unique<Leadership>(std::move(lc));
    EtcdWatch::Config wc;
    wc.endpoints = target.endpoints;
    wc.prefix = target.prefix + "/";
    s->watch_ = std::make_unique<EtcdWatch>(std::move(wc));
  } else {
    s->store_ = PolicyStore::open(cfg.store_dir, error, &warnings);
    if (!s->store_) return nullptr;
  }
  for (const auto& w : warnings) std::cerr << "bulkhead-controlplane: " << w << '\n';
  common::CurveKeys& own = s->own_;
  if (!common::read_curve_keys(cfg.key_file, true, own, error)) return nullptr;
  if (!read_admitted(cfg.dataplane_keys, s->allowed_, error)) return nullptr;
  if (!read_admitted(cfg.cli_keys, s->cli_allowed_, error)) return nullptr;
  if (s->allowed_.empty()) {
    error = "no dataplane keys configured (--dataplane-key FILE): no dataplane could connect";
    return nullptr;
  }
  const bool remote_cli = cfg.cli.rfind("tcp://", 0) == 0;
  if (remote_cli && s->cli_allowed_.empty()) {
    error = "a tcp:// CLI endpoint needs the operators' keys (--cli-key FILE)";
    return nullptr;
  }
  for (const auto& [key, name] : s->allowed_) {
    Dataplane& dp = s->known_[key];
    dp.key = key;
    dp.info.set_public_key(key);
    dp.info.set_key_name(name);
  }
  try {
    // The ZAP handler must be bound before any CURVE socket accepts peers.
    s->zap_ = std::make_unique<zmq::socket_t>(s->ctx_, zmq::socket_type::rep);
    s->zap_->bind("inproc://zeromq.zap.01");
    s->zap_thread_ = common::start_thread_without_signals([p = s.get()] { p->zap_loop(); });
    s->dataplanes_ = std::make_unique<zmq::socket_t>(s->ctx_, zmq::socket_type::router);
    s->dataplanes_->set(zmq::sockopt::curve_server, 1);
    s->dataplanes_->set(zmq::sockopt::curve_secretkey, own.secret_key);
    s->dataplanes_->set(zmq::sockopt::zap_domain, kDataplaneDomain);
    s->dataplanes_->set(zmq::sockopt::maxmsgsize, int64_t{1} << 20);
    s->dataplanes_->set(zmq::sockopt::linger, 0);
    // No handover: a routing id is never taken from a live connection. Dead
    // connections are found by heartbeats and closed.
    s->dataplanes_->set(zmq::sockopt::heartbeat_ivl, 1000);
    s->dataplanes_->set(zmq::sockopt::heartbeat_timeout, 5000);
    s->dataplanes_->bind(cfg.listen);
    if (!cfg.flow_listen.empty()) {
      CollectorConfig fc;
      fc.listen = cfg.flow_listen;
      fc.secret_key = own.secret_key;
      fc.snapshot_path = (s->etcd_ ? cfg.state_dir : cfg.store_dir) + "/flows.pb";
      fc.jsonl_path = cfg.flow_log;
      fc.log = cfg.flow_log_limits;
      fc.syslog = cfg.flow_syslog;
      fc.syslog_options = cfg.flow_syslog_options;
      fc.store.capacity = cfg.flow_capacity;
      fc.store.retention_ms = cfg.flow_retention_s * 1000;
      fc.clickhouse = cfg.flow_clickhouse;
      fc.clickhouse_options.buffer = cfg.flow_store_buffer;
      fc.clickhouse_options.retention_ms = cfg.flow_retention_s * 1000;
      s->flows_ = FlowCollector::create(s->ctx_, fc, error);
      if (!s->flows_) return nullptr;
    }
    if (s->leadership_) {
      s->forwards_ = ReplyThread::create(s->ctx_, "forward", kMaxWaitingForwards, error);
      if (!s->forwards_) return nullptr;
    }
    s->cli_ = std::make_unique<zmq::socket_t>(s->ctx_, zmq::socket_type::router);
    s->cli_->set(zmq::sockopt::maxmsgsize, int64_t{512} << 20);
    s->cli_->set(zmq::sockopt::linger, 0);
    if (remote_cli) {
      s->cli_->set(zmq::sockopt::curve_server, 1);
      s->cli_->set(zmq::sockopt::curve_secretkey, own.secret_key);
      s->cli_->set(zmq::sockopt::zap_domain, kCliDomain);
    }
    const std::string path = ipc_path(cfg.cli);
    if (!path.empty()) {
      const auto slash = path.rfind('/');
      if (slash != std::string::npos) ::mkdir(path.substr(0, slash).c_str(), 0700);
      ::unlink(path.c_str());
    }
    const mode_t old = ::umask(077);  // only this user may talk to the ipc socket
    s->cli_->bind(cfg.cli);
    ::umask(old);
  } catch (const zmq::error_t& e) {
    error = std::string("cannot set up the sockets: ") + e.what();
    return nullptr;
  }
  if (!cfg.metrics_listen.empty()) {
    Server* raw = s.get();
    s->metrics_ = common::MetricsServer::start(cfg.metrics_listen, [raw] {
      std::lock_guard<std::mutex> lock(raw->metrics_mu_);
      return raw->metrics_text_;
    }, error);
    if (!s->metrics_) {
      error = "--metrics-listen: " + error;
      return nullptr;
    }
    s->refresh_metrics();
  }
  return s;
}

Server::~Server() {
  forwards_stop_ = true;
  forwards_.reset();  // before the context its sockets are on
  leadership_.reset();  // resigns: a standby leads at once, not after the lease
  watch_.reset();
  metrics_.reset();
  flows_.reset();
  zap_stop_ = true;
  if (zap_thread_.joinable()) zap_thread_.join();
  dataplanes_.reset();
  cli_.reset();
  zap_.reset();
  const std::string path = ipc_path(cfg_.cli);
  if (!path.empty()) ::unlink(path.c_str());
}

// ZAP (RFC 27): admit CURVE clients whose public key was configured, each
// socket (domain) with its own keys. The user id ZAP returns is what every
// message of the connection carries: the dataplane's key, or the operator
// key's name.
void Server::zap_loop() {
  common::LogLimit limit(5, std::chrono::seconds(10));
  while (!zap_stop_) {
    zmq::pollitem_t items[] = {{static_cast<void*>(*zap_), 0, ZMQ_POLLIN, 0}};
    if (poll_interrupted(items, 1, std::chrono::milliseconds(100))) continue;
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> parts;
    do {
      parts.emplace_back();
      if (!zap_->recv(parts.back())) break;
    } while (parts.back().more() && parts.size() < 16);
    if (parts.size() < 6) continue;
    const std::string request_id = parts[1].to_string();
    const std::string domain = parts[2].to_string();
    const std::string address = parts[3].to_string();
    const std::string mechanism = parts[5].to_string();
    const std::string key = parts.size() > 6 ? z85(parts[6].to_string()) : "";
    const auto& admitted = domain == kCliDomain ? cli_allowed_ : allowed_;
    const auto it = mechanism == "CURVE" ? admitted.find(key) : admitted.end();
    // On the CLI socket the control planes' own key is admitted too: a
    // standby passes changes on with it.
    const bool peer = domain == kCliDomain && mechanism == "CURVE" && leadership_ && key == own_.public_key;
    const bool ok = it != admitted.end() || peer;
    const std::string user = !ok                   ? std::string()
                             : peer                ? kPeerControlPlane
                             : domain == kCliDomain ? "key " + it->second
                                                   : key;
    zap_->send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(std::string(ok ? "200" : "400")), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(std::string(ok ? "OK" : "key not admitted")), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(user), zmq::send_flags::sndmore);
    zap_->send(zmq::str_buffer(""), zmq::send_flags::none);
    uint64_t suppressed = 0;
    if (!ok && limit.allow(suppressed))
      std::cerr << "bulkhead-controlplane: refused a " << (domain == kCliDomain ? "CLI client" : "dataplane")
                << " from " << common::escaped(address) << " with key " << (key.empty() ? "(none)" : key)
                << (suppressed ? " (" + std::to_string(suppressed) + " refusals not shown)" : "") << '\n';
  }
}

void Server::note(const std::string& line) {
  uint64_t suppressed = 0;
  if (log_limit_.allow(suppressed))
    std::cerr << "bulkhead-controlplane: " << line
              << (suppressed ? " (" + std::to_string(suppressed) + " lines not shown)" : "") << '\n';
}

void Server::refuse(Dataplane* dp, const std::string& why) {
  ++refused_messages_;
  if (dp != nullptr) {
    dp->info.set_refused_messages(dp->info.refused_messages() + 1);
    dp->info.set_last_refusal(why);
  }
  note("refused a message" +
       (dp ? " from the dataplane with key " + dp->info.key_name() + " (" + dp->key + ")" : std::string()) + ": " +
       why);
}

void Server::adopt(pb::CompiledRuleSet set) {
  if (current_set_) {
    previous_set_ = std::move(current_set_);
    previous_rules_ = std::move(current_rules_);
  }
  current_set_ = std::move(set);
  current_rules_.clear();
  change_.reset();
  if (!previous_set_) return;
  // Made now, once, with the apply, for the dataplanes that run the set before.
  if (previous_rules_.empty()) previous_rules_ = encode_rules(*previous_set_);
  current_rules_ = encode_rules(*current_set_);
  pb::PushRuleSet change;
  if (make_change(*previous_set_, previous_rules_, *current_set_, current_rules_, change)) change_ = std::move(change);
}

const pb::CompiledRuleSet* Server::current_set() {
  const uint64_t current = store_->current();
  if (current == 0) return nullptr;
  // Read from disk once per generation (after a restart), not once per
  // dataplane and push.
  if (!current_set_ || current_set_->generation() != current) {
    auto g = store_->get(current);
    if (!g) return nullptr;
    adopt(std::move(*g->mutable_compiled()));
  }
  return &*current_set_;
}

const pb::PushRuleSet* Server::change_for(const Dataplane& dp) {
  if (!previous_set_ || !current_set_ || dp.info.generation() != previous_set_->generation() ||
      dp.refused_change == current_set_->generation())
    return nullptr;
  return change_ ? &*change_ : nullptr;
}

void Server::push(Dataplane& dp, int64_t sent_at_ns) {
  if (!leading()) return;  // a standby never pushes
  const pb::CompiledRuleSet* set = current_set();
  if (set == nullptr || dp.route.empty()) return;
  const uint64_t current = set->generation();
  pb::ControlMessage m;
  m.set_version(kVersion);
  const pb::PushRuleSet* change = change_for(dp);
  if (change != nullptr) *m.mutable_push() = *change;
  else *m.mutable_push()->mutable_rule_set() = *set;
  m.mutable_push()->set_sent_at_ns(sent_at_ns);
  m.mutable_push()->set_leader_term(term());
  const std::string data = m.SerializeAsString();
  dataplanes_->send(zmq::buffer(dp.route), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  dataplanes_->send(zmq::buffer(data), zmq::send_flags::dontwait);
  dp.pushed = current;
  dp.pushed_at = std::chrono::steady_clock::now();
  dp.pushed_change = change != nullptr;
  ++(change != nullptr ? pushes_change_ : pushes_full_);
  dp.pushed_generations.insert(current);
  while (dp.pushed_generations.size() > kPushedKept) dp.pushed_generations.erase(dp.pushed_generations.begin());
}

bool Server::connected(const Dataplane& dp, std::chrono::steady_clock::time_point now) const {
  return dp.last_seen != std::chrono::steady_clock::time_point{} && now - dp.last_seen < kConnectedWithin;
}

void Server::push_connected(PushTo to) {
  // The acknowledgement latency counts from here.
  const int64_t started = steady_ns();
  const auto now = std::chrono::steady_clock::now();
  for (auto& [key, dp] : known_)
    if (connected(dp, now) && (to == PushTo::all || owes_push(dp, store_->current()))) push(dp, started);
}

uint64_t Server::dataplanes_newest(std::string* who) const {
  uint64_t newest = 0;
  for (const auto& [key, dp] : known_) {
    if (dp.info.generation() > newest) {
      newest = dp.info.generation();
      if (who) *who = dp.info.id().empty() ? dp.info.key_name() : dp.info.id();
    }
  }
  return newest;
}

std::string Server::store_behind() const {
  std::string who;
  const uint64_t newest = dataplanes_newest(&who);
  const uint64_t current = store_->current();
  if (newest <= current) return {};
  return "the store's newest generation is " + std::to_string(current) + " but dataplane " + common::escaped(who) +
         " runs generation " + std::to_string(newest) +
         ": the dataplanes refuse every generation up to it. Number past it with `bulkhead renumber` (the store's "
         "current policy) or `bulkhead apply FILE --renumber`";
}

bool Server::owes_push(const Dataplane& dp, uint64_t current) const {
  // Behind: new, restarted, or a push was lost. Under an older leader's
  // term: pushed again under this leader's, it follows this one (its flows
  // come here) from now, not from the next change. Never what it refused.
  const bool behind = dp.info.generation() < current;
  const bool older_leader = current != 0 && dp.info.generation() == current && term() > dp.info.leader_term();
  return (behind || older_leader) && dp.refused != current;
}

void Server::on_dataplane(const std::string& route, const std::string& key, const std::string& address,
                          const pb::ControlMessage& m) {
  const auto found = known_.find(key);
  if (found == known_.end()) {
    refuse(nullptr, "a key that is not configured (" + common::escaped(key) + ")");
    return;
  }
  Dataplane& dp = found->second;
  const auto now = std::chrono::steady_clock::now();
  // One connection per key: a second one while the first is live is
  // refused, never allowed to take the first one's place unseen.
  if (!dp.route.empty() && dp.route != route && now - dp.last_seen < kRouteLiveWithin) {
    refuse(&dp, "a second connection" + (address.empty() ? std::string() : " from " + common::escaped(address)) +
                    " while its connection from " + common::escaped(dp.info.address()) + " is live");
    return;
  }
  if (m.has_hello()) {
    std::string name = m.hello().dataplane_id();
    if (name.empty()) name = dp.info.key_name();
    const auto owner = names_.find(name);
    if (owner != names_.end() && owner->second != key) {
      refuse(&dp, "it calls itself " + common::escaped(name) + ", the name of the dataplane with key " +
                      known_[owner->second].info.key_name());
      return;
    }
    if (dp.info.id() != name) {
      if (!dp.info.id().empty()) names_.erase(dp.info.id());
      names_[name] = key;
      dp.info.set_id(name);
    }
  }
  if (m.has_ack() && dp.pushed_generations.count(m.ack().generation()) == 0) {
    refuse(&dp, "an Ack of generation " + std::to_string(m.ack().generation()) + ", which was never pushed to it");
    return;
  }
  if (dp.route != route) {
    if (!dp.route.empty()) dp.pushed = 0;  // a new connection: what went to the old one may be lost
    dp.route = route;
  }
  if (!address.empty()) dp.info.set_address(address);
  dp.last_seen = now;
  dp.info.set_last_seen(unix_now());
  const uint64_t current = store_->current();
  if (m.has_hello()) {
    dp.info.set_generation(m.hello().generation());
    dp.info.set_uptime_s(m.hello().uptime_s());
    dp.info.set_rejected_messages(m.hello().rejected_messages());
    dp.info.set_leader_term(m.hello().leader_term());
    // What status shows of it, bounded: a dataplane's own words.
    constexpr int kMaxCounters = 64;
    constexpr size_t kMaxName = 64;
    const auto& ins = m.hello().insertion();
    auto* kept = dp.info.mutable_insertion();
    kept->Clear();
    kept->set_mode(ins.mode().substr(0, kMaxName));
    for (int k = 0; k < ins.counters_size() && k < kMaxCounters; ++k) {
      auto* c = kept->add_counters();
      c->set_name(ins.counters(k).name().substr(0, kMaxName));
      c->set_value(ins.counters(k).value());
    }
    dp.info.clear_names();
    for (int k = 0; k < m.hello().names_size() && k < kMaxCounters; ++k) {
      auto* c = dp.info.add_names();
      c->set_name(m.hello().names(k).name().substr(0, kMaxName));
      c->set_value(m.hello().names(k).value());
    }
    // Pushed at once, and again if no Ack came.
    if (owes_push(dp, current) && (dp.pushed != current || now - dp.pushed_at > kRepushAfter))
      push(dp, steady_ns());
  } else if (m.has_ack()) {
    dp.info.set_generation(m.ack().generation());
    dp.info.set_acked_at(unix_now());
    dp.info.set_apply_us(m.ack().apply_us());
    const int64_t sent = m.ack().sent_at_ns();
    const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    ++acks_;
    if (sent > 0 && now_ns > sent) {
      dp.info.set_ack_latency_us(static_cast<uint64_t>((now_ns - sent) / 1000));
      apply_latency_.observe(static_cast<double>(now_ns - sent) / 1e9);
    }
  } else if (m.has_nack()) {
    ++nacks_;
    const uint64_t g = m.nack().generation();
    dp.info.set_generation(m.nack().running_generation());
    dp.info.set_last_nack("generation " + std::to_string(g) + ": " + common::escaped(m.nack().reason(), 512));
    if (dp.pushed_change && g == dp.pushed && dp.pushed == current) {
      // A change it could not take (it runs another base, or the change
      // did not build): the whole set, at once.
      dp.refused_change = dp.pushed;
      push(dp, steady_ns());
    } else if (g != 0 && dp.pushed_generations.count(g) != 0) {
      dp.refused = g;
      dp.refusal = common::escaped(m.nack().reason(), 512);
    }
  }
  // The leader tells; a standby's view may trail the leader's last change
  // by a watch event, and it pushes nothing either way.
  if (!leading()) return;
  const std::string behind = store_behind();
  const uint64_t newest = dataplanes_newest();
  if (!behind.empty() && newest != behind_reported_) {
    behind_reported_ = newest;
    note(behind);
  }
}

void Server::fill_status(pb::CliResponse& r) {
  const auto now = std::chrono::steady_clock::now();
  const uint64_t current = store_->current();
  for (auto& [key, dp] : known_) {
    auto* x = r.add_dataplanes();
    *x = dp.info;
    const bool up = connected(dp, now);
    x->set_connected(up);
    if (!up) {
      x->set_state(pb::UNREACHABLE);
      x->set_reason(dp.last_seen == std::chrono::steady_clock::time_point{}
                        ? std::string("never connected since the control plane started")
                        : "no Hello for " +
                              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - dp.last_seen).count()) +
                              " s");
    } else if (dp.info.generation() == current) {
      x->set_state(pb::ENFORCED);
    } else if (dp.refused == current && current != 0) {
      x->set_state(pb::REFUSED);
      x->set_reason(dp.refusal);
    } else {
      x->set_state(pb::PENDING);
    }
  }
  r.set_dataplanes_newest(dataplanes_newest());
  r.set_store_behind(store_behind());
  r.set_refused_messages(refused_messages_);
}

std::optional<pb::CliResponse> Server::on_cli(const pb::CliRequest& req, const std::string& sender, bool from_peer,
                                              const std::string& route) {
  pb::CliResponse r;
  ChangeOptions change;
  change.claimed_author = req.author().substr(0, 256);
  // A change a standby passed on is its author's, through that standby;
  // only a control plane of this deployment is believed to say so.
  std::string author = sender;
  if (req.has_forwarded()) {
    if (!from_peer) {
      r.add_errors("a request marked forwarded by a control plane came from " + common::escaped(sender) +
                   ", which is not one: nothing was changed");
      return r;
    }
    author = common::escaped(req.forwarded().author(), 256) + " via " + common::escaped(req.forwarded().by());
  }
  if (req.version() != kVersion) {
    r.add_errors("unsupported request version " + std::to_string(req.version()));
    return r;
  }
  r.set_store(store_->backend().describe());
  const bool change_request = changes_store(req);
  if (change_request && !req.request_id().empty()) {
    if (!common::is_canonical_request_id(req.request_id())) {
      r.add_errors("malformed request id \"" + common::escaped(req.request_id()) +
                   "\" (32 lowercase hex digits); nothing was changed");
      return r;
    }
    r.set_request_id(req.request_id());
  }
  if (leadership_) {
    r.set_leader_term(static_cast<uint64_t>(leadership_->leader_term()));
    r.set_standby(!leading());
    // A standby answers from the store as etcd holds it now: the view the
    // watch keeps current, or read again while the watch is down. The
    // leader is its only writer and holds it already.
    std::string error;
    if (!leading()) {
      on_watch();
      if (!watch_->healthy() || store_stale_) {
        if (store_->refresh(error)) store_stale_ = false;
        else r.add_warnings("answered from the store as last read (" + error + ")");
      }
    }
    if (!leading() && change_request) {
      // A change already stored is answered from the store; any other goes
      // to the leader once (its id makes a second arrival harmless), or is
      // refused when there is none to send it to.
      if (answer_applied(req, r)) return r;
      r.set_current(store_->current());
      const ControllerRecord& leader = leadership_->leader();
      if (req.has_forwarded()) {
        r.add_errors("this control plane (" + cfg_.name + ") does not lead either: a change forwarded by " +
                     common::escaped(req.forwarded().by()) + " is not forwarded again; nothing was changed");
        return r;
      }
      if (leader.id.empty() || leader.id == cfg_.name || leader.cli.empty()) {
        r.add_errors(standby_refusal());
        return r;
      }
      if (forward(req, author, leader, r, route)) return std::nullopt;
      r.add_errors("this control plane (" + cfg_.name + ") is a standby passing " +
                   std::to_string(kMaxWaitingForwards) + " other changes on to the leader, " +
                   common::escaped(leader.id) + ": nothing was changed; try again");
      return r;
    }
  }
  r.set_current(store_->current());
  if (change_request && answer_applied(req, r)) return r;
  change.request_id = r.request_id();
  auto analyse = [&](const pb::CompiledRuleSet& set, bool force) {
    rules::AnalysisOptions opt;
    opt.now_unix = unix_now();
    bool errors = false;
    for (const auto& f : rules::analyse(set, opt)) {
      if (f.severity == rules::Finding::Severity::info) continue;
      // file:line:column: severity: [kind] message; an error applied by
      // force stays named an error, among the warnings.
      const std::string line = f.str(set.source_name());
      if (f.severity == rules::Finding::Severity::error) {
        errors = true;
        (force ? r.add_warnings(line) : r.add_errors(line));
      } else {
        r.add_warnings(line);
      }
    }
    return !errors || force;
  };
  // A generation the store wrote becomes the running one and goes to every
  // dataplane; a refusal is the reply's errors.
  auto take = [&](rules::Result<pb::StoredGeneration>& g) {
    if (!g.ok()) {
      for (const auto& d : g.diagnostics) r.add_errors(d.file.empty() ? d.message : d.str());
      return false;
    }
    r.set_ok(true);
    r.set_generation(g.value->number());
    adopt(std::move(*g.value->mutable_compiled()));
    distribute_ = true;
    return true;
  };
  switch (req.command_case()) {
    case pb::CliRequest::kApply: {
      const auto& a = req.apply();
      auto compiled = rules::load_policy(a.source_text(), a.source_name());
      for (const auto& d : compiled.diagnostics)
        (d.severity == rules::Diagnostic::Severity::error ? r.add_errors(d.str()) : r.add_warnings(d.str()));
      if (!compiled.ok() || !analyse(*compiled.value, a.force())) return r;
      if (a.renumber()) change.number_past = dataplanes_newest();
      auto g = store_->apply(a.source_text(), a.source_name(), author, a.message(), change);
      if (!take(g)) return r;
      break;
    }
    case pb::CliRequest::kRollback: {
      auto g = store_->rollback(req.rollback().generation(), author, req.rollback().message(), change);
      if (!take(g)) return r;
      break;
    }
    case pb::CliRequest::kRenumber: {
      const uint64_t newest = dataplanes_newest();
      if (newest <= store_->current()) {
        r.add_errors("the store is not behind its dataplanes (they run up to generation " + std::to_string(newest) +
                     ", the store's current is " + std::to_string(store_->current()) + "): nothing to renumber");
        return r;
      }
      auto g = store_->renumber(newest, author,
                                req.renumber().message().empty()
                                    ? "renumbered past generation " + std::to_string(newest) + " run by the dataplanes"
                                    : req.renumber().message(),
                                change);
      if (!take(g)) return r;
      break;
    }
    case pb::CliRequest::kHistory:
      for (const auto& h : store_->history()) {
        auto* x = r.add_history();
        x->set_number(h.number);
        x->set_applied_at(h.applied_at);
        x->set_author(h.author);
        x->set_message(h.message);
        x->set_sha256(h.sha256);
        x->set_rules(h.rules);
        x->set_rollback_of(h.rollback_of);
        x->set_claimed_author(h.claimed_author);
        x->set_renumbered_from(h.renumbered_from);
        x->set_request_id(h.request_id);
      }
      r.set_ok(true);
      break;
    case pb::CliRequest::kDiff: {
      const uint64_t to = req.diff().to() ? req.diff().to() : store_->current();
      uint64_t from = req.diff().from();
      if (from == 0)  // the generation before `to` (numbers may jump after a renumbering)
        for (const auto& h : store_->history())
          if (h.number < to) from = h.number;
      const auto d = store_->diff(from, to);
      if (!d) {
        r.add_errors("no such generations: " + std::to_string(from) + " and " + std::to_string(to));
        return r;
      }
      r.set_diff_text("generation " + std::to_string(from) + " -> " + std::to_string(to) + "\n" + d->text());
      r.set_ok(true);
      break;
    }
    case pb::CliRequest::kStatus: {
      fill_status(r);
      if (leadership_) {
        std::vector<ControllerRecord> all;
        std::string error;
        on_watch();
        if (!leadership_->controllers(all, error, watch_->healthy()))
          r.add_warnings("the controllers could not be read: " + error);
        for (const auto& c : all) {
          auto* x = r.add_controllers();
          x->set_id(c.id);
          x->set_cli(c.cli);
          x->set_listen(c.listen);
          x->set_leader(c.leader);
          x->set_started_at(c.started_at);
        }
      }
      if (flows_) *r.mutable_flow_store() = flows_->info();
      r.set_ok(true);
      break;
    }
    case pb::CliRequest::kFlows: {
      if (!flows_) {
        r.add_errors("this control plane does not collect flows (start it with --flow-listen)");
        return r;
      }
      const auto answer = flows_->answer(req.flows());
      r.MergeFrom(answer);
      if (!answer.ok()) return r;
      break;
    }
    case pb::CliRequest::kGet: {
      const uint64_t n = req.get().generation() ? req.get().generation() : store_->current();
      const auto g = store_->get(n);
      if (!g) {
        r.add_errors(n == 0 ? std::string("the store holds no generation yet") : "no generation " + std::to_string(n));
        return r;
      }
      r.set_generation(n);
      r.set_source_text(g->source_text());
      r.set_source_name(g->source_name());
      r.set_ok(true);
      break;
    }
    default:
      r.add_errors("empty request");
  }
  // Every reply says where the store stands against its dataplanes.
  r.set_current(store_->current());
  if (r.store_behind().empty()) r.set_store_behind(store_behind());
  return r;
}

// Reads one whole message (every frame) from `sock`: false when none is
// waiting. `frames` gets the first `keep` frames; `count` all of them.
namespace {
bool read_message(zmq::socket_t& sock, std::vector<zmq::message_t>& frames, size_t keep, size_t& count) {
  frames.clear();
  count = 0;
  zmq::message_t part;
  while (true) {
    if (!sock.recv(part, zmq::recv_flags::dontwait)) return count > 0;
    ++count;
    const bool more = part.more();
    if (frames.size() < keep) frames.push_back(std::move(part));
    if (!more) return true;
  }
}
}  // namespace

void Server::read_dataplane_message() {
  std::vector<zmq::message_t> frames;
  size_t count = 0;
  if (!read_message(*dataplanes_, frames, 2, count)) return;
  const std::string route = frames[0].to_string();
  const char* user = frames.size() > 1 ? property(frames[1], "User-Id") : nullptr;
  const std::string key = user ? user : "";
  const auto sender = known_.find(key);
  pb::ControlMessage m;
  std::string why;
  if (!decode_dataplane_message(count - 1, frames.size() > 1 ? frames[1].data() : nullptr,
                                frames.size() > 1 ? frames[1].size() : 0, m, why)) {
    refuse(sender == known_.end() ? nullptr : &sender->second, why);
    return;
  }
  const char* address = property(frames[1], "Peer-Address");
  on_dataplane(route, key, address ? address : "", m);
}

void Server::read_cli_message() {
  std::vector<zmq::message_t> frames;
  size_t count = 0;
  if (!read_message(*cli_, frames, 3, count)) return;
  // A REQ client's request: [routing id][empty delimiter][body].
  if (count != 3 || frames[1].size() != 0) {
    note("refused a CLI message of " + std::to_string(count) + " frames (a request is 3)");
    return;
  }
  const std::string author = cli_author(frames[2]);
  // A control plane of this deployment: the key they share, or on the ipc
  // socket their own uid (a peer with it could read that key anyway).
  const char* user = property(frames[2], "User-Id");
  const char* peer_address = property(frames[2], "Peer-Address");
  const auto uid = peer_address ? peer_uid(peer_address) : std::nullopt;
  const bool from_peer = (user != nullptr && std::string(user) == kPeerControlPlane) ||
                         (ipc_path(cfg_.cli).size() > 0 && uid && *uid == ::geteuid());
  pb::CliRequest req;
  pb::CliResponse resp;
  const bool parsed = !author.empty() && req.ParseFromArray(frames[2].data(), static_cast<int>(frames[2].size()));
  // A flow query is answered by the collector's query thread (the store may
  // be ClickHouse, slow or away); its reply comes back through run().
  if (parsed && req.has_flows() && req.version() == kVersion && flows_) {
    if (flows_->ask(frames[0].to_string(), req.flows())) return;
    resp.add_errors("the control plane is answering " + std::to_string(FlowCollector::kMaxWaitingQueries) +
                    " other flow queries; try again");
  } else if (author.empty()) {
    resp.add_errors("the control plane cannot tell who sent this request; refused");
  } else if (parsed) {
    auto answer = on_cli(req, author, from_peer, frames[0].to_string());
    if (!answer) return;  // passed on to the leader: relayed by run()
    resp = std::move(*answer);
  } else {
    resp.add_errors("malformed request");
  }
  cli_->send(frames[0], zmq::send_flags::sndmore);
  cli_->send(zmq::message_t(), zmq::send_flags::sndmore);
  cli_->send(zmq::buffer(resp.SerializeAsString()), zmq::send_flags::none);
}

bool Server::answer_applied(const pb::CliRequest& req, pb::CliResponse& r) {
  const GenerationSummary* done = store_->find_request(r.request_id());
  if (done == nullptr) return false;
  r.set_current(store_->current());
  r.set_store_behind(store_behind());
  // The id names one change: the same id on another is a mistake of the
  // caller's, not a retry, and storing nothing silently would hide it.
  std::string made;
  if (done->rollback_of != 0) made = "a rollback to generation " + std::to_string(done->rollback_of);
  else if (done->renumbered_from != 0) made = "a renumbering";
  else made = "an apply of the policy with SHA-256 " + done->sha256;
  bool same = false;
  switch (req.command_case()) {
    case pb::CliRequest::kApply:
      same = done->rollback_of == 0 && done->renumbered_from == 0 &&
             done->sha256 == common::sha256_hex(req.apply().source_text());
      break;
    case pb::CliRequest::kRollback:
      same = done->rollback_of == req.rollback().generation();
      break;
    case pb::CliRequest::kRenumber:
      same = done->renumbered_from != 0;
      break;
    default:
      break;
  }
  if (!same) {
    r.add_errors("request id " + r.request_id() + " already made generation " + std::to_string(done->number) + ", " +
                 made + ", not this change: nothing was stored (a request id names one change)");
    return true;
  }
  r.set_ok(true);
  r.set_generation(done->number);
  r.set_already_applied(true);
  return true;
}

std::string Server::standby_refusal() const {
  const ControllerRecord& l = leadership_->leader();
  if (l.id.empty() || l.id == cfg_.name)
    return "this control plane (" + cfg_.name + ") does not lead and no leader is known yet" +
           (leadership_->last_error().empty() ? std::string() : " (" + leadership_->last_error() + ")") +
           ": nothing was changed; try again once one is elected (within a lease, " +
           std::to_string(cfg_.lease_ttl_s) + " s)";
  return "this control plane (" + cfg_.name + ") is a standby: nothing was changed; send changes to the leader, " +
         common::escaped(l.id) + " (CLI " + common::escaped(l.cli) + ", term " +
         std::to_string(leadership_->leader_term()) + ")";
}

void Server::on_watch() {
  bool reread = false;
  for (const auto& u : watch_->take()) {
    if (u.resync) {
      reread = true;
      lead_due_ = {};
      leadership_->forget_view();
      continue;
    }
    for (const auto& e : u.events) {
      leadership_->watched(e);
      if (e.kv.key == EtcdBackend::leader_key(etcd_->prefix())) {
        lead_due_ = {};
        leader_key_changed_ = true;
      }
      // A standby reads the store again whenever it moves. The leader, its
      // only writer, holds every change already, except one of its own
      // that etcd committed after answering with an error (no quorum then):
      // a pointer past the newest it holds. (Events of its own changes
      // arrive after them, so they point at or before it.)
      if (e.kv.key == EtcdBackend::current_key(etcd_->prefix())) {
        uint64_t pointer = 0;
        const auto& v = e.kv.value;
        const bool number = std::from_chars(v.data(), v.data() + v.size(), pointer).ec == std::errc{};
        if (!leading() || e.deleted || !number || pointer > store_->current()) {
          if (leading())
            note("the store's current generation is " + common::escaped(v, 32) + ", past the " +
                 std::to_string(store_->current()) + " this leader held (a change etcd committed after answering "
                 "with an error): read again");
          reread = true;
        }
      }
    }
  }
  if (!reread) return;
  std::string error;
  store_stale_ = !store_->refresh(error);
  if (store_stale_) note("the store could not be read again after it changed: " + error);
  // A leader's own change that etcd committed late is pushed like any
  // other, now rather than at each dataplane's next Hello.
  else if (leading()) push_connected(PushTo::owing);
}

void Server::lead_tick() {
  const auto now = std::chrono::steady_clock::now();
  if (now < lead_due_) return;
  const bool woken = std::exchange(leader_key_changed_, false);
  // While the watch delivers, a leader key deleted or taken wakes this at
  // once, and polling is only the safety net, at the lease renewal's pace.
  lead_due_ = now + (watch_->healthy() ? leadership_->renew_period() : leadership_->poll_period());
  switch (leadership_->tick(now)) {
    case Leadership::Change::elected: {
      const int64_t lapsed = etcd_->term();  // non-zero: it led until this tick, under another term
      etcd_->set_term(leadership_->term());
      // What the leader before stored is the truth now.
      std::string error;
      if (!store_->refresh(error)) note("elected, but the store could not be read again: " + error);
      note("leads, term " + std::to_string(leadership_->term()) + "; current generation " +
           std::to_string(store_->current()) + (woken ? " (the watch saw the leader key change)" : "") +
           (lapsed != 0 ? " (term " + std::to_string(lapsed) + " ended: its lease lapsed or its key was deleted)"
                        : ""));
      // Every connected dataplane as its last Hello (to this one, while it
      // stood by) showed it: pushed now, not at its next Hello, so each
      // follows this leader up to a Hello period sooner.
      push_connected(PushTo::owing);
      break;
    }
    case Leadership::Change::deposed:
      etcd_->set_term(0);
      note("no longer leads (lease lost or another elected" +
           (leadership_->last_error().empty() ? std::string() : ": " + leadership_->last_error()) +
           "); standing by");
      break;
    case Leadership::Change::none:
      break;
  }
}

bool Server::forward(const pb::CliRequest& req, const std::string& author, const ControllerRecord& leader,
                     const pb::CliResponse& base, const std::string& route) {
  pb::CliRequest out = req;
  // Every change the leader gets from here carries an id, so that an answer
  // lost on the way can be asked for again.
  if (out.request_id().empty()) out.set_request_id(common::new_request_id());
  out.mutable_forwarded()->set_by(cfg_.name);
  out.mutable_forwarded()->set_author(author);
  CliCall how;
  how.connect_timeout = kForwardConnect;
  how.answer_timeout = kForwardAnswer;
  how.own = own_;
  how.server_key = own_.public_key;  // the control planes share one key pair
  how.cancel = &forwards_stop_;
  pb::CliResponse refusal = base;
  refusal.set_request_id(out.request_id());
  const std::string self = cfg_.name;
  const std::string to = "the leader, " + common::escaped(leader.id) + " (CLI " + common::escaped(leader.cli) + ")";
  return forwards_->ask(route, [this, out, how, refusal, self, to, leader_id = leader.id, endpoint = leader.cli] {
    pb::CliResponse r;
    std::string error;
    switch (call_cli(ctx_, endpoint, out, how, r, error)) {
      case CliCallOutcome::answered:
        r.set_forwarded_by(self);
        r.set_forwarded_to(leader_id);
        return r.SerializeAsString();
      case CliCallOutcome::not_sent:
        r = refusal;
        r.add_errors("this control plane (" + self + ") is a standby and could not reach " + to + ": " + error +
                     "; nothing was changed");
        return r.SerializeAsString();
      case CliCallOutcome::no_answer:
      case CliCallOutcome::malformed:
        break;
    }
    r = refusal;
    r.add_errors("this control plane (" + self + ") is a standby and passed the change on to " + to +
                 ", which sent " + error + ": it may have been stored; the same command with --request-id " +
                 out.request_id() + " stores it at most once");
    return r.SerializeAsString();
  });
}

void Server::relay_replies(zmq::socket_t& from) {
  std::vector<zmq::message_t> frames;
  size_t count = 0;
  while (read_message(from, frames, 2, count)) {
    if (count != 2) continue;  // a reply thread sends [route][reply], never else
    cli_->send(frames[0], zmq::send_flags::sndmore);
    cli_->send(zmq::message_t(), zmq::send_flags::sndmore);
    cli_->send(frames[1], zmq::send_flags::none);
  }
}

void Server::run(const std::atomic<bool>& stop) {
  const auto period =
      leadership_ ? std::min(std::chrono::milliseconds(200), leadership_->poll_period()) : std::chrono::milliseconds(200);
  while (!stop.load()) {
    if (leadership_) lead_tick();
    zmq::pollitem_t items[5] = {{static_cast<void*>(*dataplanes_), 0, ZMQ_POLLIN, 0},
                                {static_cast<void*>(*cli_), 0, ZMQ_POLLIN, 0}};
    size_t n = 2, flows_at = 0, watch_at = 0, forwards_at = 0;
    if (flows_) {
      flows_at = n;
      items[n++] = {static_cast<void*>(flows_->replies()), 0, ZMQ_POLLIN, 0};
    }
    if (forwards_) {
      forwards_at = n;
      items[n++] = {static_cast<void*>(forwards_->replies()), 0, ZMQ_POLLIN, 0};
    }
    if (watch_) {
      watch_at = n;
      items[n++] = {nullptr, watch_->wake_fd(), ZMQ_POLLIN, 0};
    }
    if (poll_interrupted(items, n, period)) continue;
    if (watch_at && (items[watch_at].revents & ZMQ_POLLIN)) on_watch();
    if (flows_at && (items[flows_at].revents & ZMQ_POLLIN)) relay_replies(flows_->replies());
    if (forwards_at && (items[forwards_at].revents & ZMQ_POLLIN)) relay_replies(forwards_->replies());
    if (metrics_ && std::chrono::steady_clock::now() - metrics_at_ >= kMetricsPeriod) refresh_metrics();
    if (items[0].revents & ZMQ_POLLIN)
      for (size_t i = 0; i < kMessagesPerWake; ++i) {
        if (!(dataplanes_->get(zmq::sockopt::events) & ZMQ_POLLIN)) break;
        read_dataplane_message();
      }
    if (items[1].revents & ZMQ_POLLIN) {
      read_cli_message();
      // A new generation goes out once the request is answered and its
      // working state freed: nothing then stands between the push and
      // reading the acknowledgements.
      if (distribute_) {
        distribute_ = false;
        push_connected(PushTo::all);
      }
    }
  }
}

}  // namespace bulkhead::controlplane
