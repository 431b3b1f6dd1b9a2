// The connection table on its own: lookups, inserts and removals at full
// load, reclamation only after a grace period, and readers and writers on
// different threads at once.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "dataplane/conntrack.h"
#include "tests/integration/harness.h"

namespace bulkhead::test {
namespace {

using dataplane::ConnKey;
using dataplane::ConnTable;

ConnKey key_of(uint32_t n) {
  ConnKey k{};
  k.family = 4;
  k.proto = 17;
  k.a[0] = 10;
  std::memcpy(&k.a[12], &n, sizeof(n));
  k.b[0] = 192;
  k.port_a = static_cast<uint16_t>(n * 7919u);
  k.port_b = 53;
  return k;
}

// A QSBR variable for `threads` threads, all registered and online.
class Qsbr {
 public:
  explicit Qsbr(uint32_t threads) : threads_(threads) {
    init_eal();
    v_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("bh_test_qsbr", rte_rcu_qsbr_get_memsize(threads), 64));
    rte_rcu_qsbr_init(v_, threads);
    for (uint32_t t = 0; t < threads; ++t) {
      rte_rcu_qsbr_thread_register(v_, t);
      rte_rcu_qsbr_thread_online(v_, t);
    }
  }
  ~Qsbr() {
    for (uint32_t t = 0; t < threads_; ++t) {
      rte_rcu_qsbr_thread_offline(v_, t);
      rte_rcu_qsbr_thread_unregister(v_, t);
    }
    rte_free(v_);
  }
  rte_rcu_qsbr* get() const { return v_; }
  void quiescent(uint32_t t) const { rte_rcu_qsbr_quiescent(v_, t); }

 private:
  uint32_t threads_;
  rte_rcu_qsbr* v_ = nullptr;
};

std::unique_ptr<ConnTable> make_table(uint32_t max, uint32_t workers, const Qsbr& q) {
  std::string error;
  auto t = ConnTable::create(max, workers, q.get(), error);
  EXPECT_TRUE(t) << error;
  return t;
}

int32_t lookup(const ConnTable& t, const ConnKey& k) {
  const ConnKey* p = &k;
  int32_t pos = -2;
  t.lookup_bulk(&p, 1, &pos);
  return pos;
}

TEST(ConnTable, FillsToItsCapacityAndFindsEveryKey) {
  Qsbr q(1);
  constexpr uint32_t kMax = 50'000;
  auto t = make_table(kMax, 1, q);
  ASSERT_TRUE(t);
  EXPECT_LT(t->slots(), kMax + kMax / 7) << "an eighth more slots than connections, not a power of two";
  std::vector<int32_t> pos(kMax);
  for (uint32_t n = 0; n < kMax; ++n) {
    pos[n] = t->insert(key_of(n), 0);
    ASSERT_GE(pos[n], 0) << "insert " << n << " of " << kMax;
    t->entry(pos[n]).in_use = 1;
  }
  EXPECT_EQ(t->count(), kMax);
  EXPECT_EQ(t->insert(key_of(kMax), 0), -1) << "the table is full";
  EXPECT_EQ(t->insert(key_of(17), 0), pos[17]) << "a key already there is found, not added";
  // Bulk lookups of hits and misses mixed, in bursts of 32.
  std::vector<ConnKey> keys;
  for (uint32_t n = 0; n < kMax + 5'000; ++n) keys.push_back(key_of(n));
  for (size_t base = 0; base < keys.size(); base += 32) {
    const ConnKey* kp[32];
    int32_t got[32];
    const auto m = static_cast<uint32_t>(std::min<size_t>(32, keys.size() - base));
    for (uint32_t i = 0; i < m; ++i) kp[i] = &keys[base + i];
    t->lookup_bulk(kp, m, got);
    for (uint32_t i = 0; i < m; ++i) {
      const size_t n = base + i;
      if (n < kMax) ASSERT_EQ(got[i], pos[n]) << "key " << n;
      else ASSERT_LT(got[i], 0) << "key " << n << " was never inserted";
    }
  }
}

// Keys an outsider can compute that share one CRC32 under every seed: CRC
// is linear, so keys whose difference has a zero CRC collide whatever the
// seed. Ports and one address are varied (64 bits a flow can choose); 2^k
// keys from k independent zero-CRC differences.
std::vector<ConnKey> crc_colliding_keys(unsigned k) {
  auto flip = [](ConnKey& key, unsigned bit) {
    if (bit < 16) key.port_a ^= static_cast<uint16_t>(1u << bit);
    else if (bit < 32) key.port_b ^= static_cast<uint16_t>(1u << (bit - 16));
    else key.b[12 + (bit - 32) / 8] ^= static_cast<uint8_t>(1u << ((bit - 32) % 8));
  };
  // Gaussian elimination over GF(2): each bit's CRC image reduced against
  // the pivots found so far; a bit set that reduces to zero is a zero-CRC
  // difference.
  struct Row {
    uint32_t image;
    uint64_t bits;
  };
  Row pivot[32] = {};
  std::vector<uint64_t> zero;
  for (unsigned bit = 0; bit < 64; ++bit) {
    ConnKey e{};
    flip(e, bit);
    Row r{rte_hash_crc(&e, sizeof(e), 0), uint64_t{1} << bit};
    for (int p = 31; p >= 0 && r.image != 0; --p) {
      if (!(r.image >> p & 1)) continue;
      if (pivot[p].bits == 0) {
        pivot[p] = r;
        r.image = 0;
        r.bits = 0;
        break;
      }
      r.image ^= pivot[p].image;
      r.bits ^= pivot[p].bits;
    }
    if (r.bits != 0) zero.push_back(r.bits);
  }
  EXPECT_GE(zero.size(), k);
  std::vector<ConnKey> keys;
  for (uint32_t combo = 0; combo < (1u << k); ++combo) {
    ConnKey key = key_of(1);
    for (unsigned j = 0; j < k; ++j)
      if (combo >> j & 1)
        for (unsigned bit = 0; bit < 64; ++bit)
          if (zero[j] >> bit & 1) flip(key, bit);
    keys.push_back(key);
  }
  return keys;
}

TEST(ConnTable, KeysAimedAtOneCrcBucketSpreadOut) {
  const auto keys = crc_colliding_keys(12);
  ASSERT_EQ(keys.size(), 4096u);
  // The construction works: every key has one CRC, under any seed.
  for (const uint32_t seed : {0u, 0x9e3779b9u, 12345u}) {
    const uint32_t first = rte_hash_crc(&keys[0], sizeof(ConnKey), seed);
    for (const auto& key : keys) ASSERT_EQ(rte_hash_crc(&key, sizeof(ConnKey), seed), first);
  }
  // A table hashing with a CRC would put all 4,096 in one bucket chain, at
  // most 128 buckets (2,048 slots) long: half would not get in, and every
  // lookup would compare keys along the chain.
  Qsbr q(1);
  auto t = make_table(65'536, 1, q);
  ASSERT_TRUE(t);
  for (size_t n = 0; n < keys.size(); ++n) {
    const int32_t pos = t->insert(keys[n], 0);
    ASSERT_GE(pos, 0) << "key " << n;
    t->entry(pos).in_use = 1;
  }
  EXPECT_EQ(t->count(), keys.size());
  EXPECT_LT(t->passed_total(), 64u) << "the keys spread over their own buckets, not one chain";
  for (size_t n = 0; n < keys.size(); ++n) ASSERT_GE(lookup(*t, keys[n]), 0) << "key " << n;
}

TEST(ConnTable, KeysDifferingOnlyInTheirPortsSpreadOut) {
  // One client and one server, every pair of ports: the keys differ in one
  // of their five words, which a hash must still spread over all buckets.
  Qsbr q(1);
  constexpr uint32_t kMax = 65'536;
  auto t = make_table(kMax, 1, q);
  ASSERT_TRUE(t);
  auto key = [](uint32_t n) {
    ConnKey k = key_of(1);
    k.port_a = static_cast<uint16_t>(n);
    k.port_b = static_cast<uint16_t>(n >> 8 | 0x100);
    return k;
  };
  for (uint32_t n = 0; n < kMax; ++n) {
    const int32_t pos = t->insert(key(n), 0);
    ASSERT_GE(pos, 0) << "key " << n;
    t->entry(pos).in_use = 1;
  }
  // A table this full with keys placed at random has about 10,500 bucket
  // passings in all; keys bunched into one region run into the millions,
  // or fail to get in.
  EXPECT_LT(t->passed_total(), 20'000u);
  for (uint32_t n = 0; n < kMax; n += 97) ASSERT_GE(lookup(*t, key(n)), 0) << "key " << n;
}

TEST(ConnTable, RemovedSlotsWaitForEveryWorkerBeforeReuse) {
  Qsbr q(2);
  auto t = make_table(1024, 2, q);
  ASSERT_TRUE(t);
  const int32_t p = t->insert(key_of(1), 0);
  ASSERT_GE(p, 0);
  t->entry(p).in_use = 1;
  ASSERT_TRUE(t->remove(p, 0));
  EXPECT_LT(lookup(*t, key_of(1)), 0) << "gone for new lookups at once";
  EXPECT_EQ(t->count(), 0u);
  EXPECT_EQ(t->key(p).port_a, key_of(1).port_a) << "its slot still readable by a worker that found it before";
  EXPECT_TRUE(t->remove(p, 1)) << "a second removal of the same slot does nothing";
  t->reclaim(0);
  t->reclaim(1);
  EXPECT_EQ(t->retiring(), 1u) << "neither worker has passed a quiescent state";
  q.quiescent(0);
  t->reclaim(0);
  EXPECT_EQ(t->retiring(), 1u) << "worker 1 has not passed one yet";
  q.quiescent(1);
  t->reclaim(0);
  EXPECT_EQ(t->retiring(), 0u);
  EXPECT_EQ(t->entry(p).in_use, 0);
}

TEST(ConnTable, AFullReclamationQueueRefusesRemovalsUntilAGracePeriod) {
  Qsbr q(1);
  constexpr uint32_t kMax = 40'000;
  auto t = make_table(kMax, 1, q);
  ASSERT_TRUE(t);
  std::vector<int32_t> pos;
  for (uint32_t n = 0; n < kMax; ++n) {
    pos.push_back(t->insert(key_of(n), 0));
    ASSERT_GE(pos.back(), 0);
    t->entry(pos.back()).in_use = 1;
  }
  uint32_t removed = 0;
  while (removed < kMax && t->remove(pos[removed], 0)) ++removed;
  EXPECT_LT(removed, kMax) << "the queue is bounded";
  EXPECT_TRUE(t->retire_full(0));
  EXPECT_EQ(t->count(), kMax - removed);
  EXPECT_GE(lookup(*t, key_of(removed)), 0) << "a refused removal leaves the connection whole";
  t->reclaim(0);  // stamps the queue
  q.quiescent(0);
  t->reclaim(0);  // frees it
  EXPECT_EQ(t->retiring(), 0u);
  EXPECT_TRUE(t->remove(pos[removed], 0));
}

TEST(ConnTable, ASmallTableFilledAndEmptiedAgainAndAgainStaysExact) {
  // Six buckets: entries that overflow their home wrap around the table,
  // and slots waiting for a grace period take room from new ones.
  Qsbr q(1);
  constexpr uint32_t kMax = 64;
  auto t = make_table(kMax, 1, q);
  ASSERT_TRUE(t);
  uint32_t overflowed = 0;
  for (uint32_t round = 0; round < 50; ++round) {
    std::vector<int32_t> pos;
    for (uint32_t n = 0; n < kMax; ++n) {
      const int32_t p = t->insert(key_of(round * 1000 + n), 0);
      if (p < 0) break;  // the slots of the last round may still be retiring
      t->entry(p).in_use = 1;
      pos.push_back(p);
    }
    ASSERT_GE(pos.size(), kMax / 2) << "round " << round;
    for (uint32_t n = 0; n < pos.size(); ++n) ASSERT_EQ(lookup(*t, key_of(round * 1000 + n)), pos[n]);
    if (t->passed_total() > 0) ++overflowed;
    for (const int32_t p : pos) ASSERT_TRUE(t->remove(p, 0));
    EXPECT_EQ(t->count(), 0u);
    ASSERT_EQ(t->passed_total(), 0u) << "every overflow undone (round " << round << ")";
    for (uint32_t n = 0; n < pos.size(); ++n) ASSERT_LT(lookup(*t, key_of(round * 1000 + n)), 0);
    if (round % 2 == 1) {  // every other round, the removed slots come back
      t->reclaim(0);
      q.quiescent(0);
      t->reclaim(0);
      EXPECT_EQ(t->retiring(), 0u);
    }
  }
  EXPECT_GT(overflowed, 0u) << "no round had entries past their home bucket";
}

TEST(ConnTable, ReadersNeverSeeAWrongKeyWhileWritersChurn) {
  Qsbr q(2);
  constexpr uint32_t kStable = 20'000, kChurn = 20'000;
  auto t = make_table(kStable + kChurn, 2, q);
  ASSERT_TRUE(t);
  std::vector<int32_t> stable(kStable);
  for (uint32_t n = 0; n < kStable; ++n) {
    stable[n] = t->insert(key_of(n), 0);
    ASSERT_GE(stable[n], 0);
    t->entry(stable[n]).in_use = 1;
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> wrong{0}, lost{0}, lookups{0};
  // Worker 1 looks up stable keys (always there) and keys never inserted.
  std::thread reader([&] {
    uint32_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      ConnKey keys[32];
      const ConnKey* kp[32];
      int32_t got[32];
      for (uint32_t i = 0; i < 32; ++i, ++n) {
        keys[i] = i % 4 == 3 ? key_of(10'000'000 + n % 1000) : key_of(n % kStable);
        kp[i] = &keys[i];
      }
      t->lookup_bulk(kp, 32, got);
      for (uint32_t i = 0; i < 32; ++i) {
        if (i % 4 == 3) {
          if (got[i] >= 0) wrong.fetch_add(1);
        } else if (got[i] < 0) {
          lost.fetch_add(1);
        } else if (std::memcmp(&t->key(got[i]), &keys[i], sizeof(ConnKey)) != 0) {
          wrong.fetch_add(1);
        }
      }
      lookups.fetch_add(32, std::memory_order_relaxed);
      q.quiescent(1);
    }
  });
  // Worker 0 inserts and removes the churn keys over and over, at full load.
  uint64_t cycles = 0;
  std::vector<int32_t> churn(kChurn, -1);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(700);
  while (std::chrono::steady_clock::now() < until) {
    for (uint32_t n = 0; n < kChurn; n += 64) {
      for (uint32_t i = n; i < n + 64 && i < kChurn; ++i) {
        if (churn[i] >= 0) {
          if (t->remove(churn[i], 0)) churn[i] = -1;
        } else if ((churn[i] = t->insert(key_of(kStable + i), 0)) >= 0) {
          t->entry(churn[i]).in_use = 1;
        }
      }
      q.quiescent(0);
      t->reclaim(0);
    }
    ++cycles;
  }
  stop = true;
  reader.join();
  EXPECT_GT(cycles, 1u);
  EXPECT_GT(lookups.load(), 100'000u);
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(lost.load(), 0u) << "keys nobody removed were always found";
}

TEST(ConnTable, TwoWritersAddingTheSameKeysStoreEachOnce) {
  Qsbr q(2);
  constexpr uint32_t kKeys = 30'000;
  auto t = make_table(kKeys, 2, q);
  ASSERT_TRUE(t);
  std::vector<int32_t> got[2];
  std::vector<char> made[2];
  auto add = [&](uint32_t w) {
    got[w].resize(kKeys);
    made[w].resize(kKeys);
    for (uint32_t n = 0; n < kKeys; ++n) {
      bool created = false;
      got[w][n] = t->insert(key_of(n), w, &created);
      made[w][n] = created;
    }
  };
  std::thread a(add, 0), b(add, 1);
  a.join();
  b.join();
  for (uint32_t n = 0; n < kKeys; ++n) {
    ASSERT_GE(got[0][n], 0);
    ASSERT_EQ(got[0][n], got[1][n]) << "key " << n;
    ASSERT_EQ(made[0][n] + made[1][n], 1) << "key " << n << ": exactly one writer made it, and only it fills it";
  }
  EXPECT_EQ(t->count(), kKeys);
}

TEST(ConnTable, AKeyFoundWhileItsMakerFillsItIsNotMadeAgain) {
  Qsbr q(2);
  auto t = make_table(1024, 2, q);
  ASSERT_TRUE(t);
  bool created = false;
  const int32_t p = t->insert(key_of(5), 0, &created);
  ASSERT_GE(p, 0);
  EXPECT_TRUE(created);
  EXPECT_EQ(t->insert(key_of(5), 1, &created), p);
  EXPECT_FALSE(created) << "the second writer finds the slot the first is filling";
  EXPECT_EQ(t->entry(p).in_use, dataplane::kEntryFree) << "and the entry is still the maker's to publish";
}

}  // namespace
}  // namespace bulkhead::test
