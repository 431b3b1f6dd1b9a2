#include "common/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <cstdio>
#include <mutex>

#include "common/rate_limit.h"
#include "common/text.h"

namespace bulkhead::common {
namespace {

std::mutex g_mu;
std::string g_program;
LogLimit g_limit(10, std::chrono::seconds(1));

void handler(google::protobuf::LogLevel level, const char*, int, const std::string& message) {
  if (level < google::protobuf::LOGLEVEL_WARNING) return;
  std::lock_guard<std::mutex> lock(g_mu);
  uint64_t suppressed = 0;
  if (!g_limit.allow(suppressed)) return;
  std::fprintf(stderr, "%s: protobuf: %s", g_program.c_str(), escaped(message, 300).c_str());
  if (suppressed) std::fprintf(stderr, " (%llu lines not shown)", static_cast<unsigned long long>(suppressed));
  std::fputc('\n', stderr);
}

}  // namespace

void limit_protobuf_logs(const std::string& program) {
  static std::once_flag once;
  std::call_once(once, [&] {
    {
      std::lock_guard<std::mutex> lock(g_mu);
      g_program = program;
    }
    google::protobuf::SetLogHandler(handler);
  });
}

}  // namespace bulkhead::common
