// The keyed hash both connection and fragment tables place entries with.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
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

TEST(KeyedHash, IsNhFoldedAndFinalised) {
  // The construction the header documents, computed here from its parts
  // for known secrets and words: NH's sum of products of offset word pairs,
  // the 128-bit sum's halves folded, then MurmurHash3's finaliser.
  const uint64_t secrets[6] = {0x0123456789abcdefull, 0xfedcba9876543210ull, 0x0f1e2d3c4b5a6978ull,
                               0x8796a5b4c3d2e1f0ull, 0x1122334455667788ull, 0x99aabbccddeeff00ull};
  const KeyedHash h = KeyedHash::with_secrets(secrets);
  uint64_t w[5];
  ipv4_words(0x0a000001, 0x0a000002, 41000, w);
  __extension__ typedef unsigned __int128 u128;
  const uint64_t odd = secrets[5] | 1;
  const u128 sum = u128{w[0] + secrets[0]} * (w[1] + secrets[1]) + u128{w[2] + secrets[2]} * (w[3] + secrets[3]) +
                   u128{w[4] + secrets[4]} * odd;
  uint64_t x = static_cast<uint64_t>(sum >> 64) ^ static_cast<uint64_t>(sum);
  x = (x ^ (x >> 33)) * 0xff51afd7ed558ccdull;
  x = (x ^ (x >> 33)) * 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  EXPECT_EQ(h(w), static_cast<uint32_t>(x));
  // Any other secret gives another value.
  for (int i = 0; i < 6; ++i) {
    uint64_t other[6];
    std::copy(std::begin(secrets), std::end(secrets), other);
    other[i] ^= uint64_t{1} << 40;
    EXPECT_NE(KeyedHash::with_secrets(other)(w), h(w)) << "secret " << i;
  }
}

TEST(KeyedHash, OnePairIsTheSameConstruction) {
  const uint64_t secrets[6] = {0x0123456789abcdefull, 0xfedcba9876543210ull, 0x0f1e2d3c4b5a6978ull,
                               0x8796a5b4c3d2e1f0ull, 0x1122334455667788ull, 0x99aabbccddeeff00ull};
  const KeyedHash h = KeyedHash::with_secrets(secrets);
  const uint64_t w0 = 0x0a0000020a000001ull, w1 = uint64_t{41000} | uint64_t{443} << 16 | uint64_t{6} << 32;
  __extension__ typedef unsigned __int128 u128;
  const u128 sum = u128{w0 + secrets[0]} * (w1 + secrets[1]);
  uint64_t x = static_cast<uint64_t>(sum >> 64) ^ static_cast<uint64_t>(sum);
  x = (x ^ (x >> 33)) * 0xff51afd7ed558ccdull;
  x = (x ^ (x >> 33)) * 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  EXPECT_EQ(h(w0, w1), static_cast<uint32_t>(x));
  for (int i = 0; i < 2; ++i) {
    uint64_t other[6];
    std::copy(std::begin(secrets), std::end(secrets), other);
    other[i] ^= uint64_t{1} << 40;
    EXPECT_NE(KeyedHash::with_secrets(other)(w0, w1), h(w0, w1)) << "secret " << i;
  }
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
