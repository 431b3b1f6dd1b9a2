// The etcd watch (controlplane/etcd_watch.h) on a real 3-member etcd, one
// cluster for every case: puts and deletes under the prefix arrive as
// events and nothing outside it does; a watch from a compacted revision
// reports the compaction as a resync and goes on from the re-read's
// revision; killing the member the stream uses reconnects through another
// and delivers every change made meanwhile; freezing it (the stream stays
// open and silent) is found by the stale-stream check, and the change it
// held back arrives through another member, and a watch stuck on it stops
// at once.
#include <gtest/gtest.h>

#include <httplib.h>

#include <set>
#include <sstream>
#include <thread>

#include "controlplane/etcd_watch.h"
#include "tests/common/etcd_cluster.h"
#include "tests/common/temp_dir.h"

namespace bulkhead::controlplane {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> split(const std::string& endpoints) {
  std::vector<std::string> out;
  std::stringstream ss(endpoints);
  for (std::string e; std::getline(ss, e, ',');) out.push_back(e);
  return out;
}

class EtcdWatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    etcd_ = new test::EtcdCluster(dir_->path() + "/etcd", 3);
  }
  static void TearDownTestSuite() {
    delete etcd_;
    delete dir_;
  }
  void SetUp() override {
    if (etcd_->skipped()) GTEST_SKIP() << etcd_->error();
    ASSERT_TRUE(etcd_->up()) << etcd_->error();
    client_ = std::make_unique<EtcdClient>(split(etcd_->endpoints()));
  }

  void put(const std::string& key, const std::string& value) {
    EtcdClient::TxnResult r;
    std::string error;
    ASSERT_TRUE(client_->txn(nlohmann::json::array(), nlohmann::json::array({EtcdClient::put(key, value)}),
                             nlohmann::json::array(), r, error))
        << error;
  }
  void remove(const std::string& key) {
    EtcdClient::TxnResult r;
    std::string error;
    ASSERT_TRUE(client_->txn(nlohmann::json::array(), nlohmann::json::array({EtcdClient::remove(key)}),
                             nlohmann::json::array(), r, error))
        << error;
  }
  int64_t revision() {
    std::vector<KeyValue> kvs;
    std::string error;
    int64_t rev = 0;
    EXPECT_TRUE(client_->range("/none", kvs, error, {}, &rev)) << error;
    return rev;
  }
  EtcdWatch::Config config(const std::string& prefix) {
    EtcdWatch::Config c;
    c.endpoints = split(etcd_->endpoints());
    c.prefix = prefix;
    c.check_period = 500ms;
    return c;
  }
  // Takes updates until `done` says so or `limit` passes.
  template <class F>
  std::vector<EtcdWatch::Update> wait_for(EtcdWatch& w, F done, std::chrono::milliseconds limit = 10s) {
    std::vector<EtcdWatch::Update> all;
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done(all) && std::chrono::steady_clock::now() < until) {
      for (auto& u : w.take()) all.push_back(std::move(u));
      std::this_thread::sleep_for(10ms);
    }
    return all;
  }
  // The member the watch streams from once it delivers (3: none within 10 s).
  int streaming_from(EtcdWatch& w) {
    wait_for(w, [&](const auto&) { return w.healthy(); });
    const auto endpoints = split(etcd_->endpoints());
    if (!w.healthy()) return 3;
    return static_cast<int>(std::find(endpoints.begin(), endpoints.end(), w.endpoint()) - endpoints.begin());
  }
  static std::set<std::string> put_keys(const std::vector<EtcdWatch::Update>& all) {
    std::set<std::string> keys;
    for (const auto& u : all)
      for (const auto& e : u.events)
        if (!e.deleted) keys.insert(e.kv.key);
    return keys;
  }

  static test::TempDir* dir_;
  static test::EtcdCluster* etcd_;
  std::unique_ptr<EtcdClient> client_;
};

test::TempDir* EtcdWatchTest::dir_ = nullptr;
test::EtcdCluster* EtcdWatchTest::etcd_ = nullptr;

TEST_F(EtcdWatchTest, PutsAndDeletesUnderThePrefixArrive) {
  EtcdWatch w(config("/events"));
  auto first = wait_for(w, [&](const auto& all) { return !all.empty() && w.healthy(); });
  ASSERT_FALSE(first.empty());
  EXPECT_TRUE(first[0].resync) << "a watch starts with a resync";
  EXPECT_GT(first[0].revision, 0);
  EXPECT_TRUE(w.healthy());

  put("/events/a", "1");
  put("/other", "not watched");
  put("/events/b", std::string(100'000, 'x'));
  remove("/events/a");
  auto all = wait_for(w, [](const auto& all) {
    size_t n = 0;
    for (const auto& u : all) n += u.events.size();
    return n >= 3;
  });
  std::vector<WatchEvent> events;
  for (auto& u : all) {
    EXPECT_FALSE(u.resync) << u.why;
    for (auto& e : u.events) events.push_back(e);
  }
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv.key, "/events/a");
  EXPECT_EQ(events[0].kv.value, "1");
  EXPECT_FALSE(events[0].deleted);
  EXPECT_EQ(events[1].kv.key, "/events/b");
  EXPECT_EQ(events[1].kv.value.size(), 100'000u);
  EXPECT_EQ(events[2].kv.key, "/events/a");
  EXPECT_TRUE(events[2].deleted);
  EXPECT_LT(events[0].kv.mod_revision, events[1].kv.mod_revision);
  EXPECT_LT(events[1].kv.mod_revision, events[2].kv.mod_revision);
}

TEST_F(EtcdWatchTest, ACompactedStartRevisionResyncsThenWatchesOn) {
  const int64_t before = revision();
  put("/compacted/a", "1");
  put("/compacted/a", "2");
  const int64_t compact_at = revision();
  httplib::Client c(etcd_->urls()[0]);
  auto r = c.Post("/v3/kv/compaction", nlohmann::json{{"revision", std::to_string(compact_at)}}.dump(),
                  "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;

  auto cfg = config("/compacted");
  cfg.start_revision = before + 1;  // an owner that read at `before`
  EtcdWatch w(cfg);
  auto first = wait_for(w, [&](const auto& all) { return !all.empty() && w.healthy(); });
  ASSERT_FALSE(first.empty());
  ASSERT_TRUE(first[0].resync) << "a compacted start revision makes the owner read everything again";
  EXPECT_NE(first[0].why.find("compacted"), std::string::npos) << first[0].why;
  EXPECT_GE(first[0].revision, compact_at);
  EXPECT_EQ(w.resyncs(), 1u);

  // On from the re-read: what changes next arrives as an event.
  put("/compacted/b", "3");
  auto next = wait_for(w, [](const auto& all) { return !put_keys(all).empty(); });
  EXPECT_EQ(put_keys(next), std::set<std::string>{"/compacted/b"});
}

TEST_F(EtcdWatchTest, AKilledMemberReconnectsThroughAnotherAndMissesNothing) {
  EtcdWatch w(config("/failover"));
  const int member = streaming_from(w);
  ASSERT_LT(member, 3) << "the watch streams from no member";
  const std::string used = w.endpoint();

  put("/failover/before", "1");
  ASSERT_TRUE(etcd_->kill(member));
  ASSERT_TRUE(etcd_->wait_healthy());
  // Written while the stream is down or being made again elsewhere.
  std::set<std::string> written = {"/failover/before"};
  for (int i = 0; i < 5; ++i) {
    put("/failover/during" + std::to_string(i), "x");
    written.insert("/failover/during" + std::to_string(i));
  }
  auto all = wait_for(w, [&](const auto& all) { return put_keys(all) == written && w.healthy(); });
  EXPECT_EQ(put_keys(all), written) << "every change made during the outage arrives as an event";
  EXPECT_TRUE(w.healthy());
  EXPECT_NE(w.endpoint(), used);
  EXPECT_GE(w.reconnects(), 1u);
  ASSERT_TRUE(etcd_->restart(member));
}

TEST_F(EtcdWatchTest, AFrozenMembersSilentStreamIsFoundStaleAndReplaced) {
  EtcdWatch w(config("/frozen"));
  const int member = streaming_from(w);
  ASSERT_LT(member, 3) << "the watch streams from no member";
  const std::string used = w.endpoint();
  ASSERT_TRUE(etcd_->freeze(member));
  ASSERT_TRUE(etcd_->wait_healthy());  // the other two, with a leader among them
  put("/frozen/a", "1");
  // Two checks (500 ms each here) find it stale; the rest is reconnecting.
  auto all = wait_for(w, [&](const auto& all) { return put_keys(all).count("/frozen/a") == 1; }, 15s);
  EXPECT_EQ(put_keys(all), std::set<std::string>{"/frozen/a"});
  EXPECT_NE(w.endpoint(), used);
  EXPECT_GE(w.reconnects(), 1u);

  // A watch held by the frozen member alone stops at once all the same.
  auto cfg = config("/frozen");
  cfg.endpoints = {used};
  cfg.start_revision = 1;
  auto stuck = std::make_unique<EtcdWatch>(cfg);
  std::this_thread::sleep_for(300ms);  // its request sent, its read blocked
  EXPECT_FALSE(stuck->healthy());
  const auto stopping = std::chrono::steady_clock::now();
  stuck.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 1500ms);
  ASSERT_TRUE(etcd_->thaw(member));
  ASSERT_TRUE(etcd_->wait_healthy());
}

}  // namespace
}  // namespace bulkhead::controlplane
