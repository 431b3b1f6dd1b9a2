// The policy store on a real directory: generations, validation, rollback,
// diff, the audit log, and what survives a restart.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "controlplane/store.h"

namespace bulkhead::controlplane {
namespace {

class Store : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bh_store_XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::unique_ptr<PolicyStore> open(std::vector<std::string>* warnings = nullptr) {
    std::string error;
    auto s = PolicyStore::open(dir_, error, warnings);
    EXPECT_TRUE(s) << error;
    return s;
  }
  std::string dir_;
};

const char* kV1 =
    "version: 1\nsegments:\n  web: [10.0.1.0/24]\n  db: [10.0.2.0/24]\nrules:\n"
    "  - { id: web-db, from: web, to: db, proto: tcp, ports: [5432], action: allow }\n"
    "  - { id: web-dns, from: web, to: db, proto: udp, ports: [53], action: allow }\n";
const char* kV2 =
    "version: 1\nsegments:\n  web: [10.0.1.0/24]\n  db: [10.0.2.0/23]\nrules:\n"
    "  - { id: web-dns, from: web, to: db, proto: udp, ports: [53], action: allow }\n"
    "  - { id: web-db, from: web, to: db, proto: tcp, ports: [5432, 5433], action: allow }\n"
    "  - { id: web-http, from: web, to: db, proto: tcp, ports: [80], action: allow }\n";

TEST_F(Store, GenerationsAreNumberedAndCarryTheirNumber) {
  auto s = open();
  EXPECT_EQ(s->current(), 0u);
  auto g1 = s->apply(kV1, "policy.yaml", "alice", "first");
  ASSERT_TRUE(g1.ok());
  EXPECT_EQ(g1.value->number(), 1u);
  EXPECT_EQ(g1.value->compiled().generation(), 1u);
  auto g2 = s->apply(kV2, "policy.yaml", "bob", "widen db");
  ASSERT_TRUE(g2.ok());
  EXPECT_EQ(s->current(), 2u);
  const auto h = s->history();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].author, "alice");
  EXPECT_EQ(h[1].message, "widen db");
  EXPECT_EQ(h[1].rules, 3u);
}

TEST_F(Store, InvalidPoliciesAreNotStored) {
  auto s = open();
  auto bad = s->apply("version: 1\nrules:\n  - { id: a, from: nowhere, action: allow }\n", "p.yaml", "eve", "oops");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.diagnostics[0].line, 3u);
  EXPECT_EQ(s->current(), 0u);
  EXPECT_TRUE(s->history().empty());
}

TEST_F(Store, RollbackIsANewHigherGeneration) {
  auto s = open();
  ASSERT_TRUE(s->apply(kV1, "p.yaml", "alice", "v1").ok());
  ASSERT_TRUE(s->apply(kV2, "p.yaml", "alice", "v2").ok());
  auto r = s->rollback(1, "carol", "back to v1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value->number(), 3u);
  EXPECT_EQ(r.value->rollback_of(), 1u);
  EXPECT_EQ(r.value->source_text(), kV1);
  EXPECT_EQ(r.value->compiled().generation(), 3u);
  EXPECT_FALSE(s->rollback(9, "carol", "nothing there").ok());
}

TEST_F(Store, DiffNamesRulesAndSegments) {
  auto s = open();
  ASSERT_TRUE(s->apply(kV1, "p.yaml", "a", "v1").ok());
  ASSERT_TRUE(s->apply(kV2, "p.yaml", "a", "v2").ok());
  const auto d = s->diff(1, 2);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->added, std::vector<std::string>{"web-http"});
  EXPECT_TRUE(d->removed.empty());
  EXPECT_EQ(d->changed, (std::vector<std::string>{"web-dns", "web-db"}));  // db widened; web-db gained a port
  EXPECT_FALSE(d->moved.empty());
  EXPECT_EQ(d->segments_changed, std::vector<std::string>{"db"});
  EXPECT_NE(d->source_diff.find("+  - { id: web-http"), std::string::npos) << d->source_diff;
  EXPECT_FALSE(s->diff(1, 7));
}

TEST_F(Store, SurvivesARestartAndSkipsDamagedFiles) {
  {
    auto s = open();
    ASSERT_TRUE(s->apply(kV1, "p.yaml", "alice", "v1").ok());
    ASSERT_TRUE(s->apply(kV2, "p.yaml", "bob", "v2").ok());
  }
  std::ofstream(dir_ + "/generations/000000000009.pb") << "not a protobuf at all";
  std::ofstream(dir_ + "/generations/000000000003.pb.tmp") << "half-written";
  std::vector<std::string> warnings;
  auto s = open(&warnings);
  EXPECT_EQ(s->current(), 2u);
  ASSERT_EQ(s->history().size(), 2u);
  EXPECT_EQ(s->history()[1].author, "bob");
  EXPECT_EQ(warnings.size(), 1u);
  auto g = s->get(2);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->source_text(), kV2);
  ASSERT_TRUE(s->apply(kV1, "p.yaml", "carol", "v3").ok());
  EXPECT_EQ(s->current(), 3u);
  // The audit log has one line per change, in order.
  std::ifstream log(dir_ + "/audit.log");
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(log, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  const auto entry = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(entry.at("generation"), 3);
  EXPECT_EQ(entry.at("author"), "carol");
}

// A change's request id is kept with its generation, in the generation file
// and the audit log, and found again after a restart; the same id is never
// stored twice.
TEST_F(Store, RequestIdsAreKeptAndNeverStoredTwice) {
  const std::string id = "0123456789abcdef0123456789abcdef";
  ChangeOptions o;
  o.request_id = id;
  {
    auto s = open();
    EXPECT_EQ(s->find_request(id), nullptr);
    ASSERT_TRUE(s->apply(kV1, "p.yaml", "alice", "v1", o).ok());
    ASSERT_TRUE(s->apply(kV2, "p.yaml", "alice", "v2").ok());  // no id
    const auto* found = s->find_request(id);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->number, 1u);
    EXPECT_EQ(s->find_request(""), nullptr);  // the changes without one are not found by ""
    auto again = s->apply(kV1, "p.yaml", "alice", "v1", o);
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.diagnostics[0].message.find("already applied as generation 1"), std::string::npos);
    EXPECT_EQ(s->current(), 2u);
  }
  auto s = open();
  const auto* found = s->find_request(id);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->number, 1u);
  EXPECT_EQ(found->request_id, id);
  EXPECT_FALSE(s->rollback(1, "bob", "back", o).ok());
  EXPECT_EQ(s->current(), 2u);
  ChangeOptions other;
  other.request_id = "fedcba9876543210fedcba9876543210";
  auto r = s->rollback(1, "bob", "back", other);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value->request_id(), other.request_id);
  EXPECT_EQ(s->find_request(other.request_id)->number, 3u);
  std::ifstream log(dir_ + "/audit.log");
  std::string first;
  ASSERT_TRUE(std::getline(log, first));
  EXPECT_EQ(nlohmann::json::parse(first).at("request_id"), id);
  GenerationSummary parsed;
  ASSERT_TRUE(parse_audit_line(first, parsed));
  EXPECT_EQ(parsed.request_id, id);
}

}  // namespace
}  // namespace bulkhead::controlplane
