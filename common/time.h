// Time as Bulkhead reads and writes it: UTC throughout, seconds since the
// epoch inside, ISO 8601 ("2026-11-24T10:00:00Z") in files and records,
// "2026-11-24 10:00:00Z" in tables meant for people; durations written
// "30s", "15m", "2h", "7d". Pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bulkhead::common {

// The longest duration accepted anywhere (100 years): anything longer is
// a typing error, and the bound keeps every sum with a clock in range.
inline constexpr int64_t kMaxDurationSeconds = 100LL * 365 * 86400;

// "2026-11-24T10:00:00Z".
std::string format_iso8601(int64_t unix_seconds);
// "2026-11-24T10:00:00.123Z": milliseconds, as SIEM records and RFC 5424
// syslog timestamps carry them.
std::string format_iso8601_ms(int64_t unix_ms);
// "2026-11-24 10:00:00Z".
std::string format_readable(int64_t unix_seconds);

// "45s", "30m", "2h", "7d": a positive whole number and one unit, at most
// kMaxDurationSeconds. False (and `seconds` untouched) otherwise.
bool parse_duration(std::string_view text, int64_t& seconds);
// "2026-11-24T10:00:00Z", or unix seconds written as a number. False for
// anything else, or a time past the year 9999.
bool parse_time(std::string_view text, int64_t& unix_seconds);

// The wall clock.
int64_t now_unix_seconds();
int64_t now_unix_ms();

}  // namespace bulkhead::common
