#include "controlplane/flows/syslog_sink.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <charconv>
#include <cstring>

#include "common/threads.h"
#include "common/time.h"
#include "controlplane/flows/record.h"

namespace bulkhead::controlplane::flows {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint8_t kSeverityNotice = 5;
constexpr uint8_t kSeverityInfo = 6;
constexpr uint32_t kMaxSequence = 2'147'483'647;  // RFC 5424 7.3.1: then 1 again
constexpr uint32_t kMaxQueue = 10'000'000;
constexpr size_t kMaxHostname = 255;
constexpr auto kFirstRetry = std::chrono::milliseconds(100);
constexpr auto kLastRetry = std::chrono::seconds(30);
constexpr auto kDrain = std::chrono::seconds(1);
constexpr int kSendTimeoutS = 5;
constexpr size_t kBatch = 256;  // messages taken off the queue at once

struct Facility {
  const char* name;
  uint8_t code;
};
constexpr Facility kFacilities[] = {
    {"user", 1},     {"daemon", 3},   {"auth", 4},     {"authpriv", 10}, {"local0", 16}, {"local1", 17},
    {"local2", 18},  {"local3", 19},  {"local4", 20},  {"local5", 21},   {"local6", 22}, {"local7", 23},
};

// RFC 5424 HOSTNAME: 1 to 255 printable US-ASCII characters, no space.
bool valid_hostname(std::string_view h) {
  return !h.empty() && h.size() <= kMaxHostname &&
         std::all_of(h.begin(), h.end(), [](char c) { return c > 32 && c < 127; });
}

std::string this_host() {
  char name[kMaxHostname + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "-";
  return valid_hostname(name) ? std::string(name) : "-";
}

std::string error_text(const std::string& what, int err) { return what + ": " + std::strerror(err); }

}  // namespace

bool parse_syslog_target(std::string_view text, SyslogTarget& out, std::string& why) {
  SyslogTarget t;
  if (text.starts_with("udp://")) {
    t.transport = SyslogTarget::Transport::udp;
  } else if (text.starts_with("tcp://")) {
    t.transport = SyslogTarget::Transport::tcp;
  } else {
    why = "not udp://HOST:PORT or tcp://HOST:PORT";
    return false;
  }
  std::string_view rest = text.substr(6);
  std::string_view port;
  if (rest.starts_with('[')) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      why = "an IPv6 address without its closing ']'";
      return false;
    }
    t.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        why = "':PORT' expected after ']'";
        return false;
      }
      port = rest.substr(1);
      if (port.empty()) {
        why = "an empty port";
        return false;
      }
    }
  } else {
    const size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos) {
      if (rest.find(':') != colon) {
        why = "an IPv6 address goes in brackets: [ADDRESS]:PORT";
        return false;
      }
      port = rest.substr(colon + 1);
      rest = rest.substr(0, colon);
      if (port.empty()) {
        why = "an empty port";
        return false;
      }
    }
    t.host = std::string(rest);
  }
  if (t.host.empty() || t.host.size() > kMaxHostname ||
      !std::all_of(t.host.begin(), t.host.end(),
                   [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || (c != 0 && std::strchr(".-_:%", c)); })) {
    why = "no host, or a host that is not a name or an address";
    return false;
  }
  if (!port.empty()) {
    unsigned p = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535) {
      why = "the port is not a number from 1 to 65535";
      return false;
    }
    t.port = static_cast<uint16_t>(p);
  }
  out = std::move(t);
  return true;
}

std::string to_string(const SyslogTarget& t) {
  const bool v6 = t.host.find(':') != std::string::npos;
  return std::string(t.transport == SyslogTarget::Transport::tcp ? "tcp://" : "udp://") + (v6 ? "[" : "") + t.host +
         (v6 ? "]" : "") + ":" + std::to_string(t.port);
}

bool parse_syslog_facility(std::string_view text, uint8_t& facility) {
  for (const Facility& f : kFacilities) {
    if (text == f.name) {
      facility = f.code;
      return true;
    }
  }
  return false;
}

std::string check(const SyslogOptions& o) {
  if (o.queue == 0 || o.queue > kMaxQueue)
    return "--flow-syslog-queue: between 1 and " + std::to_string(kMaxQueue) + " messages";
  if (o.facility > 23) return "--flow-syslog-facility: not a syslog facility";
  if (!o.hostname.empty() && !valid_hostname(o.hostname))
    return "--flow-syslog-hostname: 1 to 255 printable ASCII characters, no space";
  return {};
}

std::string syslog_message(const pb::FlowRecord& r, std::string_view json, const SyslogOptions& o,
                           std::string_view hostname, uint32_t procid, uint32_t sequence) {
  const bool denied = r.kind() == pb::FlowRecord::DENIED || r.verdict() == pb::FlowRecord::DENY;
  std::string m = "<" + std::to_string(o.facility * 8 + (denied ? kSeverityNotice : kSeverityInfo)) + ">1 ";
  m += common::format_iso8601_ms(r.time_ms());
  m += ' ';
  m += valid_hostname(hostname) ? hostname : "-";
  m += " bulkhead ";
  m += std::to_string(procid);
  m += ' ';
  m += kind_name(r.kind());
  m += " [meta sequenceId=\"" + std::to_string(sequence) + "\"] ";
  m += json;
  return m;
}

SyslogSink::SyslogSink(const SyslogTarget& target, const SyslogOptions& options)
    : target_(target),
      opt_(options),
      hostname_(options.hostname.empty() ? this_host() : options.hostname),
      procid_(static_cast<uint32_t>(::getpid())) {
  info_.set_target(to_string(target_));
  info_.set_queue_limit(opt_.queue);
}

std::unique_ptr<SyslogSink> SyslogSink::open(const SyslogTarget& target, const SyslogOptions& options,
                                             std::string& error) {
  if (std::string why = check(options); !why.empty()) {
    error = why;
    return nullptr;
  }
  std::unique_ptr<SyslogSink> s(new SyslogSink(target, options));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = target.transport == SyslogTarget::Transport::tcp ? SOCK_STREAM : SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(target.port);
  if (const int rc = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found); rc != 0 || !found) {
    error = "syslog collector " + to_string(target) + ": " + ::gai_strerror(rc);
    return nullptr;
  }
  std::memcpy(&s->addr_, found->ai_addr, found->ai_addrlen);
  s->addr_len_ = found->ai_addrlen;
  ::freeaddrinfo(found);
  s->thread_ = common::start_thread_without_signals([p = s.get()] { p->loop(); });
  return s;
}

SyslogSink::~SyslogSink() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  disconnect();
}

void SyslogSink::send(RecordLines& lines) {
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < lines.size(); ++i) enqueue(lines, i);
  lock.unlock();
  cv_.notify_one();
}

void SyslogSink::enqueue(RecordLines& lines, size_t i) {
  sequence_ = sequence_ == kMaxSequence ? 1 : sequence_ + 1;
  if (queue_.size() >= opt_.queue) {
    info_.set_dropped_queue(info_.dropped_queue() + 1);
    return;
  }
  const pb::FlowRecord& r = lines.record(i);
  if (lines.format() == opt_.format)
    queue_.push_back(syslog_message(r, lines.line(i), opt_, hostname_, procid_, sequence_));
  else
    queue_.push_back(syslog_message(r, format_record(r, lines.dataplane(), opt_.format), opt_, hostname_, procid_, sequence_));
  info_.set_queued(static_cast<uint32_t>(queue_.size()));
}

pb::FlowSyslogInfo SyslogSink::info() const {
  std::lock_guard lock(mu_);
  return info_;
}

bool SyslogSink::connect(std::string& error) {
  const bool tcp = target_.transport == SyslogTarget::Transport::tcp;
  const int fd = ::socket(addr_.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = error_text("socket", errno);
    return false;
  }
  // A collector that stops reading cannot hold the thread for long: the
  // send fails, the message is counted lost and the sink reconnects.
  const timeval timeout{kSendTimeoutS, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr_), addr_len_) != 0) {
    error = error_text("connect to " + to_string(target_), errno);
    ::close(fd);
    return false;
  }
  fd_ = fd;
  return true;
}

void SyslogSink::disconnect() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool SyslogSink::peer_closed() const {
  if (target_.transport != SyslogTarget::Transport::tcp) return false;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

bool SyslogSink::put(const std::string& message, std::string& error) {
  if (target_.transport == SyslogTarget::Transport::udp) {
    if (::send(fd_, message.data(), message.size(), MSG_NOSIGNAL) < 0) {
      error = error_text("send to " + to_string(target_), errno);
      return false;
    }
    return true;
  }
  const std::string frame = std::to_string(message.size()) + ' ' + message;
  size_t done = 0;
  while (done < frame.size()) {
    const ssize_t n = ::send(fd_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = error_text("send to " + to_string(target_), n < 0 ? errno : EPIPE);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

void SyslogSink::loop() {
  const bool tcp = target_.transport == SyslogTarget::Transport::tcp;
  auto retry = std::chrono::duration_cast<Clock::duration>(kFirstRetry);
  Clock::time_point next_connect{};
  Clock::time_point drain_until{};
  std::deque<std::string> batch;
  std::unique_lock lock(mu_);
  for (;;) {
    if (stop_ && drain_until == Clock::time_point{}) drain_until = Clock::now() + kDrain;
    if (stop_ && (queue_.empty() || Clock::now() >= drain_until)) break;
    if (fd_ < 0 || peer_closed()) {
      if (fd_ >= 0) {
        disconnect();
        info_.set_connected(false);
      }
      if (Clock::now() < next_connect) {
        cv_.wait_until(lock, stop_ ? std::min(next_connect, drain_until) : next_connect);
        continue;
      }
      lock.unlock();
      std::string error;
      const bool ok = connect(error);
      lock.lock();
      if (!ok) {
        info_.set_last_error(error);
        next_connect = Clock::now() + retry;
        retry = std::min(retry * 2, std::chrono::duration_cast<Clock::duration>(kLastRetry));
        continue;
      }
      retry = std::chrono::duration_cast<Clock::duration>(kFirstRetry);
      info_.set_connected(true);
      if (tcp) info_.set_connects(info_.connects() + 1);
    }
    if (queue_.empty()) {
      // TCP wakes now and then to notice a collector that went away.
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_ || !queue_.empty(); });
      continue;
    }
    const size_t take = std::min(queue_.size(), kBatch);
    batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + take));
    queue_.erase(queue_.begin(), queue_.begin() + take);
    info_.set_queued(static_cast<uint32_t>(queue_.size()));
    lock.unlock();
    uint64_t sent = 0, bytes = 0, failed = 0;
    std::string error;
    for (const std::string& m : batch) {
      if (put(m, error)) {
        ++sent;
        bytes += m.size() + (tcp ? std::to_string(m.size()).size() + 1 : 0);
        continue;
      }
      ++failed;
      // A broken stream loses what was in flight; the next messages wait
      // for the new connection rather than fail one by one.
      if (tcp) {
        disconnect();
        break;
      }
    }
    lock.lock();
    if (tcp && fd_ < 0) {
      info_.set_connected(false);
      next_connect = Clock::now() + retry;
      // The messages after the failed one go back to the front, in order.
      const size_t done = sent + failed;
      for (size_t i = batch.size(); i > done; --i) queue_.push_front(std::move(batch[i - 1]));
      info_.set_queued(static_cast<uint32_t>(queue_.size()));
    }
    info_.set_messages(info_.messages() + sent);
    info_.set_bytes(info_.bytes() + bytes);
    info_.set_dropped_errors(info_.dropped_errors() + failed);
    if (failed > 0) info_.set_last_error(error);
    batch.clear();
  }
}

}  // namespace bulkhead::controlplane::flows
