// A watch on the keys under a prefix in etcd, through the v3 JSON gateway:
// POST /v3/watch with a create_request answers with a stream that stays
// open, one JSON object per watch response (etcd 3.4 writes
// {"result":{...}} or {"error":{...}}, each followed by a newline).
//
// The watch runs on a thread of its own (a blocking cpp-httplib request
// whose content receiver parses the stream) and hands what it sees to its
// owner as updates in a queue under a mutex; an eventfd, readable while
// updates wait, wakes the owner's poll (zmq::poll takes plain descriptors).
//
// Updates are of two kinds:
//  - events: keys put or deleted, in revision order;
//  - resync: the owner must read everything it keeps from etcd again,
//    because the watch may have missed something: at start, after the
//    start revision was compacted (etcd cancels such a watch and names the
//    compact revision), after the stream broke or was found stale. The
//    watch first reads a key to learn the store's revision R, queues the
//    resync, then watches from R + 1 (or, after a break, from the last
//    revision it delivered + 1, so that nothing is lost in between; a
//    compacted one brings the compaction path again).
// A broken stream (member killed, HTTP error, malformed answer) is
// reconnected through the next endpoint, with a backoff that doubles from
// 50 ms up to 2 s while attempts fail and starts again once a stream is
// created. A stream may also hang without breaking (a member frozen or cut
// off): a second thread reads, every check period, the prefix's keys
// modified since the last revision delivered (keys only); one the stream
// still has not delivered a check later means the stream is stale, and it
// is replaced. Deletes leave no key to find: the owner's own slow reads of
// what matters to it (the leader key) cover those.
//
// Parsing the stream is parsing outside input: a response is bounded
// (kMaxMessageBytes, kMaxDepth), anything malformed ends the stream and
// never throws; WatchStreamParser is what tests/fuzz/etcd_watch_fuzz.cpp
// runs.
//
// Thread-safety: take(), healthy(), wake_fd(), endpoint() and the counters
// from any thread; the rest is the watch and check threads'.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "controlplane/etcd_client.h"

namespace bulkhead::controlplane {

struct WatchEvent {
  bool deleted = false;  // a delete; else a put
  KeyValue kv;           // a delete carries the key and mod_revision only
};

// One watch response as the gateway writes it.
struct WatchResponse {
  int64_t revision = 0;          // the header's: the store's revision when it was sent
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // > 0: the start revision was compacted
  std::string error;             // an {"error":...} answer, or why etcd canceled
  std::vector<WatchEvent> events;
};

// False with `error` when `message` is not a watch response.
bool parse_watch_response(const nlohmann::json& message, WatchResponse& out, std::string& error);

// Cuts a stream of concatenated JSON objects (whitespace between them) into
// watch responses, whatever the bytes and however they are split.
class WatchStreamParser {
 public:
  // A response with a generation's chunk (768 KiB, base64) and the rest of
  // its transaction is under 2 MiB; etcd may join several revisions into
  // one response while a watch catches up. Past this the stream is refused
  // and the owner reads everything again instead.
  static constexpr size_t kMaxMessageBytes = size_t{16} << 20;
  static constexpr int kMaxDepth = 16;

  // Adds bytes; complete responses are appended to `out`. False once the
  // stream is malformed (error() says why); it stays so.
  bool feed(std::string_view data, std::vector<WatchResponse>& out);
  const std::string& error() const { return error_; }

 private:
  std::string buffer_;  // bytes of the response being read; the state below describes them
  int depth_ = 0;
  bool in_string_ = false, escaped_ = false;
  std::string error_;
};

class EtcdWatch {
 public:
  struct Update {
    bool resync = false;    // read everything again; else `events`
    int64_t revision = 0;   // resync: the revision the watch goes on after
    std::string why;        // resync: what made it one
    std::vector<WatchEvent> events;
  };
  struct Config {
    std::vector<std::string> endpoints;  // "host:port"
    std::string prefix;                  // every key that starts with it
    std::chrono::milliseconds check_period{5000};  // the stale-stream check
    std::chrono::milliseconds timeout{1000};       // connecting, and each read of the check
    // > 0: watch from this revision, the owner having read everything up to
    // the one before; 0: a resync first.
    int64_t start_revision = 0;
  };

  explicit EtcdWatch(Config cfg);  // starts watching; the first update is a resync
  ~EtcdWatch();                    // stops the thread
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  // Every update queued, oldest first; clears wake_fd().
  std::vector<Update> take();
  // Readable while updates wait.
  int wake_fd() const { return wake_fd_; }
  // A stream is created and delivering, and no resync waits: what the
  // owner built from the updates taken is etcd's present.
  bool healthy() const { return healthy_.load(); }
  // The member the stream goes to (or was last tried on).
  std::string endpoint() const;
  uint64_t resyncs() const { return resyncs_.load(); }
  uint64_t reconnects() const { return reconnects_.load(); }

 private:
  void loop();
  // Reads a key for the store's revision and queues a resync; false when no
  // endpoint answered.
  bool resync(const std::string& why, int64_t& revision);
  // One stream from from_, until it ends; `compacted` when etcd canceled it
  // for a compacted start revision, `created` once etcd confirmed it.
  void stream(const std::string& endpoint, bool& compacted, bool& created, std::string& why);
  void check_loop();
  // Ends the live stream, if any (from any thread).
  void cut();
  void queue(Update u);
  // Sleeps up to `d`; false when stopping.
  bool pause(std::chrono::milliseconds d);

  Config cfg_;
  EtcdClient reader_;  // the watch thread's reads (the revision, the check)
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false}, healthy_{false};
  std::atomic<bool> finished_{false};  // loop() has returned
  std::atomic<int64_t> from_{0};  // the revision the stream delivers next (0: none yet)
  std::atomic<uint64_t> resyncs_{0}, reconnects_{0};
  mutable std::mutex mu_;  // guards the members below
  std::condition_variable wake_;
  std::vector<Update> updates_;
  size_t endpoint_ = 0;
  httplib::Client* streaming_ = nullptr;  // the live request's client, for stop()
  std::thread thread_, checker_;
};

}  // namespace bulkhead::controlplane
