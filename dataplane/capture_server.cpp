#include "dataplane/capture_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>

#include "common/threads.h"
#include "dataplane/engine.h"
#include "dataplane/log.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::dataplane {
namespace {

constexpr size_t kPacketsPerMessage = 16;  // about 34 KB a datagram at most

bool send_message(int fd, const pb::CaptureMessage& m) {
  const std::string data = m.SerializeAsString();
  return ::send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}

void set_timeout(int fd, int option, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

// The rule filter's index in the active set, and that set's epoch.
std::pair<uint32_t, uint32_t> resolve_rule(Engine& engine, const CaptureFilter& f) {
  std::lock_guard<std::mutex> lock(engine.rules().readers());
  const RuleSet* rs = engine.rules().acquire();
  if (rs == nullptr) return {0, kCaptureNoMatch};
  if (!f.rule) return {rs->epoch(), kCaptureNoMatch};
  for (uint32_t k = 0; k < rs->rules().size(); ++k)
    if (rs->rules()[k].id == *f.rule) return {rs->epoch(), k};
  return {rs->epoch(), *f.rule == kDefaultRuleName ? kNoRule : kCaptureNoMatch};
}

uint32_t active_epoch(Engine& engine) {
  std::lock_guard<std::mutex> lock(engine.rules().readers());
  const RuleSet* rs = engine.rules().acquire();
  return rs == nullptr ? 0 : rs->epoch();
}

uint64_t event(const WorkerStats& t, WorkerCounter c) { return t.events[static_cast<unsigned>(c)]; }

}  // namespace

std::string capture_socket_path() { return std::string(rte_eal_get_runtime_dir()) + "/" + kCaptureSocketName; }

CaptureServer::~CaptureServer() { stop(); }

std::unique_ptr<CaptureServer> CaptureServer::start(Engine& engine, std::string path, std::string& error) {
  std::unique_ptr<CaptureServer> s(new CaptureServer(engine));
  s->path_ = path.empty() ? capture_socket_path() : std::move(path);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (s->path_.size() >= sizeof(addr.sun_path)) {
    error = s->path_ + ": path too long for a Unix socket";
    return nullptr;
  }
  std::memcpy(addr.sun_path, s->path_.c_str(), s->path_.size() + 1);
  s->listen_fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) {
    error = std::string("capture socket: ") + std::strerror(errno);
    return nullptr;
  }
  // A socket left by a dataplane of this prefix that died: the EAL let this
  // one start as the primary process, so nobody else serves it.
  ::unlink(s->path_.c_str());
  if (::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::chmod(s->path_.c_str(), 0600) != 0 || ::listen(s->listen_fd_, 4) != 0) {
    error = s->path_ + ": " + std::strerror(errno);
    ::close(s->listen_fd_);
    s->listen_fd_ = -1;
    return nullptr;
  }
  s->thread_ = common::start_thread_without_signals([p = s.get()] { p->run(); });
  return s;
}

void CaptureServer::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
    listen_fd_ = -1;
  }
}

void CaptureServer::run() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve(fd);
    ::close(fd);
  }
}

void CaptureServer::serve(int fd) {
  set_timeout(fd, SO_RCVTIMEO, 2000);
  // A client that takes nothing for this long is gone; meanwhile the
  // workers' rings fill and copies are lost, counted.
  set_timeout(fd, SO_SNDTIMEO, 5000);
  std::string buf(kCaptureMaxRequestBytes + 1, '\0');
  const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
  if (n <= 0) return;
  buf.resize(static_cast<size_t>(n));
  CaptureFilter f;
  std::string error;
  pb::CaptureMessage m;
  if (!read_capture_request(buf, f, error)) {
    m.set_error(error);
    send_message(fd, m);
    return;
  }
  CaptureTap& tap = engine_.capture();
  const WorkerStats before = engine_.totals();
  auto [epoch, rule] = resolve_rule(engine_, f);
  tap.arm(f, epoch, rule);
  BH_LOG(NOTICE, "capture armed: %s", describe(f).c_str());

  auto* started = m.mutable_started();
  started->set_filter(describe(f));
  started->set_snaplen(kCaptureSnap);
  uint16_t port;
  RTE_ETH_FOREACH_DEV(port) {
    char name[RTE_ETH_NAME_MAX_LEN] = {};
    rte_eth_dev_get_name_by_port(port, name);
    auto* cp = started->add_ports();
    cp->set_port(port);
    cp->set_name(name);
  }
  std::string why;
  if (!send_message(fd, m)) why = "client gone";

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(f.duration_ms);
  const uint64_t hz = rte_get_tsc_hz();
  std::vector<CaptureRecord> recs(kPacketsPerMessage);
  uint64_t sent = 0;
  std::shared_ptr<const FlowContext> ctx;
  uint32_t ctx_epoch = UINT32_MAX;
  int idle_ms = 0;
  while (why.empty()) {
    if (stopping_.load()) {
      why = "dataplane stopping";
      break;
    }
    if (f.duration_ms != 0 && std::chrono::steady_clock::now() >= deadline) {
      why = "duration reached";
      break;
    }
    // The client says nothing after its request: anything readable is its
    // end (EOF) or a broken client. Another client is told to wait.
    pollfd p[2] = {{fd, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    if (::poll(p, 2, 0) > 0) {
      if (p[0].revents != 0) {
        why = "client gone";
        break;
      }
      if (const int other = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC); other >= 0) {
        pb::CaptureMessage busy;
        busy.set_error("a capture is already running on this dataplane; try again when it ends");
        set_timeout(other, SO_SNDTIMEO, 100);
        set_timeout(other, SO_RCVTIMEO, 100);
        // Its request read first: closing a socket with a datagram unread
        // resets the connection, and the client would not see why.
        char request[kCaptureMaxRequestBytes];
        (void)::recv(other, request, sizeof(request), 0);
        send_message(other, busy);
        ::close(other);
      }
    }
    if (f.rule) {  // a swap renumbers rules: the workers compare the new set's index
      if (active_epoch(engine_) != epoch) {
        std::tie(epoch, rule) = resolve_rule(engine_, f);
        tap.retarget(epoch, rule);
      }
    }
    const size_t got = tap.drain(recs.data(), std::min<uint64_t>(recs.size(), f.count - sent));
    if (got == 0) {
      // Nothing matched lately: wake less often (the rings hold 256 copies a
      // worker; a burst of matches brings the pace back to 1 ms).
      idle_ms = std::min(idle_ms + 1, 10);
      std::this_thread::sleep_for(std::chrono::milliseconds(idle_ms));
      continue;
    }
    idle_ms = 0;
    m.Clear();
    auto* batch = m.mutable_packets();
    const uint64_t tsc_now = rte_get_tsc_cycles();
    const int64_t unix_now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    for (size_t k = 0; k < got; ++k) {
      const CaptureRecord& r = recs[k];
      if (!ctx || ctx_epoch != r.epoch) {
        ctx = engine_.flow_context(r.epoch);
        ctx_epoch = r.epoch;
      }
      auto* cp = batch->add_packets();
      const uint64_t ago = tsc_now >= r.tsc ? tsc_now - r.tsc : 0;
      cp->set_unix_ns(unix_now_ns - static_cast<int64_t>(ago / hz * 1'000'000'000 + ago % hz * 1'000'000'000 / hz));
      cp->set_port(r.port);
      cp->set_length(r.length);
      cp->set_data(r.data, r.caplen);
      cp->set_dropped(r.dropped != 0);
      if (r.rule == kNoRule) cp->set_rule(std::string(kDefaultRuleName));
      else if (r.rule == kCaptureNoRule) {
      } else if (ctx && r.rule < ctx->rule_ids.size()) cp->set_rule(ctx->rule_ids[r.rule]);
      else cp->set_rule("#" + std::to_string(r.rule));
      if (r.dropped && r.reason < kDropReasonCount) cp->set_reason(drop_reason_name(static_cast<DropReason>(r.reason)));
      cp->set_mode(mode_name(static_cast<Mode>(r.mode)));
    }
    if (!send_message(fd, m)) {
      why = "client gone";
      break;
    }
    sent += got;
    if (sent >= f.count) why = "count reached";
  }
  tap.disarm(engine_.qsbr());
  const WorkerStats after = engine_.totals();
  m.Clear();
  auto* end = m.mutable_end();
  end->set_packets(sent);
  end->set_lost(event(after, WorkerCounter::capture_lost) - event(before, WorkerCounter::capture_lost));
  end->set_over_rate(event(after, WorkerCounter::capture_over_rate) - event(before, WorkerCounter::capture_over_rate));
  end->set_why(why);
  send_message(fd, m);
  BH_LOG(NOTICE, "capture ended (%s): %lu packets sent, %lu copies lost to a full ring, %lu over the rate", why.c_str(),
         static_cast<unsigned long>(sent), static_cast<unsigned long>(end->lost()),
         static_cast<unsigned long>(end->over_rate()));
}

}  // namespace bulkhead::dataplane
