#include "common/metrics_server.h"

#include <charconv>
#include <exception>
#include <thread>

#include <httplib.h>

#include "common/threads.h"

namespace bulkhead::common {

bool parse_host_port(const std::string& text, HostPort& out, std::string& error) {
  const auto colon = text.rfind(':');
  std::string host = colon == std::string::npos ? std::string() : text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string_view port = colon == std::string::npos ? std::string_view() : std::string_view(text).substr(colon + 1);
  int p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (host.empty() || host.find_first_of("[] \t") != std::string::npos || ec != std::errc() ||
      end != port.data() + port.size() || p < 1 || p > 65535) {
    error = "'" + text + "' is not ADDR:PORT (e.g. 127.0.0.1:9400 or [::1]:9400)";
    return false;
  }
  out = {host, p};
  return true;
}

struct MetricsServer::Impl {
  httplib::Server http;
  std::thread thread;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& listen, Render render, std::string& error) {
  HostPort hp;
  if (!parse_host_port(listen, hp, error)) return nullptr;
  auto impl = std::make_unique<Impl>();
  // One request at a time: a scrape is small and the render reads shared
  // counters; a second scraper waits rather than adding threads.
  impl->http.new_task_queue = [] { return new httplib::ThreadPool(1); };
  impl->http.set_read_timeout(5, 0);
  impl->http.set_write_timeout(5, 0);
  impl->http.Get("/metrics", [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
    try {
      res.set_content(render(), kExpositionContentType);
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(std::string("metrics: ") + e.what() + "\n", "text/plain");
    }
  });
  if (!impl->http.bind_to_port(hp.host, hp.port)) {
    error = "cannot listen on " + listen + " (address in use or not local?)";
    return nullptr;
  }
  Impl* raw = impl.get();
  // The pool's thread is created by listen_after_bind on this helper thread,
  // so it inherits the blocked signals too.
  impl->thread = start_thread_without_signals([raw] { raw->http.listen_after_bind(); });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

}  // namespace bulkhead::common
