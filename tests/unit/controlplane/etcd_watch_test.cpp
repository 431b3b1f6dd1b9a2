// The watch stream's parser (controlplane/etcd_watch.h) on what etcd 3.4's
// gateway writes and on what it must refuse: responses split anywhere
// across reads, braces inside strings, puts and deletes, a compaction, an
// error; garbage, a response over the size or depth bound, an event of an
// unknown type.
#include <gtest/gtest.h>

#include "controlplane/etcd_watch.h"

namespace bulkhead::controlplane {
namespace {

// Recorded from etcd 3.4.23: created, a put of /p/a = "x", its delete.
const std::string kStream =
    R"({"result":{"header":{"cluster_id":"1","member_id":"2","revision":"1","raft_term":"2"},"created":true}})"
    "\n"
    R"({"result":{"header":{"revision":"2"},"events":[{"kv":{"key":"L3AvYQ==","create_revision":"2",)"
    R"("mod_revision":"2","version":"1","value":"eA=="}}]}})"
    "\n"
    R"({"result":{"header":{"revision":"3"},"events":[{"type":"DELETE","kv":{"key":"L3AvYQ==","mod_revision":"3"}}]}})"
    "\n";

std::vector<WatchResponse> feed_in(const std::string& text, size_t step, bool expect_ok = true) {
  WatchStreamParser p;
  std::vector<WatchResponse> out;
  bool ok = true;
  for (size_t i = 0; i < text.size() && ok; i += step) ok = p.feed(std::string_view(text).substr(i, step), out);
  EXPECT_EQ(ok, expect_ok) << p.error();
  EXPECT_EQ(p.error().empty(), expect_ok);
  return out;
}

TEST(WatchStream, ResponsesSplitAnywhereReadTheSame) {
  for (size_t step : {size_t{1}, size_t{2}, size_t{7}, size_t{64}, kStream.size()}) {
    const auto r = feed_in(kStream, step);
    ASSERT_EQ(r.size(), 3u) << "step " << step;
    EXPECT_TRUE(r[0].created);
    EXPECT_EQ(r[0].revision, 1);
    ASSERT_EQ(r[1].events.size(), 1u);
    EXPECT_FALSE(r[1].events[0].deleted);
    EXPECT_EQ(r[1].events[0].kv.key, "/p/a");
    EXPECT_EQ(r[1].events[0].kv.value, "x");
    EXPECT_EQ(r[1].events[0].kv.mod_revision, 2);
    ASSERT_EQ(r[2].events.size(), 1u);
    EXPECT_TRUE(r[2].events[0].deleted);
    EXPECT_EQ(r[2].events[0].kv.mod_revision, 3);
  }
}

TEST(WatchStream, ObjectsWithoutNewlinesAndBracesInStrings) {
  const auto r = feed_in(R"({"result":{"header":{"revision":"5"}}}{"error":{"message":"a } and a { \" here"}})", 3);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].revision, 5);
  EXPECT_TRUE(r[0].error.empty());
  EXPECT_EQ(r[1].error, "a } and a { \" here");
}

TEST(WatchStream, ACompactedStartIsReported) {
  const auto r = feed_in(R"({"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"3"}})", 5);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].canceled);
  EXPECT_EQ(r[0].compact_revision, 3);
  EXPECT_FALSE(r[0].error.empty());
}

TEST(WatchStream, MalformedStreamsAreRefusedForGood) {
  feed_in("HTTP/1.1 200 OK", 4, false);
  feed_in(R"({"result":{"events":[{"type":"PATCH","kv":{"key":"YQ=="}}]}})", 8, false);
  feed_in(R"({"result":{"events":[{"kv":{"key":"not base64!"}}]}})", 8, false);
  feed_in(R"({"result":{"events":{}}})", 8, false);
  feed_in(R"({"result":{},})", 8, false);
  feed_in(R"({"a":)" + std::string(WatchStreamParser::kMaxDepth, '['), 1, false);
  feed_in("[1]", 1, false);

  WatchStreamParser p;
  std::vector<WatchResponse> out;
  EXPECT_FALSE(p.feed("}", out));
  EXPECT_FALSE(p.feed(kStream, out)) << "refused once, refused for good";
  EXPECT_TRUE(out.empty());
}

TEST(WatchStream, AResponseOverTheBoundIsRefused) {
  WatchStreamParser p;
  std::vector<WatchResponse> out;
  ASSERT_TRUE(p.feed(R"({"result":{"header":{"revision":"1"}},"pad":")", out));
  const std::string mib(1 << 20, 'a');
  bool ok = true;
  for (size_t i = 0; ok && i <= WatchStreamParser::kMaxMessageBytes >> 20; ++i) ok = p.feed(mib, out);
  EXPECT_FALSE(ok);
  EXPECT_NE(p.error().find("larger than"), std::string::npos) << p.error();
}

}  // namespace
}  // namespace bulkhead::controlplane
