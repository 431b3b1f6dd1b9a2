// Runs the real bulkhead-dataplane binary as a child process for tests, and
// reads its counters over the DPDK telemetry socket.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace bulkhead::test {

class DataplaneProcess {
 public:
  // `eal` and `app` are the arguments before and after `--`. A unique
  // --file-prefix is added. Output goes to `log_path`.
  DataplaneProcess(const std::string& binary, std::vector<std::string> eal, std::vector<std::string> app);
  ~DataplaneProcess();

  // Waits for the "ready" line; false if the process exited or timed out.
  bool wait_ready(std::chrono::milliseconds timeout);
  // Sends `command` (e.g. "/bulkhead/stats") and returns the JSON reply, or
  // an empty string.
  std::string telemetry(const std::string& command) const;
  // Polls `command` until the integer at `key` reaches `value`.
  bool wait_counter(const std::string& command, const std::string& key, uint64_t value,
                    std::chrono::milliseconds timeout) const;
  void signal(int sig) const;
  // Sends SIGTERM and waits; returns the exit status (-1 if killed).
  int stop();
  // Waits for the process to exit on its own; returns its exit status.
  int wait_exit(std::chrono::milliseconds timeout);
  std::string log() const;
  const std::string& prefix() const { return prefix_; }

 private:
  pid_t pid_ = -1;
  std::string prefix_;
  std::string log_path_;
  int status_ = -1;
};

// The first unsigned integer named `key` in the JSON objects of `text` (a
// telemetry reply, or a tool's output holding several objects), read with a
// JSON parser; false when there is none.
bool json_u64(const std::string& json, const std::string& key, uint64_t& value);

// Path of a built program, from the BULKHEAD_BUILD_DIR environment variable.
std::string build_path(const std::string& relative);

}  // namespace bulkhead::test
