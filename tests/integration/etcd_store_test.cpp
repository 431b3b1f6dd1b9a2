// The policy store on a real etcd (tests/common/etcd_cluster.h, one member
// unless the case needs three): the same generations, history, rollback and
// diff as the file store (request ids too), fencing (a deposed leader's change fails),
// numbers that stay monotonic across writers, a compiled set larger than
// etcd's request limit, and a client that fails over between endpoints and
// members; leadership that ends and is won again at once is a new term.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "controlplane/etcd_client.h"
#include "controlplane/etcd_store.h"
#include "controlplane/leadership.h"
#include "tests/common/etcd_cluster.h"
#include "tests/common/free_ports.h"
#include "tests/common/temp_dir.h"

namespace bulkhead::controlplane {
namespace {

std::vector<std::string> split(const std::string& endpoints) {
  std::vector<std::string> out;
  std::stringstream ss(endpoints);
  for (std::string e; std::getline(ss, e, ',');) out.push_back(e);
  return out;
}

#define START_ETCD(cluster)                                   \
  do {                                                        \
    if ((cluster).skipped()) GTEST_SKIP() << (cluster).error(); \
    ASSERT_TRUE((cluster).up()) << (cluster).error();         \
  } while (0)

const char* kV1 =
    "version: 1\nsegments:\n  web: [10.0.1.0/24]\n  db: [10.0.2.0/24]\nrules:\n"
    "  - { id: web-db, from: web, to: db, proto: tcp, ports: [5432], action: allow }\n";
const char* kV2 =
    "version: 1\nsegments:\n  web: [10.0.1.0/24]\n  db: [10.0.2.0/24]\nrules:\n"
    "  - { id: web-db, from: web, to: db, proto: tcp, ports: [5432, 5433], action: allow }\n"
    "  - { id: web-http, from: web, to: db, proto: tcp, ports: [80], action: allow }\n";

class EtcdStore : public ::testing::Test {
 protected:
  void SetUp() override { START_ETCD(etcd_); }
  EtcdTarget target() const { return {split(etcd_.endpoints()), "/test"}; }
  // Creates the leader key with a lease, as an elected controller does:
  // its create revision is the term.
  int64_t elect() {
    std::string error;
    const int64_t lease = client_.lease_grant(30, error);
    EXPECT_NE(lease, 0) << error;
    EtcdClient::TxnResult r;
    const std::string key = EtcdBackend::leader_key("/test");
    EXPECT_TRUE(client_.txn(nlohmann::json::array({EtcdClient::created_at(key, 0)}),
                            nlohmann::json::array({EtcdClient::put(key, "test", lease)}), nlohmann::json::array(), r,
                            error))
        << error;
    EXPECT_TRUE(r.succeeded);
    return r.revision;
  }
  void depose() {
    EtcdClient::TxnResult r;
    std::string error;
    ASSERT_TRUE(client_.txn(nlohmann::json::array(),
                            nlohmann::json::array({EtcdClient::remove(EtcdBackend::leader_key("/test"))}),
                            nlohmann::json::array(), r, error))
        << error;
  }
  std::unique_ptr<PolicyStore> open(int64_t term, EtcdBackend** backend = nullptr) {
    auto b = std::make_unique<EtcdBackend>(target());
    b->set_term(term);
    if (backend) *backend = b.get();
    std::string error;
    auto s = PolicyStore::open(std::move(b), error);
    EXPECT_TRUE(s) << error;
    return s;
  }

  test::TempDir dir_;
  test::EtcdCluster etcd_{dir_.path() + "/etcd", 1};
  EtcdClient client_{split(etcd_.endpoints())};
};

TEST_F(EtcdStore, GenerationsHistoryRollbackAndDiffSurviveAReopen) {
  const int64_t term = elect();
  auto s = open(term);
  EXPECT_EQ(s->current(), 0u);
  auto g1 = s->apply(kV1, "p.yaml", "alice", "first");
  ASSERT_TRUE(g1.ok()) << (g1.diagnostics.empty() ? "" : g1.diagnostics[0].message);
  EXPECT_EQ(g1.value->number(), 1u);
  EXPECT_EQ(g1.value->compiled().generation(), 1u);
  ChangeOptions with_id;
  with_id.request_id = "00112233445566778899aabbccddeeff";
  ASSERT_TRUE(s->apply(kV2, "p.yaml", "bob", "widen", with_id).ok());
  auto g3 = s->rollback(1, "carol", "back");
  ASSERT_TRUE(g3.ok());
  EXPECT_EQ(g3.value->number(), 3u);
  EXPECT_EQ(g3.value->rollback_of(), 1u);

  // Another controller (no term) reads the same store.
  auto other = open(0);
  EXPECT_EQ(other->current(), 3u);
  const auto h = other->history();
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].author, "alice");
  EXPECT_EQ(h[1].message, "widen");
  EXPECT_EQ(h[1].rules, 2u);
  EXPECT_EQ(h[2].rollback_of, 1u);
  // The request id travels in the audit record: the other controller
  // finds it, and its store refuses it again.
  ASSERT_NE(other->find_request(with_id.request_id), nullptr);
  EXPECT_EQ(other->find_request(with_id.request_id)->number, 2u);
  EXPECT_FALSE(s->apply(kV2, "p.yaml", "bob", "widen", with_id).ok());
  const auto g2 = other->get(2);
  ASSERT_TRUE(g2);
  EXPECT_EQ(g2->source_text(), kV2);
  EXPECT_EQ(g2->compiled().rules_size(), 2);
  const auto d = other->diff(2, 3);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->removed, std::vector<std::string>{"web-http"});
  EXPECT_EQ(d->changed, std::vector<std::string>{"web-db"});
  EXPECT_FALSE(other->get(4));
  // The audit records are the file store's audit lines.
  std::vector<KeyValue> audit;
  std::string error;
  ASSERT_TRUE(client_.range_prefix("/test/audit/", audit, error)) << error;
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_NE(audit[2].value.find("\"rollback_of\":1"), std::string::npos);
}

TEST_F(EtcdStore, OnlyTheLeaderWrites) {
  auto s = open(0);
  auto g = s->apply(kV1, "p.yaml", "alice", "");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.diagnostics[0].message.find("does not lead"), std::string::npos);
  EXPECT_EQ(s->current(), 0u);
}

TEST_F(EtcdStore, ADeposedLeadersChangeFailsAndNumbersStayMonotonic) {
  const int64_t first = elect();
  auto a = open(first);
  ASSERT_TRUE(a->apply(kV1, "p.yaml", "alice", "by a").ok());
  depose();
  const int64_t second = elect();
  EXPECT_GT(second, first);
  EtcdBackend* bb = nullptr;
  auto b = open(second, &bb);
  EXPECT_EQ(b->current(), 1u);
  // The old leader still believes it leads: its change is fenced off.
  auto stale = a->apply(kV2, "p.yaml", "alice", "by a, deposed");
  ASSERT_FALSE(stale.ok());
  EXPECT_NE(stale.diagnostics[0].message.find("no longer leads"), std::string::npos) << stale.diagnostics[0].message;
  auto g = b->apply(kV2, "p.yaml", "bob", "by b");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g.value->number(), 2u);
  auto reader = open(0);
  ASSERT_EQ(reader->history().size(), 2u);
  EXPECT_EQ(reader->history()[1].message, "by b");
}

TEST_F(EtcdStore, AChangeFromAStaleViewIsRefusedThenNumbersFromTheStore) {
  const int64_t term = elect();
  auto a = open(term);
  auto b = open(term);  // read before a writes
  ASSERT_TRUE(a->apply(kV1, "p.yaml", "alice", "a").ok());
  auto g = b->apply(kV2, "p.yaml", "bob", "b");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.diagnostics[0].message.find("the store moved"), std::string::npos) << g.diagnostics[0].message;
  EXPECT_EQ(b->current(), 1u);  // the refusal re-read the store
  auto again = b->apply(kV2, "p.yaml", "bob", "b again");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value->number(), 2u);
  EXPECT_EQ(open(0)->history().size(), 2u);
}

// Leadership on the same etcd: one controller, its term the create
// revision of the leader key it made.
Leadership::Config leader_config(const EtcdTarget& target) {
  Leadership::Config c;
  c.target = target;
  c.self = {"cp-a", "ipc:///nowhere/a.sock", "tcp://127.0.0.1:1", 1, false};
  c.lease_ttl_s = 2;
  return c;
}

// A term that ends and is won again within one tick is a new term: the
// tick says so, or the control plane would keep fencing its writes on the
// term that ended, and every change would fail as "no longer leads".
TEST_F(EtcdStore, LeadingAgainUnderANewTermIsAnElection) {
  Leadership l(leader_config(target()));
  auto now = std::chrono::steady_clock::now();
  ASSERT_EQ(l.tick(now), Leadership::Change::elected) << l.last_error();
  const int64_t first = l.term();
  ASSERT_NE(first, 0);
  EXPECT_EQ(l.tick(now), Leadership::Change::none);

  // Its key deleted (as an operator may): the next campaign wins again.
  depose();
  ASSERT_EQ(l.tick(now), Leadership::Change::elected) << l.last_error();
  const int64_t second = l.term();
  EXPECT_GT(second, first);

  // Its lease lapsed (revoked here, as etcd does to an expired one): the
  // renewal finds it gone, a new lease is granted and the campaign wins.
  std::vector<KeyValue> kv;
  std::string error;
  ASSERT_TRUE(client_.range(EtcdBackend::leader_key("/test"), kv, error)) << error;
  ASSERT_EQ(kv.size(), 1u);
  ASSERT_TRUE(client_.lease_revoke(kv[0].lease, error)) << error;
  now += l.renew_period();
  ASSERT_EQ(l.tick(now), Leadership::Change::elected) << l.last_error();
  const int64_t third = l.term();
  EXPECT_GT(third, second);

  // Why it matters: a store fenced on an ended term cannot write.
  auto stale = open(second);
  auto refused = stale->apply(kV1, "p.yaml", "alice", "fenced on an ended term");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.diagnostics[0].message.find("no longer leads"), std::string::npos)
      << refused.diagnostics[0].message;
  EXPECT_TRUE(open(third)->apply(kV1, "p.yaml", "alice", "under the new term").ok());
}

// A large set in the shape of a ClassBench ACL filter set (host and /24
// pairs, one service port each), from a fixed seed: its compiled set and
// source, compressed, exceed one request.
std::string large_policy() {
  std::mt19937 rng(22);
  std::ostringstream p;
  p << "version: 1\ndefaults: { action: deny }\nrules:\n";
  auto address = [&](bool host) {
    std::ostringstream a;
    a << rng() % 224 << '.' << rng() % 256 << '.' << rng() % 256 << '.' << (host ? rng() % 256 : 0)
      << (host ? "/32" : "/24");
    return a.str();
  };
  for (int n = 1; n <= 40000; ++n)
    p << "  - { id: r" << n << ", from: " << address(n % 3 != 0) << ", to: " << address(true)
      << ", proto: tcp, ports: [" << (1 + rng() % 65000) << "], action: allow }\n";
  return p.str();
}

TEST_F(EtcdStore, ASetLargerThanARequestIsChunked) {
  const std::string source = large_policy();
  ASSERT_GT(source.size(), 2u << 20) << "the ClassBench set was not read";
  const int64_t term = elect();
  auto s = open(term);
  auto g = s->apply(source, "large.yaml", "alice", "large");
  ASSERT_TRUE(g.ok()) << (g.diagnostics.empty() ? "" : g.diagnostics[0].message);
  std::vector<KeyValue> chunks;
  std::string error;
  ASSERT_TRUE(client_.range_prefix("/test/generations/000000000001/", chunks, error)) << error;
  EXPECT_GT(chunks.size(), 1u);
  // Compressed, still more than etcd takes in one request (1.5 MiB).
  std::vector<KeyValue> header;
  ASSERT_TRUE(client_.range("/test/generations/000000000001", header, error)) << error;
  ASSERT_EQ(header.size(), 1u);
  EXPECT_GT(nlohmann::json::parse(header[0].value).value("stored_bytes", 0), 3 << 19) << header[0].value;
  auto back = open(0)->get(1);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->source_text(), source);
  EXPECT_EQ(back->compiled().rules_size(), g.value->compiled().rules_size());
  EXPECT_EQ(back->compiled().SerializeAsString(), g.value->compiled().SerializeAsString());
  // A small change after it reads back whole too (one chunk, one request).
  ASSERT_TRUE(s->apply(kV1, "p.yaml", "alice", "small").ok());
  ASSERT_TRUE(client_.range_prefix("/test/generations/000000000002/", chunks, error)) << error;
  EXPECT_EQ(chunks.size(), 1u);
  EXPECT_EQ(open(0)->get(2)->source_text(), kV1);
}

TEST(EtcdClientTest, FailsOverToAnEndpointThatAnswers) {
  test::TempDir dir;
  test::EtcdCluster etcd(dir.path() + "/etcd", 1);
  START_ETCD(etcd);
  const auto dead = test::free_tcp_ports(1)[0];
  EtcdClient c({"127.0.0.1:" + std::to_string(dead), etcd.endpoints()}, std::chrono::milliseconds(500));
  std::string error;
  EtcdClient::TxnResult r;
  ASSERT_TRUE(c.txn(nlohmann::json::array(), nlohmann::json::array({EtcdClient::put("/k", std::string("v\0w", 3))}),
                    nlohmann::json::array(), r, error))
      << error;
  EXPECT_EQ(c.endpoint(), etcd.endpoints());
  std::vector<KeyValue> kv;
  ASSERT_TRUE(c.range("/k", kv, error)) << error;
  ASSERT_EQ(kv.size(), 1u);
  EXPECT_EQ(kv[0].value, std::string("v\0w", 3));
  etcd.stop();
  EXPECT_FALSE(c.range("/k", kv, error));
  EXPECT_NE(error.find("no etcd endpoint answered"), std::string::npos) << error;
}

// Three members, one killed: the store keeps its generations and takes
// changes through the other two.
TEST(EtcdStoreCluster, KeepsWorkingWithAMemberDown) {
  test::TempDir dir;
  test::EtcdCluster etcd(dir.path() + "/etcd", 3);
  START_ETCD(etcd);
  const EtcdTarget target{split(etcd.endpoints()), "/test"};
  EtcdClient client(target.endpoints, std::chrono::milliseconds(500));
  std::string error;
  const int64_t lease = client.lease_grant(30, error);
  ASSERT_NE(lease, 0) << error;
  EtcdClient::TxnResult r;
  ASSERT_TRUE(client.txn(nlohmann::json::array(),
                         nlohmann::json::array({EtcdClient::put(EtcdBackend::leader_key("/test"), "t", lease)}),
                         nlohmann::json::array(), r, error))
      << error;
  auto backend = std::make_unique<EtcdBackend>(target);
  backend->set_term(r.revision);
  auto s = PolicyStore::open(std::move(backend), error);
  ASSERT_TRUE(s) << error;
  ASSERT_TRUE(s->apply(kV1, "p.yaml", "alice", "before").ok());
  // Member 0 is the one the client used: it must fail over.
  ASSERT_TRUE(etcd.kill(0));
  ASSERT_TRUE(etcd.wait_healthy());
  auto g = s->apply(kV2, "p.yaml", "alice", "after");
  ASSERT_TRUE(g.ok()) << (g.diagnostics.empty() ? "" : g.diagnostics[0].message);
  EXPECT_EQ(g.value->number(), 2u);
  auto reader = std::make_unique<EtcdBackend>(target);
  auto other = PolicyStore::open(std::move(reader), error);
  ASSERT_TRUE(other) << error;
  EXPECT_EQ(other->current(), 2u);
  ASSERT_TRUE(other->get(1));
  EXPECT_EQ(other->get(2)->source_text(), kV2);
}

TEST(EtcdUrl, Parses) {
  EtcdTarget t;
  std::string error;
  ASSERT_TRUE(parse_etcd_url("etcd://a:1,b:2/x/y/", t, error)) << error;
  EXPECT_EQ(t.endpoints, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(t.prefix, "/x/y");
  ASSERT_TRUE(parse_etcd_url("etcd://[::1]:2379", t, error)) << error;
  EXPECT_EQ(t.prefix, "/bulkhead");
  EXPECT_FALSE(parse_etcd_url("etcd://a", t, error));
  EXPECT_FALSE(parse_etcd_url("etcd://a:1/", t, error));
  EXPECT_FALSE(parse_etcd_url("etcd:///p", t, error));
  EXPECT_FALSE(parse_etcd_url("etcd://a:x", t, error));
  EXPECT_FALSE(is_etcd_url("/var/lib/bulkhead"));
}

TEST(Base64, RoundTripsEveryLength) {
  std::string raw, back;
  for (int n = 0; n < 70; ++n) {
    raw.push_back(static_cast<char>(n * 37));
    ASSERT_TRUE(base64_decode(base64_encode(raw), back));
    EXPECT_EQ(back, raw);
  }
  EXPECT_EQ(base64_encode("ab"), "YWI=");
  EXPECT_FALSE(base64_decode("YWI", back));
}

}  // namespace
}  // namespace bulkhead::controlplane
