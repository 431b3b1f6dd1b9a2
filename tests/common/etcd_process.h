// One etcd member for a test: its data in a temporary directory, its client
// and peer URLs on free loopback ports, killed (SIGKILL) and reaped when
// the object goes, whatever the test's outcome. `endpoint()` is HOST:PORT
// for etcd:// URLs. Needs the etcd binary (Debian etcd-server).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include <httplib.h>

#include "tests/common/free_ports.h"
#include "tests/common/temp_dir.h"

namespace bulkhead::test {

class EtcdProcess {
 public:
  EtcdProcess() {
    const auto ports = free_tcp_ports(2);
    endpoint_ = "127.0.0.1:" + std::to_string(ports[0]);
    const std::string client = "http://" + endpoint_;
    const std::string peer = "http://127.0.0.1:" + std::to_string(ports[1]);
    const std::string log = dir_.path() + "/etcd.log";
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("cannot fork etcd");
    if (pid_ == 0) {
      if (!freopen(log.c_str(), "w", stdout) || !freopen(log.c_str(), "a", stderr)) _exit(126);
      const std::string data = dir_.path() + "/data";
      execlp("etcd", "etcd", "--name", "m0", "--data-dir", data.c_str(), "--listen-client-urls", client.c_str(),
             "--advertise-client-urls", client.c_str(), "--listen-peer-urls", peer.c_str(),
             "--initial-advertise-peer-urls", peer.c_str(), "--initial-cluster", ("m0=" + peer).c_str(),
             static_cast<char*>(nullptr));
      _exit(127);
    }
    httplib::Client c(client);
    c.set_connection_timeout(std::chrono::milliseconds(200));
    for (int i = 0; i < 200; ++i) {
      auto r = c.Post("/v3/kv/range", R"({"key":"AA=="})", "application/json");
      if (r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop();
    throw std::runtime_error("etcd did not answer on " + client);
  }
  ~EtcdProcess() { stop(); }
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  const std::string& endpoint() const { return endpoint_; }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  TempDir dir_;
  std::string endpoint_;
  pid_t pid_ = -1;
};

}  // namespace bulkhead::test
