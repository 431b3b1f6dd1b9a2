// A hash of five 8-byte words (or two) whose collisions an outsider cannot
// aim.
//
// NH, the universal hash of UMAC, over the words and a secret sixth: a sum
// of 128-bit products of word pairs, each word offset by a secret. Two
// distinct inputs give the same sum only by chance, whatever the inputs, as
// long as the secrets are unknown. A CRC, even seeded, would not do: it is
// linear, so inputs whose difference has a zero CRC collide under every
// seed, and anyone can compute such inputs and fill one bucket chain (or,
// in a direct-mapped table, evict a chosen entry). The sum's halves are
// folded and mixed once more (the finaliser of MurmurHash3): inputs that
// differ in one word (IPv4 keys differing in their ports) change the sum
// almost linearly, which no table index should see.
#pragma once

#include <cstdint>

#include <rte_random.h>

namespace bulkhead::dataplane {

class KeyedHash {
 public:
  // A hash with fresh secrets from DPDK's generator.
  static KeyedHash random() noexcept {
    KeyedHash h;
    for (uint64_t& k : h.secret_) k = rte_rand();
    h.secret_[5] |= 1;  // odd: the last word's product keeps all of the word
    return h;
  }
  // A hash with the given secrets (tests; the last one is made odd).
  static KeyedHash with_secrets(const uint64_t (&secrets)[6]) noexcept {
    KeyedHash h;
    for (int i = 0; i < 6; ++i) h.secret_[i] = secrets[i];
    h.secret_[5] |= 1;
    return h;
  }

  uint32_t operator()(const uint64_t (&w)[5]) const noexcept {
    return finish(static_cast<u128>(w[0] + secret_[0]) * (w[1] + secret_[1]) +
                  static_cast<u128>(w[2] + secret_[2]) * (w[3] + secret_[3]) +
                  static_cast<u128>(w[4] + secret_[4]) * secret_[5]);
  }
  // The same construction over one pair of words: for inputs that fit in
  // 16 bytes (an IPv4 connection's key), a third of the products.
  uint32_t operator()(uint64_t w0, uint64_t w1) const noexcept {
    return finish(static_cast<u128>(w0 + secret_[0]) * (w1 + secret_[1]));
  }

 private:
  __extension__ typedef unsigned __int128 u128;  // the compiler's, not ISO's: the hash needs the full product

  static uint32_t finish(u128 sum) noexcept {
    uint64_t x = static_cast<uint64_t>(sum >> 64) ^ static_cast<uint64_t>(sum);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return static_cast<uint32_t>(x);
  }

  uint64_t secret_[6] = {};
};

}  // namespace bulkhead::dataplane
