// common/rate_limit: a burst per window, and the count of what was held
// back handed to the next line allowed.
#include "common/rate_limit.h"

#include <gtest/gtest.h>

namespace bulkhead::common {
namespace {

TEST(WindowLimit, AllowsABurstPerWindowAndCountsTheRest) {
  WindowLimit limit(3, 100);
  uint64_t suppressed = 99;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limit.allow(1000 + i, suppressed));
    EXPECT_EQ(suppressed, 0u);
  }
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limit.allow(1050, suppressed));
  // Still inside the window that began at 1000.
  EXPECT_FALSE(limit.allow(1099, suppressed));
  // The next window: allowed, and told that six lines were held back.
  EXPECT_TRUE(limit.allow(1100, suppressed));
  EXPECT_EQ(suppressed, 6u);
  EXPECT_TRUE(limit.allow(1101, suppressed));
  EXPECT_EQ(suppressed, 0u);
}

TEST(WindowLimit, AllowsTheFirstLineAtOnce) {
  WindowLimit limit(1, 1'000'000);
  uint64_t suppressed = 0;
  EXPECT_TRUE(limit.allow(5, suppressed));
  EXPECT_FALSE(limit.allow(6, suppressed));
}

TEST(LogLimit, ReadsTheSteadyClock) {
  LogLimit limit(2, std::chrono::hours(1));
  uint64_t suppressed = 0;
  EXPECT_TRUE(limit.allow(suppressed));
  EXPECT_TRUE(limit.allow(suppressed));
  EXPECT_FALSE(limit.allow(suppressed));
}

}  // namespace
}  // namespace bulkhead::common
