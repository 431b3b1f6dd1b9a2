// The keyed hash both connection and fragment tables place entries with.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>

#include "dataplane/keyed_hash.h"

namespace bulkhead::dataplane {
namespace {

// An IPv4 connection key's five words: addresses, then ports and protocol.
void ipv4_words(uint32_t src, uint32_t dst, uint16_t sport, uint64_t (&w)[5]) {
  w[0] = src;
  w[1] = 0;
  w[2] = dst;
  w[3] = 0;
  w[4] = uint64_t{sport} | uint64_t{443} << 16 | uint64_t{6} << 32;
}

TEST(KeyedHash, SameSecretsSameValue) {
  const KeyedHash h = KeyedHash::random();
  const KeyedHash copy = h;
  uint64_t w[5];
  ipv4_words(0x0a000001, 0x0a000002, 41000, w);
  EXPECT_EQ(h(w), h(w));
  EXPECT_EQ(h(w), copy(w));
}

TEST(KeyedHash, FreshSecretsPlaceKeysAnew) {
  // What one table's placement tells a sender says nothing of another's.
  const KeyedHash a = KeyedHash::random(), b = KeyedHash::random();
  int same = 0;
  for (uint16_t port = 0; port < 1000; ++port) {
    uint64_t w[5];
    ipv4_words(0x0a000001, 0x0a000002, port, w);
    same += (a(w) & 4095) == (b(w) & 4095);
  }
  EXPECT_LT(same, 20) << "4,096 slots: about one key in 4,096 lands alike by chance";
}

TEST(KeyedHash, KeysDifferingInOnePortSpreadOverTheLowBits) {
  // A client's connections differ only in the source port; a table that
  // indexes with the low bits must still see them spread as random keys
  // are (4,096 keys into 4,096 slots fill about 63% of them).
  const KeyedHash h = KeyedHash::random();
  std::set<uint32_t> slots;
  for (uint32_t port = 0; port < 4096; ++port) {
    uint64_t w[5];
    ipv4_words(0x0a000001, 0x0a000002, static_cast<uint16_t>(port), w);
    slots.insert(h(w) & 4095);
  }
  EXPECT_GT(slots.size(), 2400u);
  EXPECT_LT(slots.size(), 2800u) << "far above chance would mean a pattern, not a hash";
}

}  // namespace
}  // namespace bulkhead::dataplane
