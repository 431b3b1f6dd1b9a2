#include "tests/integration/dataplane_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "dataplane/eal_runtime.h"

namespace bulkhead::test {
namespace {

std::atomic<int> g_seq{0};

}  // namespace

std::string build_path(const std::string& relative) {
  const char* dir = std::getenv("BULKHEAD_BUILD_DIR");
  return std::string(dir != nullptr ? dir : "build") + "/" + relative;
}

DataplaneProcess::DataplaneProcess(const std::string& binary, std::vector<std::string> eal,
                                   std::vector<std::string> app) {
  prefix_ = "bh_test_" + std::to_string(getpid()) + "_" + std::to_string(g_seq.fetch_add(1));
  log_path_ = "/tmp/" + prefix_ + ".log";
  std::vector<std::string> args{binary};
  args.insert(args.end(), eal.begin(), eal.end());
  args.push_back("--file-prefix=" + prefix_);
  args.push_back("--");
  args.insert(args.end(), app.begin(), app.end());
  pid_ = fork();
  if (pid_ == 0) {
    const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
}

DataplaneProcess::~DataplaneProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::remove(log_path_.c_str());
  // Killed, it could not remove its EAL runtime directory itself.
  dataplane::remove_eal_runtime_dir(dataplane::eal_runtime_dir(prefix_));
}

std::string DataplaneProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool DataplaneProcess::wait_ready(std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (log().find("ready:") != std::string::npos) return true;
    int status;
    if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string DataplaneProcess::telemetry(const std::string& command) const {
  const std::string path = dataplane::eal_runtime_dir(prefix_) + "/dpdk_telemetry.v2";
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  if (fd < 0) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::vector<char> buf(65536);
    if (recv(fd, buf.data(), buf.size(), 0) > 0 &&  // the greeting
        send(fd, command.data(), command.size(), 0) == static_cast<ssize_t>(command.size())) {
      const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n > 0) reply.assign(buf.data(), static_cast<size_t>(n));
    }
  }
  close(fd);
  return reply;
}

namespace {

// The first unsigned integer named `key` in `j` or in any object inside it.
bool find_u64(const nlohmann::json& j, const std::string& key, uint64_t& value) {
  if (j.is_object()) {
    const auto it = j.find(key);
    if (it != j.end() && it->is_number_unsigned()) {
      value = it->get<uint64_t>();
      return true;
    }
  }
  if (j.is_structured())
    for (const auto& v : j)
      if (find_u64(v, key, value)) return true;
  return false;
}

}  // namespace

bool json_u64(const std::string& text, const std::string& key, uint64_t& value) {
  // `text` may hold several JSON objects with other output between them
  // (dpdk-telemetry.py prints its greeting first): each top-level object is
  // parsed in turn.
  size_t start = text.find('{');
  while (start != std::string::npos) {
    int depth = 0;
    bool in_string = false;
    size_t end = start;
    for (; end < text.size(); ++end) {
      const char c = text[end];
      if (in_string) {
        if (c == '\\') ++end;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        break;
      }
    }
    if (end >= text.size()) return false;
    const auto j = nlohmann::json::parse(text.begin() + static_cast<std::ptrdiff_t>(start),
                                         text.begin() + static_cast<std::ptrdiff_t>(end) + 1, nullptr, false);
    if (!j.is_discarded() && find_u64(j, key, value)) return true;
    start = text.find('{', end + 1);
  }
  return false;
}

bool DataplaneProcess::wait_counter(const std::string& command, const std::string& key, uint64_t value,
                                    std::chrono::milliseconds timeout) const {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    uint64_t v = 0;
    if (json_u64(telemetry(command), key, v) && v >= value) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void DataplaneProcess::signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

int DataplaneProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0 && std::chrono::steady_clock::now() < end) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pid_ > 0 ? -2 : status_;
}

int DataplaneProcess::stop() {
  signal(SIGTERM);
  const int rc = wait_exit(std::chrono::seconds(10));
  if (rc == -2) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return -1;
  }
  return rc;
}

}  // namespace bulkhead::test
