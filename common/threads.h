// Helper threads of the daemons (control plane, dataplane): started with
// every signal blocked, so SIGTERM and SIGHUP reach the main thread, whose
// loop watches its flags, and never interrupt a helper's blocking call.
#pragma once

#include <pthread.h>

#include <csignal>
#include <thread>
#include <utility>

namespace bulkhead::common {

// Starts `f` on a thread of its own with every signal blocked.
template <class F>
std::thread start_thread_without_signals(F&& f) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread t(std::forward<F>(f));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
}

}  // namespace bulkhead::common
