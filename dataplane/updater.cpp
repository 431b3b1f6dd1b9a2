#include "dataplane/updater.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <zmq.hpp>

#include "common/protobuf_log.h"
#include "dataplane/channel.h"
#include "dataplane/controlplanes.h"
#include "dataplane/engine.h"
#include "dataplane/log.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::dataplane {
namespace {

constexpr auto kCompactAfter = std::chrono::milliseconds(200);

}  // namespace

Updater::~Updater() { stop(); }

std::unique_ptr<Updater> Updater::start(const UpdaterConfig& cfg, Engine& engine, std::string& error) {
  common::limit_protobuf_logs("bulkhead-dataplane");
  std::unique_ptr<Updater> u(new Updater(engine));
  u->cfg_ = cfg;
  if (cfg.channels.empty()) {
    error = "no control plane endpoint";
    return nullptr;
  }
  for (const auto& c : cfg.channels) {
    ChannelIdentity who;
    if (!load_channel_identity(c, who, error)) return nullptr;
    u->who_.push_back(std::move(who));
    u->stats_.control_planes.emplace_back().endpoint = c.endpoint;
  }
  // The highest leader term accepted before a restart: a deposed leader is
  // refused from the first push on. A damaged file is reported and the
  // term starts from the next push accepted, as with none: refusing every
  // push would cut the dataplane off from its control planes for good.
  const std::string& state = engine.config().state_dir;
  if (!state.empty()) {
    uint64_t term = 0;
    std::string why;
    if (!read_leader_term(leader_term_path(state), term, why))
      BH_LOG(ERR, "control channel: %s; the leader term starts again from the next push accepted", why.c_str());
    u->stats_.leader_term = term;
  }
  u->thread_.start([p = u.get()] { p->run(); });
  return u;
}

void Updater::stop() { thread_.stop(); }

void Updater::run() {
  zmq::context_t ctx(1);
  const size_t n = who_.size();
  std::vector<std::unique_ptr<CurveClient>> clients;
  for (size_t k = 0; k < n; ++k) {
    clients.push_back(std::make_unique<CurveClient>(ctx, zmq::socket_type::dealer, who_[k], "control channel",
                                                    stats_.channel));
    zmq::socket_t& sock = clients[k]->socket();
    sock.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(cfg_.max_message_bytes));
    sock.set(zmq::sockopt::linger, 0);
    // A control plane whose machine died sends no FIN: ZeroMQ's heartbeats
    // notice within seconds, so flow records and following move on.
    sock.set(zmq::sockopt::heartbeat_ivl, 1000);
    sock.set(zmq::sockopt::heartbeat_timeout, 3000);
    // No routing id of its own: the control plane knows it by its key, and
    // its name travels in the Hello.
    std::string connect_error;
    if (!clients[k]->connect(cfg_.channels[k].endpoint, connect_error)) {
      BH_LOG(ERR, "control channel: cannot connect to %s: %s", cfg_.channels[k].endpoint.c_str(),
             connect_error.c_str());
      return;
    }
  }
  RateLimit limit(10, 1);
  RateLimit term_limit(1, 10);
  const auto started = std::chrono::steady_clock::now();
  auto send = [&](size_t k, const pb::ControlMessage& m) {
    std::string data;
    m.SerializeToString(&data);
    clients[k]->socket().send(zmq::buffer(data), zmq::send_flags::dontwait);
  };
  auto hello = [&] {
    pb::ControlMessage m;
    m.set_version(kControlVersion);
    auto* h = m.mutable_hello();
    h->set_dataplane_id(who_[0].id);
    h->set_generation(engine_.rules().generation());
    h->set_uptime_s(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count()));
    h->set_rejected_messages(stats_.rejected_malformed + stats_.rejected_stale + stats_.rejected_invalid +
                             stats_.rejected_deposed);
    h->set_leader_term(stats_.leader_term);
    h->mutable_insertion()->set_mode(insertion::insertion_name(engine_.config().insertion.mode));
    for (const auto& [name, value] : engine_.insertion_counters()) {
      auto* c = h->mutable_insertion()->add_counters();
      c->set_name(name);
      c->set_value(value);
    }
    for (const auto& [name, value] : engine_.names_counters()) {
      auto* c = h->add_names();
      c->set_name(name);
      c->set_value(value);
    }
    for (size_t k = 0; k < n; ++k) send(k, m);
  };
  auto refuse = [&](size_t k, uint64_t generation, const std::string& reason, std::atomic<uint64_t>& counter) {
    ++counter;
    uint64_t suppressed = 0;
    if (limit.allow(suppressed))
      BH_LOG(WARNING, "control channel: refused generation %lu from %s: %s", static_cast<unsigned long>(generation),
             cfg_.channels[k].endpoint.c_str(), reason.c_str());
    pb::ControlMessage m;
    m.set_version(kControlVersion);
    auto* nack = m.mutable_nack();
    nack->set_generation(generation);
    nack->set_running_generation(engine_.rules().generation());
    nack->set_reason(reason);
    send(k, m);
  };

  // Which control plane is followed and where flow records go: the one
  // whose push was accepted under the highest term; before any, the first
  // that connected. Records go to the followed one while its connection is
  // up, else to the one connected longest.
  int accepted_from = -1;
  std::vector<uint64_t> connected_at(n, 0);  // order of connection; 0: not connected
  uint64_t connections = 0;
  auto follow = [&] {
    int earliest = -1;
    for (size_t k = 0; k < n; ++k) {
      const bool up = clients[k]->established();
      stats_.control_planes[k].connected.store(up, std::memory_order_relaxed);
      if (!up) connected_at[k] = 0;
      else if (connected_at[k] == 0) connected_at[k] = ++connections;
      if (up && (earliest < 0 || connected_at[k] < connected_at[static_cast<size_t>(earliest)]))
        earliest = static_cast<int>(k);
    }
    const int followed = accepted_from >= 0 ? accepted_from : earliest;
    stats_.followed.store(followed, std::memory_order_relaxed);
    const bool followed_up = followed >= 0 && clients[static_cast<size_t>(followed)]->established();
    stats_.flows_to.store(followed_up ? followed : earliest >= 0 ? earliest : std::max(followed, 0),
                          std::memory_order_relaxed);
  };

  auto last_hello = std::chrono::steady_clock::time_point{};
  // A set applied as a change is rebuilt in full once pushes pause.
  auto compact_at = std::chrono::steady_clock::time_point::max();
  std::vector<zmq::pollitem_t> items(n);
  while (!thread_.stopping()) {
    for (auto& c : clients) c->watch();
    follow();
    if (std::chrono::steady_clock::now() >= compact_at) {
      engine_.compact();
      compact_at = std::chrono::steady_clock::time_point::max();
    }
    if (std::chrono::steady_clock::now() - last_hello > std::chrono::seconds(1)) {
      hello();
      last_hello = std::chrono::steady_clock::now();
    }
    for (size_t k = 0; k < n; ++k) items[k] = {static_cast<void*>(clients[k]->socket()), 0, ZMQ_POLLIN, 0};
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    for (size_t k = 0; k < n; ++k) {
      if (!(items[k].revents & ZMQ_POLLIN)) continue;
      zmq::message_t msg;
      if (!clients[k]->socket().recv(msg, zmq::recv_flags::dontwait)) continue;
      ++stats_.received;
      ControlPlaneStats& from = stats_.control_planes[k];
      pb::ControlMessage m;
      std::string reason;
      const uint64_t highest = stats_.leader_term;
      const PushCheck check = check_push(msg.data(), msg.size(), engine_.rules().generation(), highest, m, reason);
      if (check == PushCheck::malformed) {
        refuse(k, 0, reason, stats_.rejected_malformed);
        continue;
      }
      const uint64_t generation = m.push().rule_set().generation();
      const uint64_t term = m.push().leader_term();
      from.last_term = term;
      if (check == PushCheck::deposed) {
        ++from.deposed;
        refuse(k, generation, reason, stats_.rejected_deposed);
        continue;
      }
      if (check == PushCheck::stale) {
        refuse(k, generation, reason, stats_.rejected_stale);
        continue;
      }
      const auto t0 = std::chrono::steady_clock::now();
      std::string error;
      const bool as_change = m.push().base_generation() != 0;
      if (as_change ? !engine_.apply_change(*m.mutable_push(), error, Engine::Keep::later)
                    : !engine_.apply(std::move(*m.mutable_push()->mutable_rule_set()), error, Engine::Keep::later)) {
        refuse(k, generation, "not enforced: " + error, stats_.rejected_invalid);
        continue;
      }
      const auto us = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
      ++stats_.applied;
      ++from.applied;
      stats_.last_apply_us = us;
      accepted_from = static_cast<int>(k);
      follow();
      // The term is kept before the Ack: once a leader is told its push is
      // enforced, no restart lets a lower term in again.
      if (term > highest) {
        stats_.leader_term = term;
        std::string why;
        const std::string& state = engine_.config().state_dir;
        if (!state.empty() && !write_leader_term(leader_term_path(state), term, why)) {
          ++stats_.term_write_failures;
          uint64_t suppressed = 0;
          if (term_limit.allow(suppressed))
            BH_LOG(ERR, "control channel: cannot keep leader term %lu: %s", static_cast<unsigned long>(term),
                   why.c_str());
        }
        BH_LOG(NOTICE, "control channel: following %s, leader term %lu", cfg_.channels[k].endpoint.c_str(),
               static_cast<unsigned long>(term));
      }
      BH_LOG(NOTICE, "control channel: generation %lu from %s enforced (%lu us)",
             static_cast<unsigned long>(generation), cfg_.channels[k].endpoint.c_str(),
             static_cast<unsigned long>(us));
      pb::ControlMessage ack;
      ack.set_version(kControlVersion);
      ack.mutable_ack()->set_generation(generation);
      ack.mutable_ack()->set_apply_us(us);
      ack.mutable_ack()->set_sent_at_ns(m.push().sent_at_ns());
      send(k, ack);
      engine_.keep_pending();  // after the Ack: the disk write is not on the push's path
      if (as_change) compact_at = std::chrono::steady_clock::now() + kCompactAfter;
    }
  }
}

}  // namespace bulkhead::dataplane
