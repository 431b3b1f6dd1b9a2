// Validation of control-channel pushes, without sockets.
#include <gtest/gtest.h>

#include "dataplane/updater.h"

namespace bulkhead::dataplane {
namespace {

std::string push(uint32_t version, uint64_t generation) {
  pb::ControlMessage m;
  m.set_version(version);
  m.mutable_push()->mutable_rule_set()->set_format_version(1);
  m.mutable_push()->mutable_rule_set()->set_generation(generation);
  return m.SerializeAsString();
}

PushCheck check(const std::string& bytes, uint64_t running, std::string* reason = nullptr) {
  pb::ControlMessage m;
  std::string r;
  const auto c = check_push(bytes.data(), bytes.size(), running, m, r);
  if (reason) *reason = r;
  return c;
}

TEST(ControlMessage, NewerGenerationsAreAccepted) {
  EXPECT_EQ(check(push(1, 1), 0), PushCheck::accept);
  EXPECT_EQ(check(push(1, 8), 7), PushCheck::accept);
}

TEST(ControlMessage, ReplayedAndReorderedGenerationsAreStale) {
  std::string reason;
  EXPECT_EQ(check(push(1, 7), 7, &reason), PushCheck::stale);
  EXPECT_NE(reason.find("not newer than the running 7"), std::string::npos);
  EXPECT_EQ(check(push(1, 3), 7), PushCheck::stale);
  EXPECT_EQ(check(push(1, 0), 0), PushCheck::stale);
}

TEST(ControlMessage, MalformedMessagesAreRefused) {
  EXPECT_EQ(check("", 0), PushCheck::malformed) << "empty";
  EXPECT_EQ(check("\xff\xff\xff garbage", 0), PushCheck::malformed);
  EXPECT_EQ(check(push(2, 5), 0), PushCheck::malformed) << "another channel version";
  pb::ControlMessage hello;
  hello.set_version(1);
  hello.mutable_hello()->set_generation(3);
  EXPECT_EQ(check(hello.SerializeAsString(), 0), PushCheck::malformed) << "not a push";
  pb::ControlMessage empty_push;
  empty_push.set_version(1);
  empty_push.mutable_push();
  EXPECT_EQ(check(empty_push.SerializeAsString(), 0), PushCheck::malformed) << "a push without a rule set";
}

}  // namespace
}  // namespace bulkhead::dataplane
