// The capture socket: how `bulkhead capture` reaches a running dataplane.
//
// A helper thread (signals blocked, off the workers' lcores) listens on a
// Unix SOCK_SEQPACKET socket, `bulkhead_capture.sock` in the EAL's runtime
// directory (/var/run/dpdk/PREFIX/ for root: found by the DPDK file prefix,
// as DPDK's own tools find a process), mode 0600. It serves one client at a
// time: reads one CaptureRequest (dataplane/capture_request.h), arms the
// workers' filter (dataplane/capture.h), and sends the copies as
// CaptureMessage datagrams (proto/bulkhead.proto) until the count or the
// duration is reached, the client goes, or the dataplane stops; then
// disarms, waits for the workers' grace period, and sends the totals. A
// second client meanwhile is told a capture is running. The client writes
// the file: the dataplane never writes where a client points it.
//
// start() and stop() belong to the main lcore.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace bulkhead::dataplane {

class Engine;

class CaptureServer {
 public:
  ~CaptureServer();
  // Listens at `path` (empty: capture_socket_path()).
  static std::unique_ptr<CaptureServer> start(Engine& engine, std::string path, std::string& error);
  // Ends a running capture (its client gets the totals) and the thread.
  void stop();
  const std::string& path() const noexcept { return path_; }

 private:
  explicit CaptureServer(Engine& engine) : engine_(engine) {}
  void run();
  void serve(int fd);

  Engine& engine_;
  std::string path_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// bulkhead_capture.sock in this process's EAL runtime directory.
std::string capture_socket_path();
inline constexpr const char* kCaptureSocketName = "bulkhead_capture.sock";

}  // namespace bulkhead::dataplane
