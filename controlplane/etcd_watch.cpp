#include "controlplane/etcd_watch.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include <httplib.h>

#include "common/threads.h"

namespace bulkhead::controlplane {
namespace {

constexpr auto kBackoffFirst = std::chrono::milliseconds(50);
constexpr auto kBackoffMost = std::chrono::milliseconds(2000);
// A live stream may stay quiet for as long as the store does: etcd 3.4
// sends a progress notification every 10 minutes, and a stream silent for
// longer than that is dead. Hung streams are found sooner by the check.
constexpr auto kStreamIdle = std::chrono::minutes(11);

}  // namespace

bool parse_watch_response(const nlohmann::json& message, WatchResponse& out, std::string& error) {
  out = WatchResponse{};
  if (!message.is_object()) {
    error = "a watch response that is not an object";
    return false;
  }
  if (const auto e = message.find("error"); e != message.end()) {
    const auto m = e->is_object() ? e->find("message") : e->end();
    out.error = e->is_object() && m != e->end() && m->is_string() ? m->get<std::string>().substr(0, 200)
                                                                   : std::string("an error without a message");
    return true;
  }
  const auto r = message.find("result");
  if (r == message.end() || !r->is_object()) {
    error = "a watch response without a result";
    return false;
  }
  const auto flag = [&](const char* name) {
    const auto it = r->find(name);
    return it != r->end() && it->is_boolean() && it->get<bool>();
  };
  if (const auto h = r->find("header"); h != r->end()) out.revision = json_int64(*h, "revision");
  out.created = flag("created");
  out.canceled = flag("canceled");
  out.compact_revision = json_int64(*r, "compact_revision");
  if (out.canceled) {
    const auto why = r->find("cancel_reason");
    out.error = why != r->end() && why->is_string() ? why->get<std::string>().substr(0, 200)
                                                    : std::string("the watch was canceled");
  }
  const auto events = r->find("events");
  if (events == r->end()) return true;
  if (!events->is_array()) {
    error = "watch events that are not a list";
    return false;
  }
  for (const auto& e : *events) {
    WatchEvent w;
    const auto type = e.is_object() ? e.find("type") : e.end();
    if (e.is_object() && type != e.end()) {
      if (!type->is_string() || (*type != "DELETE" && *type != "PUT")) {
        error = "a watch event of an unknown type";
        return false;
      }
      w.deleted = *type == "DELETE";
    }
    const auto kv = e.is_object() ? e.find("kv") : e.end();
    if (!e.is_object() || kv == e.end() || !EtcdClient::key_value(*kv, w.kv) || w.kv.key.empty()) {
      error = "a watch event without a readable key";
      return false;
    }
    out.events.push_back(std::move(w));
  }
  return true;
}

bool WatchStreamParser::feed(std::string_view data, std::vector<WatchResponse>& out) {
  if (!error_.empty()) return false;
  for (const char c : data) {
    if (buffer_.empty()) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;  // between responses
      if (c != '{') {
        error_ = "the watch stream holds something other than JSON objects";
        return false;
      }
    }
    if (buffer_.size() >= kMaxMessageBytes) {
      error_ = "a watch response larger than " + std::to_string(kMaxMessageBytes >> 20) + " MiB";
      return false;
    }
    buffer_.push_back(c);
    if (in_string_) {
      if (escaped_) escaped_ = false;
      else if (c == '\\') escaped_ = true;
      else if (c == '"') in_string_ = false;
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      if (++depth_ > kMaxDepth) {
        error_ = "a watch response nested deeper than " + std::to_string(kMaxDepth);
        return false;
      }
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        const auto message = nlohmann::json::parse(buffer_, nullptr, false);
        buffer_.clear();
        WatchResponse r;
        std::string why;
        if (message.is_discarded() || !parse_watch_response(message, r, why)) {
          error_ = message.is_discarded() ? "a watch response that is not JSON" : why;
          return false;
        }
        out.push_back(std::move(r));
      }
    }
  }
  return true;
}

EtcdWatch::EtcdWatch(Config cfg) : cfg_(std::move(cfg)), reader_(cfg_.endpoints, cfg_.timeout) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  from_ = std::max<int64_t>(cfg_.start_revision, 0);
  thread_ = common::start_thread_without_signals([this] {
    loop();
    finished_ = true;
  });
  checker_ = common::start_thread_without_signals([this] { check_loop(); });
}

EtcdWatch::~EtcdWatch() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  // A stream being set up as stop_ was set is cut once it is under way:
  // until then there is no socket to shut down.
  while (!finished_.load()) {
    cut();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (thread_.joinable()) thread_.join();
  if (checker_.joinable()) checker_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::vector<EtcdWatch::Update> EtcdWatch::take() {
  uint64_t n = 0;
  if (wake_fd_ >= 0 && ::read(wake_fd_, &n, sizeof(n)) < 0) {
    // EAGAIN: nothing was signalled since the last take().
  }
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(updates_, {});
}

std::string EtcdWatch::endpoint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cfg_.endpoints[endpoint_];
}

void EtcdWatch::queue(Update u) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    updates_.push_back(std::move(u));
  }
  const uint64_t one = 1;
  if (wake_fd_ >= 0 && ::write(wake_fd_, &one, sizeof(one)) < 0) {
    // EAGAIN only when the counter is full: the owner is woken already.
  }
}

bool EtcdWatch::pause(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !wake_.wait_for(lock, d, [this] { return stop_.load(); });
}

void EtcdWatch::cut() {
  std::lock_guard<std::mutex> lock(mu_);
  // Shuts the socket down under the blocked read: the request ends at once.
  if (streaming_) streaming_->stop();
}

bool EtcdWatch::resync(const std::string& why, int64_t& revision) {
  std::vector<KeyValue> kvs;
  std::string error;
  // Any key will do: the answer's header carries the store's revision.
  if (!reader_.range(cfg_.prefix, kvs, error, {}, &revision) || revision <= 0) return false;
  resyncs_++;
  Update u;
  u.resync = true;
  u.revision = revision;
  u.why = why;
  queue(std::move(u));
  return true;
}

void EtcdWatch::stream(const std::string& endpoint, bool& compacted, bool& created, std::string& why) {
  httplib::Client client("http://" + endpoint);
  client.set_connection_timeout(cfg_.timeout);
  client.set_read_timeout(kStreamIdle);
  client.set_write_timeout(cfg_.timeout);
  client.set_tcp_nodelay(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    streaming_ = &client;
  }
  nlohmann::json create = {{"key", base64_encode(cfg_.prefix)},
                           {"range_end", base64_encode(EtcdClient::prefix_end(cfg_.prefix))},
                           {"start_revision", std::to_string(from_.load())},
                           {"progress_notify", true}};
  httplib::Request req;
  req.method = "POST";
  req.path = "/v3/watch";
  req.body = nlohmann::json{{"create_request", create}}.dump();
  req.set_header("Content-Type", "application/json");
  int status = 0;
  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    return res.status == 200;
  };
  WatchStreamParser parser;
  std::vector<WatchResponse> responses;
  bool ended = false;  // the stream said all it will: stop reading
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (stop_) return false;
    responses.clear();
    const bool ok = parser.feed(std::string_view(data, n), responses);
    for (auto& r : responses) {
      if (!r.error.empty() || r.canceled) {
        compacted = r.compact_revision > 0;
        why = compacted ? "the watch's start revision " + std::to_string(from_.load()) + " was compacted (at " +
                              std::to_string(r.compact_revision) + ")"
                        : "etcd ended the watch: " + r.error;
        ended = true;
        break;
      }
      if (r.created) {
        created = true;
        healthy_ = true;
      }
      int64_t last = 0;
      for (const auto& e : r.events) last = std::max(last, e.kv.mod_revision);
      // A response without events (a progress notification) says the
      // stream has delivered everything up to its header's revision.
      if (r.events.empty() && !r.created) last = r.revision;
      if (last >= from_.load()) from_ = last + 1;
      if (!r.events.empty()) {
        Update u;
        u.events = std::move(r.events);
        queue(std::move(u));
      }
    }
    if (!ok && !ended) {
      why = "the watch stream from " + endpoint + " is malformed: " + parser.error();
      ended = true;
    }
    return !ended;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  client.send(req, res, error);
  {
    std::lock_guard<std::mutex> lock(mu_);
    streaming_ = nullptr;
  }
  healthy_ = false;
  if (why.empty())
    why = "the watch stream from " + endpoint + " ended (" +
          (status != 0 && status != 200 ? "HTTP " + std::to_string(status) : httplib::to_string(error)) + ")";
}

void EtcdWatch::loop() {
  auto backoff = kBackoffFirst;
  std::string why = from_.load() > 0 ? std::string() : "the watch started";
  bool full = true;  // the next resync also restarts the watch at its revision
  while (!stop_) {
    if (!why.empty()) {
      int64_t revision = 0;
      if (!resync(why, revision)) {
        reconnects_++;
        if (!pause(backoff)) return;
        backoff = std::min(backoff * 2, kBackoffMost);
        continue;
      }
      // After a break, on from the last revision delivered: nothing between
      // it and the re-read is lost, whatever the owner reads when.
      if (full || from_.load() == 0) from_ = revision + 1;
      why.clear();
    }
    std::string endpoint;
    {
      std::lock_guard<std::mutex> lock(mu_);
      endpoint = cfg_.endpoints[endpoint_];
    }
    bool compacted = false, created = false;
    stream(endpoint, compacted, created, why);
    if (stop_) return;
    full = compacted;
    if (compacted) continue;  // a re-read, then a watch from its revision
    // Broken: the next member, after a pause while attempts keep failing.
    reconnects_++;
    {
      std::lock_guard<std::mutex> lock(mu_);
      endpoint_ = (endpoint_ + 1) % cfg_.endpoints.size();
    }
    if (created) backoff = kBackoffFirst;
    if (!pause(backoff)) return;
    backoff = std::min(backoff * 2, kBackoffMost);
  }
}

void EtcdWatch::check_loop() {
  EtcdClient client(cfg_.endpoints, cfg_.timeout);
  int64_t missing = 0;  // a revision etcd had and the stream had not delivered at the last check
  while (pause(cfg_.check_period)) {
    const int64_t from = from_.load();
    if (!healthy_ || from == 0) {
      missing = 0;
      continue;
    }
    if (missing != 0 && from <= missing) {
      missing = 0;
      cut();  // stale: the watch thread reconnects through the next member
      continue;
    }
    std::vector<KeyValue> kvs;
    std::string error;
    missing = 0;
    if (!client.keys_since(cfg_.prefix, from, kvs, error)) continue;
    for (const auto& kv : kvs) missing = std::max(missing, kv.mod_revision);
  }
}

}  // namespace bulkhead::controlplane
