#include "controlplane/server.h"

#include <sys/stat.h>

#include <ctime>
#include <iostream>

#include "common/keys.h"
#include "controlplane/rule_change.h"
#include "rules/analysis.h"
#include "rules/load.h"

namespace bulkhead::controlplane {
namespace {

constexpr uint32_t kVersion = 1;
constexpr auto kConnectedWithin = std::chrono::seconds(3);
constexpr auto kRepushAfter = std::chrono::seconds(2);

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

}  // namespace

std::unique_ptr<Server> Server::create(const ServerConfig& cfg, std::string& error) {
  std::unique_ptr<Server> s(new Server());
  s->cfg_ = cfg;
  std::vector<std::string> warnings;
  s->store_ = PolicyStore::open(cfg.store_dir, error, &warnings);
  if (!s->store_) return nullptr;
  for (const auto& w : warnings) std::cerr << "bulkhead-controlplane: " << w << '\n';
  common::CurveKeys own;
  if (!common::read_curve_keys(cfg.key_file, true, own, error)) return nullptr;
  for (const auto& f : cfg.dataplane_keys) {
    common::CurveKeys k;
    if (!common::read_curve_keys(f, false, k, error)) return nullptr;
    s->allowed_.insert(k.public_key);
  }
  if (s->allowed_.empty()) {
    error = "no dataplane keys configured (--dataplane-key FILE): no dataplane could connect";
    return nullptr;
  }
  try {
    // The ZAP handler must be bound before any CURVE socket accepts peers.
    s->zap_ = std::make_unique<zmq::socket_t>(s->ctx_, zmq::socket_type::rep);
    s->zap_->bind("inproc://zeromq.zap.01");
    s->zap_thread_ = common::start_thread_without_signals([p = s.get()] { p->zap_loop(); });
    s->dataplanes_ = std::make_unique<zmq::socket_t>(s->ctx_, zmq::socket_type::router);
    s->dataplanes_->set(zmq::sockopt::curve_server, 1);
    s->dataplanes_->set(zmq::sockopt::curve_secretkey, own.secret_key);
    s->dataplanes_->set(zmq::sockopt::zap_domain, "bulkhead");
    s->dataplanes_->set(zmq::sockopt::maxmsgsize, int64_t{1} << 20);
    s->dataplanes_->set(zmq::sockopt::router_handover, 1);
    s->dataplanes_->set(zmq::sockopt::linger, 0);
    s->dataplanes_->bind(cfg.listen);
    if (!cfg.flow_listen.empty()) {
      CollectorConfig fc;
      fc.listen = cfg.flow_listen;
      fc.secret_key = own.secret_key;
      fc.snapshot_path = cfg.store_dir + "/flows.pb";
      fc.jsonl_path = cfg.flow_log;
      fc.store.capacity = cfg.flow_capacity;
      fc.store.retention_ms = cfg.flow_retention_s * 1000;
      s->flows_ = FlowCollector::create(s->ctx_, fc, error);
      if (!s->flows_) return nullptr;
    }
    s->cli_ = std::make_unique<zmq::socket_t>(s->ctx_, zmq::socket_type::router);
    s->cli_->set(zmq::sockopt::maxmsgsize, int64_t{512} << 20);
    s->cli_->set(zmq::sockopt::linger, 0);
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
  return s;
}

Server::~Server() {
  flows_.reset();
  zap_stop_ = true;
  if (zap_thread_.joinable()) zap_thread_.join();
  dataplanes_.reset();
  cli_.reset();
  zap_.reset();
  const std::string path = ipc_path(cfg_.cli);
  if (!path.empty()) ::unlink(path.c_str());
}

// ZAP (RFC 27): admit CURVE clients whose public key was configured.
void Server::zap_loop() {
  while (!zap_stop_) {
    zmq::pollitem_t items[] = {{static_cast<void*>(*zap_), 0, ZMQ_POLLIN, 0}};
    if (poll_interrupted(items, 1, std::chrono::milliseconds(100))) continue;
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> parts;
    do {
      parts.emplace_back();
      if (!zap_->recv(parts.back())) break;
    } while (parts.back().more());
    if (parts.size() < 6) continue;
    const std::string request_id = parts[1].to_string();
    const std::string mechanism = parts[5].to_string();
    std::string key = parts.size() > 6 ? z85(parts[6].to_string()) : "";
    const bool ok = mechanism == "CURVE" && allowed_.count(key) > 0;
    zap_->send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(std::string(ok ? "200" : "400")), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(std::string(ok ? "OK" : "key not admitted")), zmq::send_flags::sndmore);
    zap_->send(zmq::buffer(ok ? key : std::string()), zmq::send_flags::sndmore);
    zap_->send(zmq::str_buffer(""), zmq::send_flags::none);
    if (!ok) std::cerr << "bulkhead-controlplane: refused a dataplane with key " << (key.empty() ? "(none)" : key) << '\n';
  }
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

void Server::push(const std::string& id, Dataplane& dp, int64_t sent_at_ns) {
  const pb::CompiledRuleSet* set = current_set();
  if (set == nullptr) return;
  const uint64_t current = set->generation();
  pb::ControlMessage m;
  m.set_version(kVersion);
  const pb::PushRuleSet* change = change_for(dp);
  if (change != nullptr) *m.mutable_push() = *change;
  else *m.mutable_push()->mutable_rule_set() = *set;
  m.mutable_push()->set_sent_at_ns(sent_at_ns);
  const std::string data = m.SerializeAsString();
  dataplanes_->send(zmq::buffer(id), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  dataplanes_->send(zmq::buffer(data), zmq::send_flags::dontwait);
  dp.pushed = current;
  dp.pushed_at = std::chrono::steady_clock::now();
  dp.pushed_change = change != nullptr;
}

void Server::push_all() {
  // The acknowledgement latency counts from here.
  const int64_t started = steady_ns();
  const auto now = std::chrono::steady_clock::now();
  for (auto& [id, dp] : known_)
    if (now - dp.last_seen < kConnectedWithin) push(id, dp, started);
}

void Server::on_dataplane(const std::string& id, const std::string& user, const std::string& address,
                          const pb::ControlMessage& m) {
  Dataplane& dp = known_[id];
  if (!address.empty()) dp.info.set_address(address);
  const auto now = std::chrono::steady_clock::now();
  dp.last_seen = now;
  dp.info.set_id(id);
  if (!user.empty()) dp.info.set_public_key(user);
  dp.info.set_last_seen(unix_now());
  if (m.has_hello()) {
    dp.info.set_generation(m.hello().generation());
    dp.info.set_uptime_s(m.hello().uptime_s());
    dp.info.set_rejected_messages(m.hello().rejected_messages());
    const uint64_t current = store_->current();
    // A dataplane behind (new, restarted, or a push lost) gets the current
    // generation at once, and again if no Ack came.
    if (m.hello().generation() < current && (dp.pushed != current || now - dp.pushed_at > kRepushAfter))
      push(id, dp, steady_ns());
  } else if (m.has_ack()) {
    dp.info.set_generation(m.ack().generation());
    dp.info.set_acked_at(unix_now());
    dp.info.set_apply_us(m.ack().apply_us());
    const int64_t sent = m.ack().sent_at_ns();
    const int64_t now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    if (sent > 0 && now_ns > sent) dp.info.set_ack_latency_us(static_cast<uint64_t>((now_ns - sent) / 1000));
  } else if (m.has_nack()) {
    dp.info.set_generation(m.nack().running_generation());
    dp.info.set_last_nack("generation " + std::to_string(m.nack().generation()) + ": " + m.nack().reason());
    // A change it could not take (it runs another base, or the change did
    // not build): the whole set, at once.
    if (dp.pushed_change && m.nack().generation() == dp.pushed && dp.pushed == store_->current()) {
      dp.refused_change = dp.pushed;
      push(id, dp, steady_ns());
    }
  }
}

pb::CliResponse Server::on_cli(const pb::CliRequest& req) {
  pb::CliResponse r;
  r.set_current(store_->current());
  const std::string author = req.author().empty() ? "unknown" : req.author();
  if (req.version() != kVersion) {
    r.add_errors("unsupported request version " + std::to_string(req.version()));
    return r;
  }
  auto analyse = [&](const pb::CompiledRuleSet& set, bool force) {
    rules::AnalysisOptions opt;
    opt.now_unix = unix_now();
    bool errors = false;
    for (const auto& f : rules::analyse(set, opt)) {
      if (f.severity == rules::Finding::Severity::info) continue;
      const std::string line = set.source_name() + (f.lines.empty() ? "" : ":" + std::to_string(f.lines[0])) + ": [" +
                               rules::finding_kind_name(f.kind) + "] " + f.message;
      if (f.severity == rules::Finding::Severity::error) {
        errors = true;
        (force ? r.add_warnings(line) : r.add_errors(line));
      } else {
        r.add_warnings(line);
      }
    }
    return !errors || force;
  };
  switch (req.command_case()) {
    case pb::CliRequest::kApply: {
      const auto& a = req.apply();
      auto compiled = rules::load_policy(a.source_text(), a.source_name());
      for (const auto& d : compiled.diagnostics)
        (d.severity == rules::Diagnostic::Severity::error ? r.add_errors(d.str()) : r.add_warnings(d.str()));
      if (!compiled.ok() || !analyse(*compiled.value, a.force())) return r;
      auto g = store_->apply(a.source_text(), a.source_name(), author, a.message());
      if (!g.ok()) {
        for (const auto& d : g.diagnostics) r.add_errors(d.str());
        return r;
      }
      r.set_ok(true);
      r.set_generation(g.value->number());
      adopt(std::move(*g.value->mutable_compiled()));
      distribute_ = true;
      break;
    }
    case pb::CliRequest::kRollback: {
      auto g = store_->rollback(req.rollback().generation(), author, req.rollback().message());
      if (!g.ok()) {
        for (const auto& d : g.diagnostics) r.add_errors(d.message);
        return r;
      }
      r.set_ok(true);
      r.set_generation(g.value->number());
      adopt(std::move(*g.value->mutable_compiled()));
      distribute_ = true;
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
      }
      r.set_ok(true);
      break;
    case pb::CliRequest::kDiff: {
      const uint64_t to = req.diff().to() ? req.diff().to() : store_->current();
      const uint64_t from = req.diff().from() ? req.diff().from() : (to > 1 ? to - 1 : 0);
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
      const auto now = std::chrono::steady_clock::now();
      for (auto& [id, dp] : known_) {
        auto* x = r.add_dataplanes();
        *x = dp.info;
        x->set_connected(now - dp.last_seen < kConnectedWithin);
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
      const auto& f = req.flows();
      flows::FlowQuery q;
      q.since_ms = f.since_ms();
      q.until_ms = f.until_ms();
      q.denied_only = f.denied_only();
      q.host = f.host();
      q.segment = f.segment();
      q.port = f.port();
      q.top = f.top();
      for (auto& a : flows_->query(q)) *r.add_flows() = std::move(a);
      *r.mutable_flow_store() = flows_->info();
      r.set_ok(true);
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
  return r;
}

void Server::run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    zmq::pollitem_t items[] = {{static_cast<void*>(*dataplanes_), 0, ZMQ_POLLIN, 0},
                               {static_cast<void*>(*cli_), 0, ZMQ_POLLIN, 0}};
    if (poll_interrupted(items, 2, std::chrono::milliseconds(200))) continue;
    if (items[0].revents & ZMQ_POLLIN) {
      zmq::message_t id, body;
      if (dataplanes_->recv(id, zmq::recv_flags::dontwait) && id.more() &&
          dataplanes_->recv(body, zmq::recv_flags::dontwait)) {
        pb::ControlMessage m;
        const char* user = body.gets("User-Id");
        const char* address = body.gets("Peer-Address");
        if (m.ParseFromArray(body.data(), static_cast<int>(body.size())) && m.version() == kVersion)
          on_dataplane(id.to_string(), user ? user : "", address ? address : "", m);
        else
          std::cerr << "bulkhead-controlplane: malformed message from " << id.to_string() << '\n';
      }
    }
    if (items[1].revents & ZMQ_POLLIN) {
      std::vector<zmq::message_t> parts;
      do {
        parts.emplace_back();
        if (!cli_->recv(parts.back(), zmq::recv_flags::dontwait)) break;
      } while (parts.back().more());
      if (parts.size() >= 2) {
        pb::CliRequest req;
        pb::CliResponse resp;
        if (req.ParseFromArray(parts.back().data(), static_cast<int>(parts.back().size()))) resp = on_cli(req);
        else resp.add_errors("malformed request");
        for (size_t k = 0; k + 1 < parts.size(); ++k) cli_->send(parts[k], zmq::send_flags::sndmore);
        cli_->send(zmq::buffer(resp.SerializeAsString()), zmq::send_flags::none);
      }
      // A new generation goes out once the request is answered and its
      // working state freed: nothing then stands between the push and
      // reading the acknowledgements.
      if (distribute_) {
        distribute_ = false;
        push_all();
      }
    }
  }
}

}  // namespace bulkhead::controlplane
