#include "tests/common/etcd_cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

namespace bulkhead::test {
namespace {

// Start-up and restart wait for elections and for etcd's own start; the
// supervisor gives up after 30 s and says why, so this only guards against
// a supervisor that hangs.
constexpr int kAnswerTimeoutMs = 60'000;

}  // namespace

EtcdCluster::EtcdCluster(const std::string& dir, int members) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  int sv[2];
  // A socket pair rather than pipes: send() with MSG_NOSIGNAL, so a
  // supervisor that died is an error here, not a SIGPIPE for the test.
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    error_ = "socketpair failed";
    return;
  }
  const std::string script = BULKHEAD_ETCD_CLUSTER_PY;
  const std::string count = std::to_string(members);
  const std::string log = dir + "/supervisor.log";
  pid_ = fork();
  if (pid_ == 0) {
    dup2(sv[1], 0);
    dup2(sv[1], 1);
    const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err >= 0) dup2(err, 2);
    execlp("python3", "python3", "-B", script.c_str(), "run", dir.c_str(), count.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  close(sv[1]);
  fd_ = sv[0];
  if (pid_ < 0) {
    error_ = "fork failed";
    return;
  }
  std::string line;
  if (!read_line(line, kAnswerTimeoutMs)) {
    error_ = "the etcd supervisor did not answer (see " + log + ")";
    stop();
    return;
  }
  if (line.rfind("SKIP", 0) == 0) {
    skipped_ = true;
    error_ = line;
    stop();
    return;
  }
  if (line.rfind("ready ", 0) != 0) {
    error_ = line;
    stop();
    return;
  }
  for (size_t at = 6; at <= line.size();) {
    const size_t comma = line.find(',', at);
    urls_.push_back(line.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
}

EtcdCluster::~EtcdCluster() { stop(); }

std::string EtcdCluster::endpoints() const {
  std::string out;
  for (const auto& u : urls_) {
    if (!out.empty()) out += ',';
    out += u.substr(u.find("://") + 3);
  }
  return out;
}

bool EtcdCluster::read_line(std::string& line, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now()).count();
    if (left <= 0 || fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[512];
    const ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

bool EtcdCluster::command(const std::string& line) {
  if (fd_ < 0) return false;
  const std::string out = line + "\n";
  if (send(fd_, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) return false;
  std::string answer;
  if (!read_line(answer, kAnswerTimeoutMs)) return false;
  if (answer == "ok") return true;
  error_ = answer;
  return false;
}

bool EtcdCluster::kill(int i) { return command("kill " + std::to_string(i)); }
bool EtcdCluster::wait_healthy() { return command("healthy"); }
bool EtcdCluster::restart(int i) { return command("restart " + std::to_string(i)); }
bool EtcdCluster::freeze(int i) { return command("freeze " + std::to_string(i)); }
bool EtcdCluster::thaw(int i) { return command("thaw " + std::to_string(i)); }

void EtcdCluster::stop() {
  if (fd_ >= 0) {
    const char stop_line[] = "stop\n";
    (void)send(fd_, stop_line, sizeof(stop_line) - 1, MSG_NOSIGNAL);
    close(fd_);  // end of input also stops it, should the line not arrive
    fd_ = -1;
  }
  if (pid_ > 0) {
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

}  // namespace bulkhead::test
