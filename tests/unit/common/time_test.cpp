// common/time: durations and UTC times, including the values that would
// overflow a clock sum.
#include "common/time.h"

#include <gtest/gtest.h>

namespace bulkhead::common {
namespace {

TEST(Time, Durations) {
  int64_t s = 0;
  EXPECT_TRUE(parse_duration("2h", s));
  EXPECT_EQ(s, 7200);
  EXPECT_TRUE(parse_duration("45s", s));
  EXPECT_EQ(s, 45);
  EXPECT_TRUE(parse_duration("7d", s));
  EXPECT_EQ(s, 7 * 86400);
  EXPECT_TRUE(parse_duration("30m", s));
  EXPECT_EQ(s, 1800);
}

TEST(Time, MalformedDurationsAreRefusedAndLeaveTheValue) {
  for (const char* bad : {"", "h", "2x", "0s", "0d", "-5m", "1.5h", " 2h", "2h ", "2hh", "h2"}) {
    int64_t s = 17;
    EXPECT_FALSE(parse_duration(bad, s)) << bad;
    EXPECT_EQ(s, 17) << bad;
  }
}

TEST(Time, DurationsThatWouldOverflowAreRefused) {
  int64_t s = 0;
  EXPECT_FALSE(parse_duration("999999999999999999d", s));
  EXPECT_FALSE(parse_duration("9223372036854775807s", s));
  EXPECT_FALSE(parse_duration("99999999999999999999999s", s));
  EXPECT_TRUE(parse_duration(std::to_string(kMaxDurationSeconds) + "s", s));
  EXPECT_EQ(s, kMaxDurationSeconds);
  EXPECT_FALSE(parse_duration(std::to_string(kMaxDurationSeconds + 1) + "s", s));
  EXPECT_FALSE(parse_duration(std::to_string(kMaxDurationSeconds / 86400 + 1) + "d", s));
}

TEST(Time, TimesReadAndWrittenInUtc) {
  int64_t t = 0;
  ASSERT_TRUE(parse_time("2026-11-24T10:00:00Z", t));
  EXPECT_EQ(t, 1795514400);
  EXPECT_EQ(format_iso8601(t), "2026-11-24T10:00:00Z");
  EXPECT_EQ(format_readable(t), "2026-11-24 10:00:00Z");
  ASSERT_TRUE(parse_time("1795514400", t));
  EXPECT_EQ(t, 1795514400);
}

TEST(Time, MalformedOrAbsurdTimesAreRefused) {
  int64_t t = 5;
  for (const char* bad : {"", "2026-11-24", "2026-11-24T10:00:00", "2026-11-24T10:00:00+01:00", "tomorrow",
                          "-1", "9223372036854775807", "99999999999999999999"}) {
    EXPECT_FALSE(parse_time(bad, t)) << bad;
    EXPECT_EQ(t, 5) << bad;
  }
}

}  // namespace
}  // namespace bulkhead::common
