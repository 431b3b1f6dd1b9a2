// The DNS snooping stage on synthetic packets: what a trusted answer binds
// and for whom, and each answer it must ignore (untrusted, unsolicited,
// malformed, negative, not mentioned), over UDP and over TCP cut anyhow.
#include "dataplane/names/snoop.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <set>
#include <string>
#include <vector>

#include "dataplane/names/policy_names.h"
#include "tests/common/dns_builder.h"
#include "tests/common/packet_builder.h"

namespace bulkhead::dataplane::names {
namespace {

using test::Frame;
using test::PacketSpec;

constexpr const char* kClient = "10.1.0.5";
constexpr const char* kResolver = "10.0.0.53";
constexpr const char* kRogue = "10.0.0.99";

KeyedHash test_hash() {
  const uint64_t secrets[6] = {1, 2, 3, 4, 5, 6};
  return KeyedHash::with_secrets(secrets);
}

std::string v4(const char* text) {
  std::string out(4, '\0');
  inet_pton(AF_INET, text, out.data());
  return out;
}

// api.example.com and everything under cdn.example.net are mentioned;
// 10.0.0.53 is trusted; 60 s of grace.
std::unique_ptr<PolicyNames> policy(uint32_t max_per_name = 0) {
  pb::CompiledRuleSet set;
  auto* r = set.add_rules();
  r->set_id("api");
  r->set_action(pb::ACTION_ALLOW);
  r->add_fqdn("api.example.com");
  r->add_fqdn("*.cdn.example.net");
  auto* p = set.mutable_names()->add_trusted_resolvers();
  p->set_addr(v4(kResolver));
  p->set_prefix_len(32);
  auto* p6 = set.mutable_names()->add_trusted_resolvers();
  p6->set_addr(std::string("\x20\x01\x0d\xb8", 4) + std::string(10, '\0') + std::string("\x00\x53", 2));
  p6->set_prefix_len(128);
  set.mutable_names()->set_grace_seconds(60);
  if (max_per_name) set.mutable_names()->set_max_addresses_per_name(max_per_name);
  std::string error;
  auto names = PolicyNames::build(set, error);
  EXPECT_NE(names, nullptr) << error;
  return names;
}

class Snoop : public ::testing::Test {
 protected:
  static constexpr uint32_t kNow = 1000;

  std::unique_ptr<PolicyNames> names_ = policy();
  BindingTable table_{{}, test_hash()};
  DnsSnoop snoop_;

  // One packet of connection `conn`; `from_opener`: in the direction of
  // its first packet.
  void send(const Frame& f, int32_t conn, bool from_opener, bool first = false, uint16_t tenant = 0) {
    PacketMeta m{};
    parse_packet(f.data(), static_cast<uint32_t>(f.size()), m);
    ASSERT_EQ(m.kind, PacketKind::ip);
    SnoopPacket p;
    p.frame = f.data();
    p.len = static_cast<uint32_t>(f.size());
    p.meta = &m;
    p.tenant = tenant;
    p.conn = conn;
    p.conn_hash = static_cast<uint32_t>(conn) * 2654435761u;
    p.conn_created_ms = 5;
    p.from_opener = from_opener;
    p.first = first;
    if (DnsSnoop::wanted(m, first)) snoop_.read(p, *names_, table_, kNow * 1000, kNow);
  }

  static Frame udp(const char* src, const char* dst, uint16_t sport, uint16_t dport, const test::DnsSpec& dns) {
    PacketSpec s = test::udp_spec(src, dst, sport, dport);
    s.payload = test::build_dns(dns);
    return test::build_packet(s);
  }
  // A query from the client and its answer from `resolver`, on connection 1.
  void exchange(const test::DnsSpec& query, const test::DnsSpec& answer, const char* resolver = kResolver) {
    send(udp(kClient, resolver, 40000, 53, query), 1, true, true);
    send(udp(resolver, kClient, 53, 40000, answer), 1, false);
  }

  uint64_t n(SnoopCounter c) const { return snoop_.stats().events[static_cast<std::size_t>(c)]; }

  std::set<std::string> bound(const char* client, const char* server, uint16_t tenant = 0,
                              uint32_t* expires = nullptr) const {
    BindingKey k;
    k.tenant = tenant;
    inet_pton(AF_INET, client, k.client.data());
    inet_pton(AF_INET, server, k.server.data());
    std::set<std::string> out;
    table_.lookup(k, kNow, [&](const BoundName& b) {
      out.insert(std::string(b.name));
      if (expires) *expires = b.expires;
    });
    return out;
  }
};

using Names = std::set<std::string>;

TEST_F(Snoop, TrustedAnswerBindsForItsClientOnly) {
  exchange(test::dns_query("api.example.com"),
           test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7", 300)}));
  uint32_t expires = 0;
  EXPECT_EQ(bound(kClient, "198.51.100.7", 0, &expires), Names{"api.example.com"});
  EXPECT_EQ(expires, kNow + 300 + 60);  // TTL + grace
  EXPECT_TRUE(bound("10.1.0.6", "198.51.100.7").empty());  // another client was told nothing
  EXPECT_TRUE(bound(kClient, "198.51.100.7", 7).empty());  // nor the same address under another tenant
  EXPECT_EQ(n(SnoopCounter::queries), 1u);
  EXPECT_EQ(n(SnoopCounter::answers), 1u);
  EXPECT_EQ(n(SnoopCounter::answers_bound), 1u);
  EXPECT_EQ(n(SnoopCounter::addresses_bound), 1u);
}

TEST_F(Snoop, TenantsAreKeptApart) {
  send(udp(kClient, kResolver, 40000, 53, test::dns_query("api.example.com")), 1, true, true, 7);
  send(udp(kResolver, kClient, 53, 40000,
           test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7")})),
       1, false, false, 7);
  EXPECT_EQ(bound(kClient, "198.51.100.7", 7), Names{"api.example.com"});
  EXPECT_TRUE(bound(kClient, "198.51.100.7", 0).empty());
}

TEST_F(Snoop, UntrustedResolverBindsNothing) {
  exchange(test::dns_query("api.example.com"),
           test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7")}), kRogue);
  EXPECT_TRUE(bound(kClient, "198.51.100.7").empty());
  EXPECT_EQ(n(SnoopCounter::ignored_untrusted), 1u);
  EXPECT_EQ(n(SnoopCounter::queries), 0u);  // queries to it are not even kept
}

TEST_F(Snoop, UnsolicitedAnswersBindNothing) {
  const auto answer = test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7")});
  // No query at all on the connection.
  send(udp(kResolver, kClient, 53, 40000, answer), 1, false);
  // A query with another id, or another question.
  auto other_id = test::dns_query("api.example.com");
  other_id.id = 0x4321;
  send(udp(kClient, kResolver, 40001, 53, other_id), 2, true, true);
  send(udp(kResolver, kClient, 53, 40001, answer), 2, false);
  send(udp(kClient, kResolver, 40002, 53, test::dns_query("www.example.com")), 3, true, true);
  send(udp(kResolver, kClient, 53, 40002, answer), 3, false);
  // A query of the same id and name, but for AAAA.
  send(udp(kClient, kResolver, 40003, 53, test::dns_query("api.example.com", 28)), 4, true, true);
  send(udp(kResolver, kClient, 53, 40003, answer), 4, false);
  // The resolver opening the connection itself.
  send(udp(kResolver, kClient, 53, 40004, answer), 5, true, true);
  EXPECT_TRUE(bound(kClient, "198.51.100.7").empty());
  EXPECT_EQ(n(SnoopCounter::ignored_unsolicited), 5u);
  // One query is answered once: a second answer to it is unsolicited.
  exchange(test::dns_query("api.example.com"), answer);
  send(udp(kResolver, kClient, 53, 40000,
           test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.66")})),
       1, false);
  EXPECT_EQ(bound(kClient, "198.51.100.7"), Names{"api.example.com"});
  EXPECT_TRUE(bound(kClient, "198.51.100.66").empty());
  EXPECT_EQ(n(SnoopCounter::ignored_unsolicited), 6u);
}

TEST_F(Snoop, OutstandingQueriesOfOneConnectionAreAnsweredInAnyOrder) {
  // A stub resolver's A and AAAA, then two more, from one socket.
  const char* hosts[] = {"a.cdn.example.net", "b.cdn.example.net", "c.cdn.example.net", "d.cdn.example.net"};
  for (int k = 0; k < 4; ++k) {
    auto q = test::dns_query(hosts[k]);
    q.id = static_cast<uint16_t>(100 + k);
    send(udp(kClient, kResolver, 40000, 53, q), 1, true, k == 0);
  }
  for (int k = 3; k >= 0; --k) {
    auto a = test::dns_answer(hosts[k], {test::dns_a(hosts[k], "203.0.113." + std::to_string(10 + k))});
    a.id = static_cast<uint16_t>(100 + k);
    send(udp(kResolver, kClient, 53, 40000, a), 1, false);
  }
  for (int k = 0; k < 4; ++k)
    EXPECT_EQ(bound(kClient, ("203.0.113." + std::to_string(10 + k)).c_str()), Names{hosts[k]});
  // A fifth outstanding query pushes the oldest out.
  for (int k = 0; k < 5; ++k) {
    auto q = test::dns_query("api.example.com");
    q.id = static_cast<uint16_t>(200 + k);
    send(udp(kClient, kResolver, 40000, 53, q), 1, true);
  }
  EXPECT_EQ(n(SnoopCounter::queries_forgotten), 1u);
  auto a = test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.1")});
  a.id = 200;
  send(udp(kResolver, kClient, 53, 40000, a), 1, false);
  EXPECT_EQ(n(SnoopCounter::ignored_unsolicited), 1u);
}

TEST_F(Snoop, CnameChainsBindTheMentionedLinks) {
  // The question is not mentioned; its CNAME target is (*.cdn.example.net).
  exchange(test::dns_query("www.shop.example"),
           test::dns_answer("www.shop.example", {test::dns_cname("www.shop.example", "edge.cdn.example.net", 600),
                                                 test::dns_cname("edge.cdn.example.net", "lb.provider.example", 120),
                                                 test::dns_a("lb.provider.example", "203.0.113.9", 300)}));
  uint32_t expires = 0;
  EXPECT_EQ(bound(kClient, "203.0.113.9", 0, &expires), Names{"edge.cdn.example.net"});
  EXPECT_EQ(expires, kNow + 120 + 60);  // the chain's lowest TTL
  // The question mentioned, its target not: bound to the question's name.
  exchange(test::dns_query("api.example.com"),
           test::dns_answer("api.example.com", {test::dns_cname("api.example.com", "api.cdn.example.net"),
                                                test::dns_a("api.cdn.example.net", "203.0.113.10")}));
  EXPECT_EQ(bound(kClient, "203.0.113.10"), (Names{"api.cdn.example.net", "api.example.com"}));
}

TEST_F(Snoop, AnswersThatBindNothingAreCountedByOutcome) {
  exchange(test::dns_query("other.example.org"),
           test::dns_answer("other.example.org", {test::dns_a("other.example.org", "198.51.100.8")}));
  EXPECT_EQ(n(SnoopCounter::answers_not_mentioned), 1u);
  auto nx = test::dns_answer("api.example.com", {});
  nx.rcode = kRcodeNxDomain;
  exchange(test::dns_query("api.example.com"), nx);
  exchange(test::dns_query("api.example.com"), test::dns_answer("api.example.com", {}));  // NODATA
  EXPECT_EQ(n(SnoopCounter::answers_negative), 2u);
  // AAAA for a client asking over IPv4: it would connect from another address.
  exchange(test::dns_query("api.example.com", 28),
           test::dns_answer("api.example.com", {test::dns_aaaa("api.example.com", "2001:db8::7")}, 28));
  EXPECT_EQ(n(SnoopCounter::addresses_other_family), 1u);
  EXPECT_EQ(n(SnoopCounter::answers_unbound), 1u);
  EXPECT_EQ(table_.live_bindings(), 0u);
}

TEST_F(Snoop, Ipv6ClientsAreBoundTheirAaaaAnswers) {
  send(udp("2001:db8:1::5", "2001:db8::53", 40000, 53, test::dns_query("api.example.com", 28)), 1, true, true);
  send(udp("2001:db8::53", "2001:db8:1::5", 53, 40000,
           test::dns_answer("api.example.com",
                            {test::dns_aaaa("api.example.com", "2001:db8:7::7"), test::dns_a("api.example.com", "198.51.100.7")},
                            28)),
       1, false);
  BindingKey k;
  k.family = 6;
  inet_pton(AF_INET6, "2001:db8:1::5", k.client.data());
  inet_pton(AF_INET6, "2001:db8:7::7", k.server.data());
  std::set<std::string> names;
  table_.lookup(k, kNow, [&](const BoundName& b) { names.insert(std::string(b.name)); });
  EXPECT_EQ(names, Names{"api.example.com"});
  EXPECT_EQ(n(SnoopCounter::addresses_other_family), 1u);  // the A record, for an IPv6 client
  EXPECT_EQ(table_.live_bindings(), 1u);
}

TEST_F(Snoop, TruncatedAnswersBindWhatTheyCarry) {
  auto tc = test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7")});
  tc.truncated = true;
  exchange(test::dns_query("api.example.com"), tc);
  EXPECT_EQ(bound(kClient, "198.51.100.7"), Names{"api.example.com"});
  EXPECT_EQ(n(SnoopCounter::answers_truncated), 1u);
}

TEST_F(Snoop, AbsurdTtlsAreClamped) {
  uint32_t expires = 0;
  exchange(test::dns_query("api.example.com"),
           test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7", 0x7fffffff)}));
  EXPECT_EQ(bound(kClient, "198.51.100.7", 0, &expires).size(), 1u);
  EXPECT_EQ(expires, kNow + kMaxBindingTtl + 60);
  // 2^32 - 1 has the top bit set: a TTL of 0 (RFC 2181), the grace alone.
  exchange(test::dns_query("api.example.com"),
           test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.9", 0xffffffff)}));
  EXPECT_EQ(bound(kClient, "198.51.100.9", 0, &expires).size(), 1u);
  EXPECT_EQ(expires, kNow + 60);
}

TEST_F(Snoop, HostileAnswersAreRefusedAndCounted) {
  // A compression pointer at itself in the answer record's name.
  auto bytes = test::build_dns(test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7")}));
  const size_t record = 12 + test::dns_wire_name("api.example.com").size() + 4;
  bytes[record] = 0xc0;
  bytes[record + 1] = static_cast<uint8_t>(record);
  send(udp(kClient, kResolver, 40000, 53, test::dns_query("api.example.com")), 1, true, true);
  PacketSpec s = test::udp_spec(kResolver, kClient, 53, 40000);
  s.payload = bytes;
  send(test::build_packet(s), 1, false);
  EXPECT_EQ(n(SnoopCounter::ignored_malformed), 1u);
  EXPECT_EQ(snoop_.stats().malformed[static_cast<size_t>(DnsError::forward_pointer)], 1u);
  // Thousands of answers: read in part, within the reader's limits.
  std::vector<test::DnsRecordSpec> many;
  for (int k = 0; k < 2000; ++k)
    many.push_back(test::dns_a("a.cdn.example.net", "198.18." + std::to_string(k / 250) + "." + std::to_string(k % 250)));
  auto big = test::dns_answer("a.cdn.example.net", many);
  big.truncated = true;  // 2000 records do not fit a datagram: the resolver cuts and says so
  auto wire = test::build_dns(big);
  wire.resize(std::min<size_t>(wire.size(), 1400));
  send(udp(kClient, kResolver, 40001, 53, test::dns_query("a.cdn.example.net")), 2, true, true);
  s = test::udp_spec(kResolver, kClient, 53, 40001);
  s.payload = wire;
  send(test::build_packet(s), 2, false);
  EXPECT_GT(table_.live_bindings(), 0u);
  EXPECT_LE(table_.live_bindings(), kMaxAddresses);
  EXPECT_TRUE(bound(kClient, "198.51.100.7").empty());
}

TEST_F(Snoop, ANamesAddressCapHolds) {
  names_ = policy(2);
  BindingTable capped({.bindings = 1024, .names = 16, .max_addresses_per_name = 2}, test_hash());
  std::vector<test::DnsRecordSpec> three = {test::dns_a("api.example.com", "198.51.100.1"),
                                            test::dns_a("api.example.com", "198.51.100.2"),
                                            test::dns_a("api.example.com", "198.51.100.3")};
  PacketMeta m{};
  auto q = udp(kClient, kResolver, 40000, 53, test::dns_query("api.example.com"));
  auto a = udp(kResolver, kClient, 53, 40000, test::dns_answer("api.example.com", three));
  for (auto* f : {&q, &a}) {
    parse_packet(f->data(), static_cast<uint32_t>(f->size()), m);
    SnoopPacket p{f->data(), static_cast<uint32_t>(f->size()), &m, 0, 1, 77, 5, f == &q, f == &q};
    snoop_.read(p, *names_, capped, kNow * 1000, kNow);
  }
  EXPECT_EQ(capped.live_bindings(), 2u);
  EXPECT_EQ(n(SnoopCounter::addresses_refused), 1u);
  EXPECT_EQ(n(SnoopCounter::answers_bound), 1u);
}

TEST_F(Snoop, DnsOnAnotherPortIsNotRead) {
  send(udp(kClient, kResolver, 40000, 5353, test::dns_query("api.example.com")), 1, true, true);
  send(udp(kResolver, kClient, 5353, 40000,
           test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7")})),
       1, false);
  EXPECT_EQ(n(SnoopCounter::ignored_other_port), 1u);
  EXPECT_EQ(n(SnoopCounter::queries), 0u);
  EXPECT_EQ(table_.live_bindings(), 0u);
}

TEST_F(Snoop, FragmentsAreNotRead) {
  send(udp(kClient, kResolver, 40000, 53, test::dns_query("api.example.com")), 1, true, true);
  PacketSpec s = test::udp_spec(kResolver, kClient, 53, 40000);
  s.payload = test::build_dns(test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7")}));
  s.more_fragments = true;
  send(test::build_packet(s), 1, false);
  EXPECT_EQ(n(SnoopCounter::ignored_unreadable), 1u);
  EXPECT_EQ(table_.live_bindings(), 0u);
}

// TCP: a client at 10.1.0.5:41000 and the resolver, the handshake first.
class SnoopTcp : public Snoop {
 protected:
  uint32_t cseq_ = 1000, sseq_ = 50000;

  Frame segment(bool from_client, const std::vector<uint8_t>& data, uint8_t flags, uint32_t seq) {
    PacketSpec s = from_client ? test::tcp_spec(kClient, kResolver, 41000, 53, flags)
                               : test::tcp_spec(kResolver, kClient, 53, 41000, flags);
    s.tcp_seq = seq;
    s.payload = data;
    return test::build_packet(s);
  }
  void handshake() {
    send(segment(true, {}, common::kTcpSyn, cseq_++), 9, true, true);
    send(segment(false, {}, common::kTcpSyn | common::kTcpAck, sseq_++), 9, false);
  }
  void client(const std::vector<uint8_t>& data) {
    send(segment(true, data, common::kTcpAck | common::kTcpPsh, cseq_), 9, true);
    cseq_ += static_cast<uint32_t>(data.size());
  }
  void server(const std::vector<uint8_t>& data) {
    send(segment(false, data, common::kTcpAck | common::kTcpPsh, sseq_), 9, false);
    sseq_ += static_cast<uint32_t>(data.size());
  }
  static std::vector<uint8_t> framed(const test::DnsSpec& spec) { return test::dns_tcp_framed(test::build_dns(spec)); }
};

TEST_F(SnoopTcp, AnAnswerSplitAcrossSegmentsBindsWhenWhole) {
  handshake();
  client(framed(test::dns_query("api.example.com")));
  const auto answer =
      framed(test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7")}));
  server({answer.begin(), answer.begin() + 1});  // half the length prefix
  server({answer.begin() + 1, answer.begin() + 20});
  EXPECT_EQ(table_.live_bindings(), 0u);
  server({answer.begin() + 20, answer.end()});
  EXPECT_EQ(bound(kClient, "198.51.100.7"), Names{"api.example.com"});
}

TEST_F(SnoopTcp, TwoMessagesInOneSegment) {
  handshake();
  auto q1 = test::dns_query("api.example.com");
  auto q2 = test::dns_query("x.cdn.example.net");
  q2.id = 77;
  auto queries = framed(q1);
  const auto second = framed(q2);
  queries.insert(queries.end(), second.begin(), second.end());
  client(queries);
  auto a2 = test::dns_answer("x.cdn.example.net", {test::dns_a("x.cdn.example.net", "203.0.113.2")});
  a2.id = 77;
  auto answers = framed(a2);
  const auto a1 = framed(test::dns_answer("api.example.com", {test::dns_a("api.example.com", "203.0.113.1")}));
  answers.insert(answers.end(), a1.begin(), a1.end());
  server(answers);
  EXPECT_EQ(bound(kClient, "203.0.113.1"), Names{"api.example.com"});
  EXPECT_EQ(bound(kClient, "203.0.113.2"), Names{"x.cdn.example.net"});
  EXPECT_EQ(n(SnoopCounter::queries), 2u);
  EXPECT_EQ(n(SnoopCounter::answers_bound), 2u);
}

TEST_F(SnoopTcp, RetransmissionsAreReadOnceAndAGapGivesUp) {
  handshake();
  client(framed(test::dns_query("api.example.com")));
  const auto answer =
      framed(test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7")}));
  server({answer.begin(), answer.begin() + 10});
  // The first 10 bytes again, with the next 5: only the 5 are new.
  send(segment(false, {answer.begin(), answer.begin() + 15}, common::kTcpAck, sseq_ - 10), 9, false);
  sseq_ += 5;
  server({answer.begin() + 15, answer.end()});
  EXPECT_EQ(bound(kClient, "198.51.100.7"), Names{"api.example.com"});
  EXPECT_EQ(n(SnoopCounter::answers), 1u);
  // A segment past a gap: the stream is given up, nothing more is read.
  client(framed(test::dns_query("x.cdn.example.net")));
  const auto next = framed(test::dns_answer("x.cdn.example.net", {test::dns_a("x.cdn.example.net", "203.0.113.5")}));
  send(segment(false, {next.begin() + 4, next.end()}, common::kTcpAck, sseq_ + 4), 9, false);
  EXPECT_EQ(n(SnoopCounter::ignored_tcp_gap), 1u);
  server(next);
  EXPECT_EQ(n(SnoopCounter::ignored_tcp_untracked), 1u);
  EXPECT_TRUE(bound(kClient, "203.0.113.5").empty());
}

TEST_F(SnoopTcp, AConnectionSeenMidStreamIsNotRead) {
  client(framed(test::dns_query("api.example.com")));
  server(framed(test::dns_answer("api.example.com", {test::dns_a("api.example.com", "198.51.100.7")})));
  EXPECT_EQ(n(SnoopCounter::ignored_tcp_untracked), 2u);
  EXPECT_EQ(table_.live_bindings(), 0u);
}

TEST_F(SnoopTcp, StreamsAreBoundedAndTakenLeastRecentlyUsedFirst) {
  // More TCP connections than streams: the oldest loses its stream.
  for (int32_t c = 0; c <= static_cast<int32_t>(DnsSnoop::kTcpStreams); ++c) {
    PacketSpec s = test::tcp_spec(kClient, kResolver, static_cast<uint16_t>(42000 + c), 53, common::kTcpSyn);
    send(test::build_packet(s), 100 + c, true, true);
  }
  EXPECT_EQ(n(SnoopCounter::tcp_streams_taken), 1u);
  EXPECT_LT(DnsSnoop::memory_bytes(), 1u << 20);
}

}  // namespace
}  // namespace bulkhead::dataplane::names
