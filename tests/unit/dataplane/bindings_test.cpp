// The bindings table: what a lookup finds, what expires, the caps that keep
// one name or one bucket from filling it, and readers racing writers.
#include "dataplane/names/bindings.h"

#include "proto/names.pb.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace bulkhead::dataplane::names {
namespace {

KeyedHash test_hash() {
  const uint64_t secrets[6] = {0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9, 0x94d049bb133111eb, 0x2545f4914f6cdd1d,
                               0x632be59bd9b4e019, 0x8cb92ba72f3d8dd7};
  return KeyedHash::with_secrets(secrets);
}

BindingKey key(uint32_t client, uint32_t server, uint32_t tenant = 0) {
  BindingKey k;
  k.tenant = tenant;
  k.client = {10, 0, uint8_t(client >> 8), uint8_t(client)};
  k.server = {198, 51, uint8_t(server >> 8), uint8_t(server)};
  return k;
}

std::multiset<std::string> names_of(const BindingTable& t, const BindingKey& k, uint32_t now) {
  std::multiset<std::string> out;
  t.lookup(k, now, [&](const BoundName& b) { out.insert(std::string(b.name)); });
  return out;
}

TEST(Bindings, ALookupFindsWhatItsClientWasAnswered) {
  BindingTable t({}, test_hash());
  EXPECT_EQ(t.bind(key(1, 7), "api.example.com", 100, 160), BindResult::bound);
  unsigned n = t.lookup(key(1, 7), 120, [](const BoundName& b) {
    EXPECT_EQ(b.name, "api.example.com");
    EXPECT_EQ(b.bound_at, 100u);
    EXPECT_EQ(b.expires, 160u);
  });
  EXPECT_EQ(n, 1u);
  EXPECT_TRUE(names_of(t, key(2, 7), 120).empty());     // another client
  EXPECT_TRUE(names_of(t, key(1, 8), 120).empty());     // another address
  EXPECT_TRUE(names_of(t, key(1, 7, 5), 120).empty());  // another tenant
  BindingKey v6 = key(1, 7);
  v6.family = 6;
  EXPECT_TRUE(names_of(t, v6, 120).empty());
  EXPECT_EQ(t.live_bindings(), 1u);
  EXPECT_EQ(t.live_names(), 1u);
}

TEST(Bindings, AnswersRefreshButNeverShorten) {
  BindingTable t({}, test_hash());
  t.bind(key(1, 7), "api.example.com", 100, 160);
  EXPECT_EQ(t.bind(key(1, 7), "api.example.com", 110, 400), BindResult::refreshed);
  EXPECT_EQ(t.bind(key(1, 7), "api.example.com", 120, 130), BindResult::refreshed);
  t.lookup(key(1, 7), 300, [](const BoundName& b) {
    EXPECT_EQ(b.expires, 400u);
    EXPECT_EQ(b.bound_at, 120u);
  });
  EXPECT_EQ(t.live_bindings(), 1u);
  EXPECT_EQ(t.counters().refreshed.load(), 2u);
}

TEST(Bindings, OneAddressMayStandForSeveralNames) {
  BindingTable t({}, test_hash());
  t.bind(key(1, 7), "a.example.com", 100, 160);
  t.bind(key(1, 7), "b.example.net", 100, 200);
  EXPECT_EQ(names_of(t, key(1, 7), 150), (std::multiset<std::string>{"a.example.com", "b.example.net"}));
  EXPECT_EQ(names_of(t, key(1, 7), 170), (std::multiset<std::string>{"b.example.net"}));
}

TEST(Bindings, ExpiredBindingsStopMatchingAndSweepFreesThem) {
  BindingTable t({}, test_hash());
  t.bind(key(1, 7), "api.example.com", 100, 160);
  EXPECT_EQ(names_of(t, key(1, 7), 160).size(), 1u);  // the last second still matches
  EXPECT_TRUE(names_of(t, key(1, 7), 161).empty());
  EXPECT_EQ(t.live_bindings(), 1u);
  EXPECT_EQ(t.sweep(161, t.bucket_count()), 1u);
  EXPECT_EQ(t.live_bindings(), 0u);
  EXPECT_EQ(t.live_names(), 0u);
}

TEST(Bindings, ANameIsBoundToAtMostItsCapOfAddresses) {
  BindingTable t({.bindings = 1024, .names = 16, .max_addresses_per_name = 3}, test_hash());
  for (uint32_t s = 0; s < 3; ++s) EXPECT_EQ(t.bind(key(1, s), "many.example", 100, 160), BindResult::bound);
  EXPECT_EQ(t.bind(key(1, 3), "many.example", 100, 160), BindResult::name_cap);
  EXPECT_EQ(t.bind(key(1, 0), "many.example", 101, 170), BindResult::refreshed);  // not a new address
  EXPECT_EQ(t.bind(key(1, 3), "other.example", 100, 160), BindResult::bound);
  EXPECT_EQ(t.counters().name_cap.load(), 1u);
  t.sweep(165, t.bucket_count());
  EXPECT_EQ(t.bind(key(1, 3), "many.example", 166, 200), BindResult::bound);
}

TEST(Bindings, TheNameCountIsCapped) {
  BindingTable t({.bindings = 1024, .names = 2, .max_addresses_per_name = 8}, test_hash());
  EXPECT_EQ(t.bind(key(1, 1), "a.example", 100, 160), BindResult::bound);
  EXPECT_EQ(t.bind(key(1, 2), "b.example", 100, 150), BindResult::bound);
  EXPECT_EQ(t.bind(key(1, 3), "c.example", 100, 160), BindResult::names_full);
  EXPECT_EQ(t.live_names(), 2u);
  t.sweep(155, t.bucket_count());
  EXPECT_EQ(t.live_names(), 1u);
  EXPECT_EQ(t.bind(key(1, 3), "c.example", 156, 160), BindResult::bound);
  EXPECT_EQ(names_of(t, key(1, 3), 156), (std::multiset<std::string>{"c.example"}));
}

TEST(Bindings, AFullBucketGivesUpWhatExpiresFirst) {
  BindingTable t({.bindings = BindingTable::kSlotsPerBucket, .names = 64, .max_addresses_per_name = 64}, test_hash());
  ASSERT_EQ(t.bucket_count(), 1u);
  for (uint32_t s = 0; s < BindingTable::kSlotsPerBucket; ++s) {
    EXPECT_EQ(t.bind(key(1, s), "n" + std::to_string(s) + ".example", 100, 200 + s), BindResult::bound);
  }
  EXPECT_EQ(t.bind(key(1, 99), "late.example", 100, 300), BindResult::evicted);
  EXPECT_TRUE(names_of(t, key(1, 0), 150).empty());  // it expired first
  EXPECT_EQ(names_of(t, key(1, 1), 150).size(), 1u);
  EXPECT_EQ(names_of(t, key(1, 99), 150).size(), 1u);
  EXPECT_EQ(t.live_names(), BindingTable::kSlotsPerBucket);
  // An expired slot is reused before anything live is given up.
  EXPECT_EQ(t.bind(key(1, 100), "again.example", 205, 300), BindResult::bound);
  EXPECT_EQ(t.counters().evicted.load(), 1u);
}

TEST(Bindings, MatchesAModelThroughBindsExpiriesAndSweeps) {
  // Room for everything: no evictions or caps, so the model is exact, and
  // names come and go often enough to exercise the name index's deletion.
  BindingTable t({.bindings = 1 << 14, .names = 4096, .max_addresses_per_name = 4096}, test_hash());
  std::map<std::pair<uint32_t, std::string>, uint32_t> model;  // (key id, name) -> expires
  std::mt19937 rng(7);
  uint32_t now = 1000;
  for (int step = 0; step < 20000; ++step) {
    now += rng() % 3 == 0;
    const uint32_t k = rng() % 64;
    const std::string name = "n" + std::to_string(rng() % 300) + ".example";
    if (rng() % 10 == 0) {
      t.sweep(now, 64);
      continue;
    }
    const uint32_t expires = now + rng() % 40;
    t.bind(key(1, k), name, now, expires);
    auto& e = model[{k, name}];
    if (e < now) e = 0;  // expired: a new binding
    e = std::max(e, expires);
    if (step % 97 == 0) {
      for (uint32_t q = 0; q < 64; ++q) {
        std::multiset<std::string> want;
        for (auto& [kn, exp] : model)
          if (kn.first == q && exp >= now) want.insert(kn.second);
        ASSERT_EQ(names_of(t, key(1, q), now), want) << "step " << step << " key " << q;
      }
    }
  }
  EXPECT_EQ(t.counters().evicted.load(), 0u);
  t.sweep(now + 100, t.bucket_count());
  EXPECT_EQ(t.live_bindings(), 0u);
  EXPECT_EQ(t.live_names(), 0u);
}

TEST(Bindings, ReadersNeverSeeATornBinding) {
  // Each key is only ever bound to its own name; readers racing writers
  // (binding, evicting, sweeping) must find that name or nothing.
  BindingTable t({.bindings = 256, .names = 64, .max_addresses_per_name = 64}, test_hash());
  auto name_for = [](uint32_t k) { return "host-" + std::to_string(k) + ".example.com"; };
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> wrong{0}, seen{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(w);
      uint32_t now = 100;
      for (int i = 0; i < 200000 && !stop; ++i) {
        const uint32_t k = rng() % 500;
        t.bind(key(k, k), name_for(k), now, now + rng() % 5);
        if (i % 64 == 0) t.sweep(now, 4);
        now += i % 1000 == 0;
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(100 + r);
      while (!stop) {
        const uint32_t k = rng() % 500;
        const std::string want = name_for(k);
        t.lookup(key(k, k), 0, [&](const BoundName& b) {
          seen.fetch_add(1, std::memory_order_relaxed);
          if (b.name != want) wrong.fetch_add(1, std::memory_order_relaxed);
        });
      }
    });
  }
  threads[0].join();
  threads[1].join();
  stop = true;
  for (std::size_t i = 2; i < threads.size(); ++i) threads[i].join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_GT(seen.load(), 0u);
}

TEST(Bindings, AStateSavedIsRestoredWithItsTimes) {
  BindingTable t({}, test_hash());
  t.bind(key(1, 7), "api.example.com", 100, 160);
  t.bind(key(2, 7, 3), "cdn.example.net", 90, 1000);
  BindingKey v6 = key(1, 9);
  v6.family = 6;
  v6.client = {0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
  v6.server = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
  t.bind(v6, "v6.example", 100, 200);
  t.bind(key(3, 7), "old.example", 100, 110);  // expired when saved
  pb::NameBindings saved;
  t.save(120, 1'800'000'120, saved);
  ASSERT_EQ(saved.bindings_size(), 3);
  EXPECT_EQ(saved.saved_unix(), 1'800'000'120);

  // A restart: another clock, 30 seconds later on the wall.
  BindingTable back({}, test_hash());
  const auto r = back.restore(saved, 5000, 1'800'000'150);
  EXPECT_EQ(r.restored, 3u);
  EXPECT_EQ(r.expired + r.refused + r.not_bound, 0u);
  unsigned found = back.lookup(key(1, 7), 5000, [](const BoundName& b) {
    EXPECT_EQ(b.name, "api.example.com");
    EXPECT_EQ(b.expires, 5000u + 10);   // 160 - 120 - 30 left
    EXPECT_EQ(b.bound_at, 5000u - 50);  // answered 20 s before the save, 30 before now
  });
  EXPECT_EQ(found, 1u);
  EXPECT_EQ(names_of(back, key(2, 7, 3), 5000), (std::multiset<std::string>{"cdn.example.net"}));
  EXPECT_EQ(names_of(back, v6, 5000), (std::multiset<std::string>{"v6.example"}));

  // Much later: what expired meanwhile is not restored.
  BindingTable later({}, test_hash());
  const auto r2 = later.restore(saved, 10, 1'800'000'500);
  EXPECT_EQ(r2.restored, 1u);
  EXPECT_EQ(r2.expired, 2u);
}

TEST(Bindings, AMalformedStateIsRefusedEntryByEntry) {
  pb::NameBindings state;
  auto add = [&](std::string client, std::string server, std::string name) {
    pb::NameBinding* b = state.add_bindings();
    b->set_client(client);
    b->set_server(server);
    b->set_name(name);
    b->set_bound_unix(100);
    b->set_expires_unix(1000);
  };
  add(std::string(4, 'a'), std::string(4, 'b'), "ok.example");
  add(std::string(5, 'a'), std::string(5, 'b'), "bad-length.example");
  add(std::string(4, 'a'), std::string(16, 'b'), "mixed.example");
  add(std::string(4, 'a'), std::string(4, 'c'), "Not.Canonical.Example");
  add(std::string(4, 'a'), std::string(4, 'd'), "bad name.example");
  add(std::string(4, 'a'), std::string(4, 'e'), std::string(300, 'x'));
  add(std::string(4, 'a'), std::string(4, 'f'), "");
  BindingTable t({}, test_hash());
  const auto r = t.restore(state, 50, 500);
  EXPECT_EQ(r.restored, 1u);
  EXPECT_EQ(r.refused, 6u);
  EXPECT_EQ(t.live_bindings(), 1u);
}

TEST(Bindings, MemoryIsTakenOnceAndStated) {
  BindingTable t({.bindings = 65536, .names = 16384, .max_addresses_per_name = 1024}, test_hash());
  // 64 bytes a binding slot (a bucket: a cache line of sequence and 8 slots
  // of 56 bytes), 280 a name.
  EXPECT_LT(t.memory_bytes(), std::size_t(65536) * 64 + std::size_t(16384) * 300);
}

}  // namespace
}  // namespace bulkhead::dataplane::names
