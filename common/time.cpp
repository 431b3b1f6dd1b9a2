#include "common/time.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace bulkhead::common {
namespace {

// 9999-12-31T23:59:59Z: the last time four year digits can write.
constexpr int64_t kLastTime = 253402300799;

std::string format(int64_t unix_seconds, const char* pattern) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof(buf), pattern, &tm);
  return std::string(buf, n);
}

}  // namespace

std::string format_iso8601(int64_t unix_seconds) { return format(unix_seconds, "%Y-%m-%dT%H:%M:%SZ"); }

std::string format_iso8601_ms(int64_t unix_ms) {
  const int64_t s = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  std::string t = format_iso8601(s);
  char frac[6];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(unix_ms - s * 1000));
  t.insert(t.size() - 1, frac);
  return t;
}

std::string format_readable(int64_t unix_seconds) { return format(unix_seconds, "%Y-%m-%d %H:%M:%SZ"); }

bool parse_duration(std::string_view text, int64_t& seconds) {
  if (text.size() < 2) return false;
  int64_t unit = 0;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return false;
  }
  int64_t v = 0;
  const char* end = text.data() + text.size() - 1;
  const auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end || v <= 0 || v > kMaxDurationSeconds / unit) return false;
  seconds = v * unit;
  return true;
}

bool parse_time(std::string_view text, int64_t& unix_seconds) {
  int64_t v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (!text.empty() && ec == std::errc() && p == text.data() + text.size()) {
    if (v < 0 || v > kLastTime) return false;
    unix_seconds = v;
    return true;
  }
  std::tm tm{};
  const std::string s(text);
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (rest == nullptr || *rest != '\0') return false;
  const int64_t t = static_cast<int64_t>(timegm(&tm));
  if (t < 0 || t > kLastTime) return false;
  unix_seconds = t;
  return true;
}

int64_t now_unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace bulkhead::common
