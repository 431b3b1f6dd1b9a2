#include "controlplane/reply_thread.h"

#include "common/threads.h"

namespace bulkhead::controlplane {

std::unique_ptr<ReplyThread> ReplyThread::create(zmq::context_t& ctx, const std::string& name, size_t max_waiting,
                                                 std::string& error) {
  std::unique_ptr<ReplyThread> t(new ReplyThread());
  t->max_waiting_ = max_waiting;
  const std::string endpoint =
      "inproc://bulkhead-" + name + "-replies-" + std::to_string(reinterpret_cast<uintptr_t>(t.get()));
  try {
    t->replies_ = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pull);
    t->replies_->set(zmq::sockopt::linger, 0);
    t->replies_->bind(endpoint);
  } catch (const zmq::error_t& e) {
    error = "cannot set up the socket of the " + name + " replies: " + e.what();
    return nullptr;
  }
  t->thread_ = common::start_thread_without_signals([p = t.get(), &ctx, endpoint] {
    zmq::socket_t out(ctx, zmq::socket_type::push);
    out.set(zmq::sockopt::linger, 0);
    out.connect(endpoint);
    p->loop(out);
  });
  return t;
}

ReplyThread::~ReplyThread() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool ReplyThread::ask(std::string route, Job job) {
  {
    std::lock_guard lock(mu_);
    if (jobs_.size() >= max_waiting_) return false;
    jobs_.emplace_back(std::move(route), std::move(job));
  }
  cv_.notify_one();
  return true;
}

void ReplyThread::loop(zmq::socket_t& out) {
  while (true) {
    std::pair<std::string, Job> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    const std::string reply = job.second();
    out.send(zmq::buffer(job.first), zmq::send_flags::sndmore);
    out.send(zmq::buffer(reply), zmq::send_flags::none);
  }
}

}  // namespace bulkhead::controlplane
