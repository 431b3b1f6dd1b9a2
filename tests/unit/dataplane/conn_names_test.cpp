// The pool of names connections were admitted by (dataplane/names/conn_names.h).
#include <gtest/gtest.h>

#include <string>

#include "dataplane/names/conn_names.h"

namespace bulkhead::dataplane::names {
namespace {

TEST(ConnNames, AFullPoolAdmitsWithoutTheNameAndCountsIt) {
  ConnNames pool(2);
  const uint32_t a = pool.acquire(1, "a.example.com", 100, 3);
  const uint32_t b = pool.acquire(1, "b.example.com", 100, 3);
  ASSERT_TRUE(ConnNames::kept(a));
  ASSERT_TRUE(ConnNames::kept(b));
  EXPECT_NE(a, b);
  EXPECT_EQ(pool.acquire(1, "c.example.com", 100, 3), ConnNames::kNotKept);
  EXPECT_EQ(pool.full(), 1u);
  EXPECT_EQ(pool.in_use(), 2u);
  EXPECT_EQ(pool.get(a).name(), "a.example.com");
  EXPECT_EQ(pool.get(b).age_s, 3u);
  pool.release(a);
  pool.release(ConnNames::kNotKept);  // nothing to give back
  pool.release(ConnNames::kNone);
  EXPECT_EQ(pool.in_use(), 1u);
  const uint32_t c = pool.acquire(2, "c.example.com", 101, 0);
  ASSERT_TRUE(ConnNames::kept(c));
  EXPECT_EQ(pool.get(c).name(), "c.example.com");
  EXPECT_EQ(pool.get(c).outcome, 2);
  EXPECT_TRUE(pool.get(c).sni().empty()) << "a reused entry forgets its server name";
}

TEST(ConnNames, TheServerNameIsKeptBesideTheDnsName) {
  ConnNames pool(1);
  const uint32_t h = pool.acquire(0, {}, 0, 0);
  pool.set_sni(h, std::string(300, 'x'), true);
  EXPECT_EQ(pool.get(h).sni().size(), ConnNames::kMaxServerName) << "cut to its buffer";
  EXPECT_TRUE(pool.get(h).sni_cut);
  EXPECT_TRUE(pool.get(h).name().empty());
  pool.set_sni(ConnNames::kNotKept, "ignored.example", false);
}

}  // namespace
}  // namespace bulkhead::dataplane::names
