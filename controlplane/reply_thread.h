// Answers worked out off the control plane's loop: the loop hands a job and
// the CLI route it answers; the job runs on a thread of its own, in the
// order asked, and its reply comes out of replies() as two frames, the
// route and the reply's bytes, for the loop to poll and pass on. A slow job
// (a flow query ClickHouse takes long over, a change passed on to a leader
// that does not answer) holds up only the jobs behind it, never the loop.
// At most `max_waiting` jobs wait; ask() refuses more.
//
// Threading: ask() and replies() from the owner's thread only; jobs run on
// the reply thread, so what they touch must be theirs or guarded.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <zmq.hpp>

namespace bulkhead::controlplane {

class ReplyThread {
 public:
  using Job = std::function<std::string()>;  // returns the reply's bytes

  // `name` tells its inproc socket apart; nullptr with `error` on failure.
  static std::unique_ptr<ReplyThread> create(zmq::context_t& ctx, const std::string& name, size_t max_waiting,
                                             std::string& error);
  // Lets the running job finish; jobs still waiting are dropped.
  ~ReplyThread();

  // False when `max_waiting` jobs already wait.
  bool ask(std::string route, Job job);
  // A PULL socket for the owner's thread alone: poll it, read the replies.
  zmq::socket_t& replies() { return *replies_; }

 private:
  ReplyThread() = default;
  void loop(zmq::socket_t& out);

  size_t max_waiting_ = 0;
  std::unique_ptr<zmq::socket_t> replies_;
  std::mutex mu_;  // guards what follows
  std::condition_variable cv_;
  std::deque<std::pair<std::string, Job>> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace bulkhead::controlplane
