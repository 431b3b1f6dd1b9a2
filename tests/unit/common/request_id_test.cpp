// Request ids: fresh ones are 128 random bits in hex, and what an operator
// may give is read in its forms and refused in every other.
#include <gtest/gtest.h>

#include <set>

#include "common/request_id.h"

namespace bulkhead::common {
namespace {

TEST(RequestId, FreshIdsAreCanonicalAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = new_request_id();
    EXPECT_TRUE(is_canonical_request_id(id)) << id;
    EXPECT_TRUE(seen.insert(id).second) << id;
  }
}

TEST(RequestId, ReadsHexAndUuids) {
  EXPECT_EQ(parse_request_id("0123456789ABCDEF0123456789abcdef"), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(parse_request_id("3f2504e0-4f89-11d3-9a0c-0305e82c3301"), "3f2504e04f8911d39a0c0305e82c3301");
  EXPECT_TRUE(is_canonical_request_id("0123456789abcdef0123456789abcdef"));
  EXPECT_FALSE(is_canonical_request_id("0123456789ABCDEF0123456789abcdef"));  // the wire takes lowercase only
  EXPECT_FALSE(is_canonical_request_id("3f2504e0-4f89-11d3-9a0c-0305e82c3301"));
}

TEST(RequestId, RefusesEverythingElse) {
  for (const char* bad : {"", "abc", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
                          "0123456789abcdef0123456789abcdeg", "3f2504e0-4f89-11d3-9a0c0305e82c33-01",
                          "3f2504e04-f89-11d3-9a0c-0305e82c3301", "3f2504e0-4f89-11d3-9a0c-0305e82c330 ",
                          "0123456789abcdef 123456789abcdef"})
    EXPECT_FALSE(parse_request_id(bad)) << bad;
}

}  // namespace
}  // namespace bulkhead::common
