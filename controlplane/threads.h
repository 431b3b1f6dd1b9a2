// Threads of the control plane daemon.
#pragma once

#include <pthread.h>

#include <csignal>
#include <thread>
#include <utility>

namespace bulkhead::controlplane {

// Starts a thread with every signal blocked, so signals reach the main
// thread (whose loop watches the stop flag) and never interrupt this one.
template <class F>
std::thread start_thread_without_signals(F&& f) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread t(std::forward<F>(f));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
}

}  // namespace bulkhead::controlplane
