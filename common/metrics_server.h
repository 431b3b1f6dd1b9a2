// The /metrics endpoint of the daemons: an HTTP server (cpp-httplib) on a
// helper thread of its own, started with every signal blocked
// (common/threads.h), answering GET /metrics with what `render` returns.
//
// `render` runs on that thread, one scrape at a time: it reads counters the
// way telemetry does (relaxed loads, the same locks), never the fast path's
// own structures under a lock a worker takes. Destroying the server stops
// and joins the thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace bulkhead::common {

struct HostPort {
  std::string host;  // an address (IPv6 without brackets) or a host name
  int port = 0;
};
// "ADDR:PORT" or "[V6ADDR]:PORT", port 1..65535. False with `error`.
bool parse_host_port(const std::string& text, HostPort& out, std::string& error);

class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  // Binds `listen` (ADDR:PORT) and starts serving; nullptr with `error`.
  static std::unique_ptr<MetricsServer> start(const std::string& listen, Render render, std::string& error);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The Content-Type of the text exposition format.
inline constexpr const char* kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace bulkhead::common
