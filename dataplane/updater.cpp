#include "dataplane/updater.h"

#include <chrono>
#include <string>
#include <zmq.hpp>

#include "common/protobuf_log.h"
#include "dataplane/channel.h"
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
  if (!load_channel_identity(cfg.channel, u->who_, error)) return nullptr;
  u->thread_.start([p = u.get()] { p->run(); });
  return u;
}

void Updater::stop() { thread_.stop(); }

void Updater::run() {
  zmq::context_t ctx(1);
  CurveClient client(ctx, zmq::socket_type::dealer, who_, "control channel", stats_.channel);
  zmq::socket_t& sock = client.socket();
  sock.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(cfg_.max_message_bytes));
  sock.set(zmq::sockopt::linger, 0);
  // No routing id of its own: the control plane knows it by its key, and
  // its name travels in the Hello.
  std::string connect_error;
  if (!client.connect(cfg_.channel.endpoint, connect_error)) {
    BH_LOG(ERR, "control channel: cannot connect to %s: %s", cfg_.channel.endpoint.c_str(), connect_error.c_str());
    return;
  }
  RateLimit limit(10, 1);
  const auto started = std::chrono::steady_clock::now();
  auto send = [&](const pb::ControlMessage& m) {
    std::string data;
    m.SerializeToString(&data);
    sock.send(zmq::buffer(data), zmq::send_flags::dontwait);
  };
  auto hello = [&] {
    pb::ControlMessage m;
    m.set_version(kControlVersion);
    auto* h = m.mutable_hello();
    h->set_dataplane_id(who_.id);
    h->set_generation(engine_.rules().generation());
    h->set_uptime_s(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count()));
    h->set_rejected_messages(stats_.rejected_malformed + stats_.rejected_stale + stats_.rejected_invalid);
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
    send(m);
  };
  auto refuse = [&](uint64_t generation, const std::string& reason, std::atomic<uint64_t>& counter) {
    ++counter;
    uint64_t suppressed = 0;
    if (limit.allow(suppressed))
      BH_LOG(WARNING, "control channel: refused generation %lu: %s", static_cast<unsigned long>(generation),
             reason.c_str());
    pb::ControlMessage m;
    m.set_version(kControlVersion);
    auto* n = m.mutable_nack();
    n->set_generation(generation);
    n->set_running_generation(engine_.rules().generation());
    n->set_reason(reason);
    send(m);
  };

  auto last_hello = std::chrono::steady_clock::time_point{};
  // A set applied as a change is rebuilt in full once pushes pause.
  auto compact_at = std::chrono::steady_clock::time_point::max();
  while (!thread_.stopping()) {
    client.watch();
    if (std::chrono::steady_clock::now() >= compact_at) {
      engine_.compact();
      compact_at = std::chrono::steady_clock::time_point::max();
    }
    if (std::chrono::steady_clock::now() - last_hello > std::chrono::seconds(1)) {
      hello();
      last_hello = std::chrono::steady_clock::now();
    }
    zmq::pollitem_t items[] = {{static_cast<void*>(sock), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1, std::chrono::milliseconds(100));
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    zmq::message_t msg;
    if (!sock.recv(msg, zmq::recv_flags::dontwait)) continue;
    ++stats_.received;
    pb::ControlMessage m;
    std::string reason;
    const PushCheck check = check_push(msg.data(), msg.size(), engine_.rules().generation(), m, reason);
    if (check == PushCheck::malformed) {
      refuse(0, reason, stats_.rejected_malformed);
      continue;
    }
    const uint64_t generation = m.push().rule_set().generation();
    if (check == PushCheck::stale) {
      refuse(generation, reason, stats_.rejected_stale);
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::string error;
    const bool as_change = m.push().base_generation() != 0;
    if (as_change ? !engine_.apply_change(*m.mutable_push(), error, Engine::Keep::later)
                  : !engine_.apply(std::move(*m.mutable_push()->mutable_rule_set()), error, Engine::Keep::later)) {
      refuse(generation, "not enforced: " + error, stats_.rejected_invalid);
      continue;
    }
    const auto us = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
    ++stats_.applied;
    stats_.last_apply_us = us;
    BH_LOG(NOTICE, "control channel: generation %lu enforced (%lu us)", static_cast<unsigned long>(generation),
           static_cast<unsigned long>(us));
    pb::ControlMessage ack;
    ack.set_version(kControlVersion);
    ack.mutable_ack()->set_generation(generation);
    ack.mutable_ack()->set_apply_us(us);
    ack.mutable_ack()->set_sent_at_ns(m.push().sent_at_ns());
    send(ack);
    engine_.keep_pending();  // after the Ack: the disk write is not on the push's path
    if (as_change) compact_at = std::chrono::steady_clock::now() + kCompactAfter;
  }
}

}  // namespace bulkhead::dataplane
