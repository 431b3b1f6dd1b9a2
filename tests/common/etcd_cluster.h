// A 3-member etcd cluster for C++ tests, on loopback ports the kernel picked,
// with every member's data and log inside a directory the test owns.
//
// It runs tests/common/etcd_cluster.py as a supervisor over a socket pair:
// the constructor returns once every member answers healthy (or failed, or
// etcd is not installed: skipped()); the destructor stops every member and
// waits. Should the test process die without its destructors, the
// supervisor reads end of input and stops the members itself, and they die
// with the supervisor. One thread uses an instance; several instances may
// run side by side.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace bulkhead::test {

class EtcdCluster {
 public:
  // Starts `members` members under `dir` (created if absent; the caller
  // removes it after this object is gone).
  explicit EtcdCluster(const std::string& dir, int members = 3);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  bool up() const { return !urls_.empty() && error_.empty(); }
  // etcd is not installed (Debian package etcd-server): GTEST_SKIP with error().
  bool skipped() const { return skipped_; }
  const std::string& error() const { return error_; }

  // The members' client URLs, "http://127.0.0.1:PORT", member 0 first.
  const std::vector<std::string>& urls() const { return urls_; }
  // "127.0.0.1:PORT,127.0.0.1:PORT,...", as --store etcd:// takes them.
  std::string endpoints() const;

  // SIGKILL member `i`, as a crash would; returns at once.
  bool kill(int i);
  // Waits until every running member answers healthy: after a kill, until
  // the others have elected a leader (they answer 503 until then).
  bool wait_healthy();
  // Starts member `i` again on its data and waits until it is healthy.
  bool restart(int i);
  // SIGSTOP / SIGCONT member `i`: frozen, it keeps its connections open
  // and answers nothing (wait_healthy() leaves it out).
  bool freeze(int i);
  bool thaw(int i);
  // Stops every member and waits; the destructor does it too.
  void stop();

 private:
  bool command(const std::string& line);
  bool read_line(std::string& line, int timeout_ms);

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
  std::vector<std::string> urls_;
  std::string error_;
  bool skipped_ = false;
};

}  // namespace bulkhead::test
