// DNS snooping through the engine: a trusted resolver's answer crossing the
// dataplane binds before it leaves, over UDP and over TCP; the bindings
// outlive reloads and, through the state directory, a restart.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <filesystem>
#include <set>
#include <string>

#include "common/protocols.h"
#include "dataplane/metrics.h"
#include "dataplane/names/snoop.h"
#include "rules/load.h"
#include "tests/common/dns_builder.h"
#include "tests/common/packet_builder.h"
#include "tests/common/temp_dir.h"
#include "tests/integration/harness.h"

namespace bulkhead::test {
namespace {

using dataplane::names::BindingKey;
using dataplane::names::BoundName;
using dataplane::names::SnoopCounter;

constexpr const char* kClient = "10.1.0.5";
constexpr const char* kResolver = "10.0.0.53";

// Clients may ask the resolvers (one trusted) over UDP and TCP and reach 203.0.113.0/24
// on 443; the rule `api` is written with the name api.example.com too
// (added to the compiled set below, as the control plane would send it).
constexpr const char* kPolicy = R"(
version: 1
defaults: { action: deny }
segments:
  clients: [10.1.0.0/16]
  resolvers: [10.0.0.0/24]   # only 10.0.0.53 is trusted
rules:
  - { id: dns-udp, from: clients, to: resolvers, proto: udp, ports: [53], action: allow }
  - { id: dns-tcp, from: clients, to: resolvers, proto: tcp, ports: [53], action: allow }
  - { id: api, from: clients, to: 203.0.113.0/24, proto: tcp, ports: [443], action: allow }
)";

pb::CompiledRuleSet with_names(uint32_t max_bindings = 0) {
  auto result = rules::load_policy(kPolicy, "names.yaml");
  EXPECT_TRUE(result.ok());
  pb::CompiledRuleSet set = std::move(*result.value);
  for (auto& r : *set.mutable_rules())
    if (r.id() == "api") r.add_fqdn("api.example.com");
  auto* names = set.mutable_names();
  auto* p = names->add_trusted_resolvers();
  p->set_addr(std::string("\x0a\x00\x00\x35", 4));
  p->set_prefix_len(32);
  names->set_grace_seconds(60);
  if (max_bindings) names->set_max_bindings(max_bindings);
  return set;
}

std::set<std::string> bound(dataplane::Engine& e, const char* client, const char* server) {
  std::set<std::string> out;
  auto* table = e.bindings();
  if (table == nullptr) return out;
  BindingKey k;
  inet_pton(AF_INET, client, k.client.data());
  inet_pton(AF_INET, server, k.server.data());
  table->lookup(k, e.clock().now_seconds(), [&](const BoundName& b) { out.insert(std::string(b.name)); });
  return out;
}

uint64_t snooped(dataplane::Engine& e, SnoopCounter c) { return e.snoop_totals().events[static_cast<size_t>(c)]; }

Frame udp(const char* src, const char* dst, uint16_t sport, uint16_t dport, const DnsSpec& dns) {
  PacketSpec s = udp_spec(src, dst, sport, dport);
  s.payload = build_dns(dns);
  return build_packet(s);
}

const DnsSpec kAnswer = dns_answer("api.example.com", {dns_a("api.example.com", "198.51.100.7", 300)});

// Asks and answers through `h`: the query leaves on port 1, the answer on port 0.
void ask(Harness& h) {
  ASSERT_EQ(h.pass(0, udp(kClient, kResolver, 40000, 53, dns_query("api.example.com"))).size(), 1u);
  ASSERT_EQ(h.pass(1, udp(kResolver, kClient, 53, 40000, kAnswer)).size(), 1u);
}

std::string g_state_dir;
void with_state_dir(dataplane::Config& c) { c.state_dir = g_state_dir; }

TEST(Snoop, NoTableUntilASetWithNames) {
  Harness h(kPolicy);
  ASSERT_TRUE(h.loaded()) << h.error();
  EXPECT_EQ(h.engine().bindings(), nullptr);
  ask(h);  // nothing reads DNS without names: nothing breaks either
  EXPECT_EQ(snooped(h.engine(), SnoopCounter::queries), 0u);
}

TEST(Snoop, AnAnswerBindsBeforeItLeaves) {
  Harness h(kPolicy);
  std::string error;
  ASSERT_TRUE(h.engine().apply(with_names(), error)) << error;
  ASSERT_NE(h.engine().bindings(), nullptr);
  ASSERT_EQ(h.pass(0, udp(kClient, kResolver, 40000, 53, dns_query("api.example.com"))).size(), 1u);
  // The answer is sent and the workers run once: the binding exists when
  // it has left, so the client's first packet after it finds it.
  h.send(1, udp(kResolver, kClient, 53, 40000, kAnswer));
  h.run();
  ASSERT_EQ(h.received(0).size(), 1u);
  EXPECT_EQ(bound(h.engine(), kClient, "198.51.100.7"), std::set<std::string>{"api.example.com"});
  EXPECT_TRUE(bound(h.engine(), "10.1.0.6", "198.51.100.7").empty());
  EXPECT_EQ(snooped(h.engine(), SnoopCounter::answers_bound), 1u);
  EXPECT_EQ(h.engine().bindings()->live_bindings(), 1u);
  // The client's first packet to the answered address is admitted by the
  // rule written with the name; another client's, never answered, is not.
  EXPECT_EQ(h.pass(0, build_packet(tcp_spec(kClient, "198.51.100.7", 42000, 443))).size(), 1u);
  EXPECT_TRUE(h.pass(0, build_packet(tcp_spec("10.1.0.6", "198.51.100.7", 42000, 443))).empty());
  // A spoofed answer from an address the policy does not trust, on a
  // connection the client opened to it, binds nothing.
  auto spoof = dns_answer("api.example.com", {dns_a("api.example.com", "198.51.100.66")});
  h.pass(0, udp(kClient, "10.0.0.99", 40001, 53, dns_query("api.example.com")));
  h.pass(1, udp("10.0.0.99", kClient, 53, 40001, spoof));
  EXPECT_TRUE(bound(h.engine(), kClient, "198.51.100.66").empty());
  // What Prometheus is told.
  const std::string text = dataplane::render_metrics({&h.engine()});
  for (const char* line : {"bulkhead_name_bindings 1\n", "bulkhead_dns_answers_total{outcome=\"bound\"} 1\n",
                           "bulkhead_dns_answers_ignored_total{reason=\"untrusted\"} 1\n",
                           "bulkhead_dns_snoop_events_total{event=\"queries\"} 1\n",
                           "bulkhead_name_binding_changes_total{change=\"bound\"} 1\n",
                           "bulkhead_dns_malformed_total{reason=\"forward_pointer\"} 0\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line;
}

TEST(Snoop, AnAnswerOverTcpInPiecesBinds) {
  Harness h(kPolicy);
  std::string error;
  ASSERT_TRUE(h.engine().apply(with_names(), error)) << error;
  PacketSpec c = tcp_spec(kClient, kResolver, 41000, 53);
  c.tcp_seq = 1000;
  const auto hs = tcp_handshake(c);
  ASSERT_EQ(h.pass(0, hs[0]).size(), 1u);
  ASSERT_EQ(h.pass(1, hs[1]).size(), 1u);
  ASSERT_EQ(h.pass(0, hs[2]).size(), 1u);
  PacketSpec q = c;
  q.tcp_flags = common::kTcpAck | common::kTcpPsh;
  q.tcp_seq = 1001;
  q.payload = dns_tcp_framed(build_dns(dns_query("api.example.com")));
  ASSERT_EQ(h.pass(0, build_packet(q)).size(), 1u);
  const auto answer = dns_tcp_framed(build_dns(kAnswer));
  PacketSpec a = reversed(c);
  a.tcp_flags = common::kTcpAck | common::kTcpPsh;
  // The SYN-ACK's sequence number, read from its TCP header.
  const size_t l4 = 14 + 20;
  a.tcp_seq = (uint32_t{hs[1][l4 + 4]} << 24 | uint32_t{hs[1][l4 + 5]} << 16 | uint32_t{hs[1][l4 + 6]} << 8 |
               hs[1][l4 + 7]) + 1;
  for (size_t at = 0; at < answer.size(); at += 7) {
    a.payload.assign(answer.begin() + static_cast<long>(at),
                     answer.begin() + static_cast<long>(std::min(answer.size(), at + 7)));
    ASSERT_EQ(h.pass(1, build_packet(a)).size(), 1u);
    a.tcp_seq += static_cast<uint32_t>(a.payload.size());
  }
  EXPECT_EQ(bound(h.engine(), kClient, "198.51.100.7"), std::set<std::string>{"api.example.com"});
}

TEST(Snoop, BindingsExpireAndAreSwept) {
  Harness h(kPolicy);
  std::string error;
  ASSERT_TRUE(h.engine().apply(with_names(), error)) << error;
  ask(h);
  h.engine().clock().advance((300 + 60) * 1000);
  EXPECT_EQ(bound(h.engine(), kClient, "198.51.100.7").size(), 1u);  // the last second it matches
  h.engine().clock().advance(1000);
  EXPECT_TRUE(bound(h.engine(), kClient, "198.51.100.7").empty());
  for (int k = 0; k < 400 && h.engine().bindings()->live_bindings() > 0; ++k) h.engine().housekeeping();
  EXPECT_EQ(h.engine().bindings()->live_bindings(), 0u);
}

TEST(Snoop, BindingsOutliveReloadsAndARestart) {
  TempDir dir;
  g_state_dir = dir.path();
  {
    Harness h(kPolicy, 1, with_state_dir);
    std::string error;
    ASSERT_TRUE(h.engine().apply(with_names(), error)) << error;
    ask(h);
    auto* table = h.engine().bindings();
    // A set with other limits keeps the table as it is (until a restart).
    ASSERT_TRUE(h.engine().apply(with_names(4096), error)) << error;
    EXPECT_EQ(h.engine().bindings(), table);
    EXPECT_EQ(h.engine().bindings_limits().bindings, dataplane::names::BindingTable::Limits{}.bindings);
    // A set without names keeps it too, for the next set that has some.
    ASSERT_TRUE(h.reload(kPolicy, &error)) << error;
    EXPECT_EQ(h.engine().bindings(), table);
    ASSERT_TRUE(h.engine().apply(with_names(4096), error)) << error;
    EXPECT_EQ(bound(h.engine(), kClient, "198.51.100.7"), std::set<std::string>{"api.example.com"});
    ASSERT_TRUE(h.engine().save_bindings(error)) << error;
    EXPECT_TRUE(std::filesystem::is_regular_file(dir.path() + "/bindings.pb"));
  }  // stopping keeps them too
  Harness again(kPolicy, 1, with_state_dir);
  EXPECT_EQ(again.engine().bindings(), nullptr);
  std::string error;
  ASSERT_TRUE(again.engine().apply(with_names(4096), error)) << error;
  EXPECT_EQ(bound(again.engine(), kClient, "198.51.100.7"), std::set<std::string>{"api.example.com"});
  EXPECT_EQ(again.engine().bindings_limits().bindings, 4096u);  // the new limits, at the restart
  // And the client, not asking again, is let through by them.
  EXPECT_EQ(again.pass(0, build_packet(tcp_spec(kClient, "198.51.100.7", 42000, 443))).size(), 1u);
}

TEST(Snoop, AStateFileThatIsNotRegularIsNeitherReadNorReplaced) {
  TempDir dir;
  g_state_dir = dir.path();
  std::filesystem::create_directory(dir.path() + "/bindings.pb");
  Harness h(kPolicy, 1, with_state_dir);
  std::string error;
  ASSERT_TRUE(h.engine().apply(with_names(), error)) << error;
  ask(h);
  EXPECT_FALSE(h.engine().save_bindings(error));
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() + "/bindings.pb"));
}

}  // namespace
}  // namespace bulkhead::test
