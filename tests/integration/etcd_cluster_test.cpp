// The tests' etcd cluster from C++ (tests/common/etcd_cluster.h): it comes
// up, a key put through one member's v3 JSON gateway is read on another,
// the cluster keeps serving with one member killed and the member comes
// back having caught up; a frozen member answers nothing until thawed.
// The shell side has etcd_cluster_test.sh.
#include "tests/common/etcd_cluster.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "tests/common/temp_dir.h"

namespace bulkhead::test {
namespace {

// Keys and values travel base64-encoded in the gateway's JSON.
constexpr const char* kKey = "L2JoL3Rlc3Q=";  // "/bh/test"
constexpr const char* kOne = "b25l";          // "one"
constexpr const char* kTwo = "dHdv";          // "two"

httplib::Result post(const std::string& url, const std::string& path, const nlohmann::json& body,
                     time_t timeout_s = 10) {
  httplib::Client c(url);
  c.set_read_timeout(timeout_s, 0);
  return c.Post(path, body.dump(), "application/json");
}

bool put(const std::string& url, const char* value) {
  auto r = post(url, "/v3/kv/put", {{"key", kKey}, {"value", value}});
  return r && r->status == 200;
}

std::string get(const std::string& url) {
  auto r = post(url, "/v3/kv/range", {{"key", kKey}});
  if (!r || r->status != 200) return "unreachable";
  const auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.contains("kvs")) return "absent";
  return j["kvs"][0].value("value", "");
}

TEST(EtcdCluster, ServesThroughAKilledMember) {
  TempDir dir;
  EtcdCluster etcd(dir.path() + "/etcd");
  if (etcd.skipped()) GTEST_SKIP() << etcd.error();
  ASSERT_TRUE(etcd.up()) << etcd.error();
  ASSERT_EQ(etcd.urls().size(), 3u);
  const std::string endpoints = etcd.endpoints();
  EXPECT_EQ(std::count(endpoints.begin(), endpoints.end(), ','), 2) << endpoints;

  ASSERT_TRUE(put(etcd.urls()[0], kOne));
  EXPECT_EQ(get(etcd.urls()[2]), kOne);

  ASSERT_TRUE(etcd.kill(0));
  EXPECT_EQ(get(etcd.urls()[0]), "unreachable");
  ASSERT_TRUE(etcd.wait_healthy()) << etcd.error();
  ASSERT_TRUE(put(etcd.urls()[1], kTwo));
  EXPECT_EQ(get(etcd.urls()[2]), kTwo);

  ASSERT_TRUE(etcd.restart(0)) << etcd.error();
  EXPECT_EQ(get(etcd.urls()[0]), kTwo);

  ASSERT_TRUE(etcd.freeze(2));
  EXPECT_FALSE(post(etcd.urls()[2], "/v3/kv/range", {{"key", kKey}}, 1)) << "a frozen member answers nothing";
  ASSERT_TRUE(etcd.wait_healthy()) << etcd.error();  // the other two
  ASSERT_TRUE(etcd.thaw(2));
  ASSERT_TRUE(etcd.wait_healthy()) << etcd.error();
  EXPECT_EQ(get(etcd.urls()[2]), kTwo);
  EXPECT_FALSE(etcd.restart(3));  // no such member: refused, the cluster stays
  etcd.stop();
  EXPECT_EQ(get(etcd.urls()[1]), "unreachable");
}

}  // namespace
}  // namespace bulkhead::test
