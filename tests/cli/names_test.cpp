// `bulkhead names`: the DNS answers and server names a capture holds, read as
// the dataplane reads them, in capture order, with why any would be ignored.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "rules/prefix.h"
#include "tests/common/dns_builder.h"
#include "tests/common/hello_builder.h"
#include "tests/common/packet_builder.h"
#include "tests/common/pcap_io.h"
#include "tests/common/temp_dir.h"
#include "tests/common/tunnel_builder.h"
#include "tools/cli/capture_names.h"

namespace bulkhead::cli {
namespace {

using test::Frame;

constexpr const char* kClient = "10.0.1.5";
constexpr const char* kResolver = "10.0.3.53";
constexpr const char* kServer = "192.0.2.80";

Frame udp(const char* src, const char* dst, uint16_t sport, uint16_t dport, std::vector<uint8_t> payload) {
  test::PacketSpec s = test::udp_spec(src, dst, sport, dport);
  s.payload = std::move(payload);
  return test::build_packet(s);
}

Frame tcp(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
          std::vector<uint8_t> payload = {}) {
  test::PacketSpec s = test::tcp_spec(src, dst, sport, dport, flags);
  s.tcp_seq = seq;
  s.payload = std::move(payload);
  return test::build_packet(s);
}

std::vector<uint8_t> query(const std::string& name, uint16_t id) {
  auto spec = test::dns_query(name);
  spec.id = id;
  return test::build_dns(spec);
}

std::vector<uint8_t> answer(const std::string& name, uint16_t id, const std::vector<std::string>& addresses,
                            uint32_t ttl = 60) {
  std::vector<test::DnsRecordSpec> records;
  for (const auto& a : addresses) records.push_back(test::dns_a(name, a, ttl));
  auto spec = test::dns_answer(name, records);
  spec.id = id;
  return test::build_dns(spec);
}

struct Found {
  std::vector<DnsSeen> dns;
  std::vector<SniSeen> sni;
  NameFinderStats stats;
};

Found find(const std::vector<Frame>& frames) {
  Found f;
  NameFinder finder([&](const DnsSeen& d) { f.dns.push_back(d); }, [&](const SniSeen& s) { f.sni.push_back(s); });
  int64_t t = 1'700'000'000'000'000;
  for (const Frame& frame : frames) {
    common::CaptureRecord r;
    r.data = frame.data();
    r.caplen = r.wire_len = uint32_t(frame.size());
    r.time_us = t++;
    r.l3 = common::read_link(1, frame.data(), r.caplen);
    finder.feed(r);
  }
  f.stats = finder.stats();
  return f;
}

std::string address(const DnsSeen& d) {
  return d.address ? rules::format_address(d.address->family, d.address->addr) : "-";
}

TEST(Names, AnAnsweredQueryGivesEachAddress) {
  auto f = find({udp(kClient, kResolver, 40000, 53, query("api.example.com", 7)),
                 udp(kResolver, kClient, 53, 40000, answer("api.example.com", 7, {"192.0.2.10", "192.0.2.11"}))});
  ASSERT_EQ(f.dns.size(), 2u);
  EXPECT_EQ(address(f.dns[0]), "192.0.2.10");
  EXPECT_EQ(address(f.dns[1]), "192.0.2.11");
  EXPECT_EQ(f.dns[0].qname, "api.example.com");
  EXPECT_EQ(f.dns[0].name, "api.example.com");
  EXPECT_EQ(f.dns[0].address->ttl, 60u);
  EXPECT_EQ(rules::format_address(f.dns[0].client.family, f.dns[0].client.addr), kClient);
  EXPECT_EQ(f.dns[0].ignored, "");
  EXPECT_EQ(f.dns[0].transport, "udp");
}

TEST(Names, AnswersWithoutTheirQueryAreShownAsUnsolicited) {
  auto f = find({udp(kClient, kResolver, 40000, 53, query("api.example.com", 7)),
                 udp(kResolver, kClient, 53, 40000, answer("api.example.com", 8, {"192.0.2.10"})),     // other id
                 udp(kResolver, kClient, 53, 40001, answer("api.example.com", 7, {"192.0.2.10"})),     // other port
                 udp(kResolver, kClient, 53, 40000, answer("api.example.com", 7, {"192.0.2.10"})),     // its answer
                 udp(kResolver, kClient, 53, 40000, answer("api.example.com", 7, {"192.0.2.10"}))});   // a second one
  ASSERT_EQ(f.dns.size(), 4u);
  EXPECT_EQ(f.dns[0].ignored, "unsolicited");
  EXPECT_EQ(f.dns[1].ignored, "unsolicited");
  EXPECT_EQ(f.dns[2].ignored, "");
  EXPECT_EQ(f.dns[3].ignored, "unsolicited");
}

TEST(Names, NegativeAndMalformedAnswersAreShown) {
  auto nx = test::dns_answer("gone.example", {});
  nx.rcode = 3;
  nx.id = 1;
  auto bad = answer("bad.example", 2, {"192.0.2.1"});
  bad.resize(bad.size() - 2);
  auto f = find({udp(kClient, kResolver, 40000, 53, query("gone.example", 1)),
                 udp(kResolver, kClient, 53, 40000, test::build_dns(nx)),
                 udp(kClient, kResolver, 40000, 53, query("v6.example", 3)),
                 udp(kResolver, kClient, 53, 40000, answer("v6.example", 3, {})),
                 udp(kResolver, kClient, 53, 40000, bad)});
  ASSERT_EQ(f.dns.size(), 3u);
  EXPECT_EQ(f.dns[0].ignored, "nxdomain");
  EXPECT_FALSE(f.dns[0].address);
  EXPECT_EQ(f.dns[1].ignored, "nodata");
  EXPECT_EQ(f.dns[2].ignored, "malformed: truncated_answer");
  EXPECT_EQ(f.stats.dns_malformed, 1u);
}

TEST(Names, DnsOverTcpIsReassembled) {
  auto q = test::dns_tcp_framed(query("tcp.example", 9));
  auto a = test::dns_tcp_framed(answer("tcp.example", 9, {"198.51.100.9"}));
  std::vector<uint8_t> a1(a.begin(), a.begin() + 5), a2(a.begin() + 5, a.end());
  const uint8_t psh_ack = common::kTcpPsh | common::kTcpAck;
  auto f = find({tcp(kClient, kResolver, 41000, 53, common::kTcpSyn, 100),
                 tcp(kResolver, kClient, 53, 41000, common::kTcpSyn | common::kTcpAck, 500),
                 tcp(kClient, kResolver, 41000, 53, psh_ack, 101, q),
                 tcp(kResolver, kClient, 53, 41000, psh_ack, 501, a1),
                 tcp(kResolver, kClient, 53, 41000, psh_ack, 501, a1),  // a retransmission
                 tcp(kResolver, kClient, 53, 41000, psh_ack, 506, a2)});
  ASSERT_EQ(f.dns.size(), 1u);
  EXPECT_EQ(address(f.dns[0]), "198.51.100.9");
  EXPECT_EQ(f.dns[0].transport, "tcp");
  EXPECT_EQ(f.dns[0].ignored, "");
}

// A capture that begins after the connection opened: DNS over TCP is
// framed from the first data seen (an answer without its query is shown
// as unsolicited; one whose query is in the capture binds).
TEST(Names, DnsOverTcpFromACaptureThatMissedTheSyn) {
  const uint8_t psh_ack = common::kTcpPsh | common::kTcpAck;
  const auto early = test::dns_tcp_framed(answer("early.example", 8, {"198.51.100.8"}));
  auto f = find({tcp(kResolver, kClient, 53, 41000, psh_ack, 501, early),
                 tcp(kClient, kResolver, 41000, 53, psh_ack, 101, test::dns_tcp_framed(query("tcp.example", 9))),
                 tcp(kResolver, kClient, 53, 41000, psh_ack, 501 + uint32_t(early.size()),
                     test::dns_tcp_framed(answer("tcp.example", 9, {"198.51.100.9"})))});
  ASSERT_EQ(f.dns.size(), 2u);
  EXPECT_EQ(f.dns[0].ignored, "unsolicited");
  EXPECT_EQ(address(f.dns[1]), "198.51.100.9");
  EXPECT_EQ(f.dns[1].ignored, "");
}

TEST(Names, ClientHellosAcrossSegmentsAndInTheSyn) {
  auto records = test::tls_records(test::build_client_hello({.sni = "www.example.com"}));
  std::vector<uint8_t> r1(records.begin(), records.begin() + 30), r2(records.begin() + 30, records.end());
  auto ech = test::tls_records(test::build_client_hello({.sni = "public.example", .ech = true}));
  const uint8_t psh_ack = common::kTcpPsh | common::kTcpAck;
  auto f = find({tcp(kClient, kServer, 50000, 443, common::kTcpSyn, 1000),
                 tcp(kClient, kServer, 50000, 443, psh_ack, 1031, r2),  // out of order
                 tcp(kClient, kServer, 50000, 443, psh_ack, 1001, r1),
                 tcp(kClient, kServer, 50001, 443, common::kTcpSyn, 7000, ech)});  // TCP Fast Open
  ASSERT_EQ(f.sni.size(), 2u);
  EXPECT_EQ(f.sni[0].sni.value_or(""), "www.example.com");
  EXPECT_FALSE(f.sni[0].ech);
  EXPECT_EQ(f.sni[0].transport, "tcp");
  EXPECT_EQ(f.sni[0].client.port, 50000);
  EXPECT_EQ(f.sni[1].sni.value_or(""), "public.example");
  EXPECT_TRUE(f.sni[1].ech);
}

TEST(Names, QuicInitialsGiveTheirServerName) {
  auto hello = test::build_client_hello({.sni = "quic.example"});
  auto v1 = test::protect_initial({.frames = test::crypto_frame(hello)});
  auto v2 = test::protect_initial({.version = dataplane::names::kQuicV2, .frames = test::crypto_frame(hello)});
  auto nameless = test::build_client_hello({.sni = std::nullopt});
  auto none = test::protect_initial({.frames = test::crypto_frame(nameless)});
  auto f = find({udp(kClient, kServer, 51000, 443, v1), udp(kClient, kServer, 51001, 443, v2),
                 udp(kClient, kServer, 51002, 443, none)});
  ASSERT_EQ(f.sni.size(), 3u);
  EXPECT_EQ(f.sni[0].sni.value_or(""), "quic.example");
  EXPECT_EQ(f.sni[0].transport, "quic");
  EXPECT_EQ(f.sni[1].sni.value_or(""), "quic.example");
  EXPECT_FALSE(f.sni[2].sni.has_value());
}

TEST(Names, TunnelsAreReadThrough) {
  // An answer inside AWS GENEVE, a ClientHello inside Azure's VXLAN, and a
  // GENEVE packet with an unknown critical option, which the dataplane's
  // ports refuse too.
  const Frame answer_frame = udp(kResolver, kClient, 53, 40000, answer("aws.example", 5, {"192.0.2.33"}));
  const Frame hello_frame = tcp(kClient, kServer, 50000, 443, common::kTcpSyn, 1000,
                                test::tls_records(test::build_client_hello({.sni = "azure.example"})));
  auto critical = test::aws_options(1, 2, 3);
  critical.push_back({0x0ff0, 0x85, {0, 0, 0, 0}});
  auto f = find({test::geneve_frame({.options = test::aws_options(1, 2, 3)}, answer_frame),
                 test::vxlan_frame({.dport = 10800, .vni = 800}, hello_frame),
                 test::geneve_frame({.options = critical}, answer_frame)});
  ASSERT_EQ(f.dns.size(), 1u);
  EXPECT_EQ(address(f.dns[0]), "192.0.2.33");
  EXPECT_EQ(f.dns[0].ignored, "unsolicited");
  ASSERT_EQ(f.sni.size(), 1u);
  EXPECT_EQ(f.sni[0].sni.value_or(""), "azure.example");
}

std::string run(const std::string& command, int& status) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  status = ::pclose(p);
  return out;
}

TEST(Names, TheCommandPrintsOneJsonObjectPerFinding) {
  test::TempDir dir;
  const std::string pcap = dir.file("names.pcap");
  test::write_pcap(pcap, {udp(kClient, kResolver, 40000, 53, query("api.example.com", 7)),
                          udp(kResolver, kClient, 53, 40000, answer("api.example.com", 7, {"192.0.2.10"})),
                          tcp(kClient, kServer, 50000, 443, common::kTcpSyn, 1000,
                              test::tls_records(test::build_client_hello({.sni = "api.example.com"})))});
  int status = 0;
  const std::string out =
      run(std::string(BULKHEAD_BUILD_DIR) + "/tools/cli/bulkhead names --pcap " + pcap + " --json 2>/dev/null", status);
  ASSERT_EQ(WEXITSTATUS(status), 0) << out;
  std::vector<nlohmann::json> lines;
  size_t at = 0;
  for (size_t nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1)
    lines.push_back(nlohmann::json::parse(out.substr(at, nl - at)));
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_EQ(lines[0]["kind"], "dns");
  EXPECT_EQ(lines[0]["client"], kClient);
  EXPECT_EQ(lines[0]["resolver"], kResolver);
  EXPECT_EQ(lines[0]["qname"], "api.example.com");
  EXPECT_EQ(lines[0]["name"], "api.example.com");
  EXPECT_EQ(lines[0]["address"], "192.0.2.10");
  EXPECT_EQ(lines[0]["ttl"], 60);
  EXPECT_FALSE(lines[0].contains("ignored"));
  EXPECT_NEAR(lines[0]["time"].get<double>(), 1.7e9, 1e9);
  EXPECT_EQ(lines[1]["kind"], "sni");
  EXPECT_EQ(lines[1]["server"], kServer);
  EXPECT_EQ(lines[1]["sport"], 443);
  EXPECT_EQ(lines[1]["cport"], 50000);
  EXPECT_EQ(lines[1]["transport"], "tcp");
  EXPECT_EQ(lines[1]["sni"], "api.example.com");
  EXPECT_EQ(lines[1]["ech"], false);

  const std::string table =
      run(std::string(BULKHEAD_BUILD_DIR) + "/tools/cli/bulkhead names --pcap " + pcap + " 2>&1", status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(table.find("192.0.2.10"), std::string::npos) << table;
  EXPECT_NE(table.find("1 ClientHellos"), std::string::npos) << table;
  EXPECT_EQ(WEXITSTATUS(::system((std::string(BULKHEAD_BUILD_DIR) + "/tools/cli/bulkhead names --pcap " +
                                  dir.path() + "/missing.pcap 2>/dev/null").c_str())),
            2);
}

}  // namespace
}  // namespace bulkhead::cli

namespace bulkhead::cli {
namespace {

// A person browsing: two clients resolve 20 names (two pairs share an
// address, 18 servers) and connect to each on 443. The learner proposes the
// names, with the resolver trusted, and nothing wider: no `internet`.
TEST(Names, LearnProposesTheNamesItSawAndNothingWider) {
  std::vector<Frame> frames;
  std::vector<std::string> names;
  uint16_t id = 1, port = 40000;
  for (int i = 0; i < 20; ++i) names.push_back("site" + std::to_string(i) + ".example.com");
  for (const char* client : {"10.0.1.5", "10.0.1.6"}) {
    for (int i = 0; i < 20; ++i) {
      const std::string server = "192.0.2." + std::to_string(10 + i % 18);
      frames.push_back(udp(client, kResolver, port, 53, query(names[size_t(i)], id)));
      frames.push_back(udp(kResolver, client, 53, port, answer(names[size_t(i)], id, {server})));
      ++id;
      ++port;
      for (int c = 0; c < 2; ++c, ++port) {
        frames.push_back(tcp(client, server.c_str(), port, 443, common::kTcpSyn, 1000));
        frames.push_back(tcp(server.c_str(), client, 443, port, common::kTcpSyn | common::kTcpAck, 5000));
      }
    }
  }
  test::TempDir dir;
  const std::string pcap = dir.file("browsing.pcap");
  test::write_pcap(pcap, frames, 1, 5000);  // 5 ms apart
  int status = 0;
  const std::string out = run(std::string(BULKHEAD_BUILD_DIR) + "/tools/cli/bulkhead learn propose --pcap " + pcap +
                                  " --min-flows 1 2>/dev/null",
                              status);
  ASSERT_EQ(WEXITSTATUS(status), 0) << out;
  for (const auto& n : names) EXPECT_NE(out.find("fqdn: " + n), std::string::npos) << n << "\n" << out;
  EXPECT_EQ(out.find("internet"), std::string::npos) << out;
  EXPECT_EQ(out.find("192.0.2."), std::string::npos) << out;  // no address rules for the servers
  EXPECT_NE(out.find(kResolver), std::string::npos) << out;     // trusted, and reached on 53

  // `bulkhead flows` shows each destination's names, in the table and in JSON.
  const std::string table =
      run(std::string(BULKHEAD_BUILD_DIR) + "/tools/cli/bulkhead flows --pcap " + pcap + " 2>/dev/null", status);
  ASSERT_EQ(WEXITSTATUS(status), 0) << table;
  EXPECT_TRUE(table.find("192.0.2.10 [site0.example.com, site18.example.com]") != std::string::npos ||
              table.find("192.0.2.10 [site18.example.com, site0.example.com]") != std::string::npos)
      << table;
  const std::string json =
      run(std::string(BULKHEAD_BUILD_DIR) + "/tools/cli/bulkhead flows --pcap " + pcap + " --json 2>/dev/null", status);
  ASSERT_EQ(WEXITSTATUS(status), 0) << json;
  // Each client's flows to 192.0.2.11 were for both its names (in no
  // particular order).
  int named = 0;
  size_t at = 0;
  for (size_t nl; (nl = json.find('\n', at)) != std::string::npos; at = nl + 1) {
    const auto j = nlohmann::json::parse(json.substr(at, nl - at));
    if (j["dst"] != "192.0.2.11" || j["dst_port"] != 443) continue;
    const auto seen = j.value("dns_names", std::set<std::string>{});
    named += seen == std::set<std::string>{"site1.example.com", "site19.example.com"};
  }
  EXPECT_EQ(named, 2) << json;
}

}  // namespace
}  // namespace bulkhead::cli

namespace bulkhead::cli {
namespace {

// `policy eval --pcap` judges rules written with names by the capture's own
// answers and ClientHellos, in capture order: a connection to an address
// answered before it (by a trusted resolver, for a name of the rule) is the
// rule's, one to an address never answered, answered only after it, or
// answered by an untrusted resolver is not; an sni rule takes the
// connection whose ClientHello names one of its names, and, provisionally,
// a first packet with no ClientHello yet.
TEST(Names, PolicyEvalJudgesNamesByTheCapturesOwnAnswers) {
  test::TempDir dir;
  const std::string policy = dir.file("p.yaml");
  {
    std::FILE* f = std::fopen(policy.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("version: 1\n"
               "segments: { clients: [10.0.1.0/24], resolvers: [10.0.3.53] }\n"
               "dns: { trusted: [resolvers], grace: 0 }\n"
               "rules:\n"
               "  - { id: dns, from: clients, to: resolvers, proto: udp, ports: [53], action: allow }\n"
               "  - { id: api, from: clients, to: [fqdn: api.example.com], proto: tcp, ports: [443], action: allow }\n"
               "  - { id: web, from: clients, to: [sni: \"*.example.org\"], proto: tcp, ports: [443], action: allow }\n",
               f);
    std::fclose(f);
  }
  const std::string pcap = dir.file("names.pcap");
  const auto hello = [](const char* sni) { return test::tls_records(test::build_client_hello({.sni = sni})); };
  test::write_pcap(pcap, {
      tcp(kClient, "192.0.2.10", 49999, 443, common::kTcpSyn, 1),  // before the answer: no binding yet
      udp(kClient, kResolver, 40000, 53, query("api.example.com", 7)),
      udp(kResolver, kClient, 53, 40000, answer("api.example.com", 7, {"192.0.2.10"})),
      tcp(kClient, "192.0.2.10", 50000, 443, common::kTcpSyn, 1000),  // answered: api
      tcp(kClient, "192.0.2.11", 50001, 443, common::kTcpSyn, 2000),  // never answered
      udp(kClient, "10.0.3.99", 40001, 53, query("api.example.com", 8)),
      udp("10.0.3.99", kClient, 53, 40001, answer("api.example.com", 8, {"192.0.2.12"})),
      tcp(kClient, "192.0.2.12", 50002, 443, common::kTcpSyn, 3000),  // an untrusted resolver's answer
      tcp(kClient, kServer, 50003, 443, common::kTcpSyn, 4000, hello("www.example.org")),  // web
      tcp(kClient, kServer, 50004, 443, common::kTcpSyn, 5000, hello("www.example.net")),  // no rule's name
  });
  int status = 0;
  const std::string out = run(std::string(BULKHEAD_BUILD_DIR) + "/tools/cli/bulkhead policy eval " + policy +
                                  " --pcap " + pcap + " --json 2>&1",
                              status);
  ASSERT_EQ(WEXITSTATUS(status), 0) << out;
  const auto j = nlohmann::json::parse(out);
  std::map<std::string, uint64_t> hits;
  for (const auto& r : j["rules"]) hits[r["rule"].is_null() ? "-" : r["rule"].get<std::string>()] = r["hits"];
  EXPECT_EQ(hits["dns"], 1u) << out;  // the trusted resolver's query (the other resolver's is denied)
  EXPECT_EQ(hits["api"], 1u) << out;
  // The three SYNs api does not take carry no ClientHello: the dataplane
  // lets them through provisionally, under the sni rule, until one comes.
  EXPECT_EQ(hits["web"], 4u) << out;
  EXPECT_EQ(hits["-"], 4u) << out;  // the wrong name, the untrusted query, the two answers (stateless)
  EXPECT_EQ(j["names"]["bound"], 1u) << out;
  EXPECT_EQ(j["names"]["hellos"], 2u) << out;
}

}  // namespace
}  // namespace bulkhead::cli

namespace bulkhead::cli {
namespace {

void write_text(const std::string& path, const char* text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(text, f);
  std::fclose(f);
}

// More names than a policy holds rules with names (rules::kMaxFqdnRules):
// the names of the same clients and ports share one rule, the proposal is
// a valid policy, and each connection counts once in the report, though an
// address answered for two names counts in the evidence of both.
TEST(Names, LearnProposesManyNamesWithinThePolicysRoomForThem) {
  std::vector<Frame> frames;
  uint16_t id = 1, port = 40000;
  for (int i = 0; i < 40; ++i) {
    const std::string name = "site" + std::to_string(i) + ".example.com";
    const std::string server = "192.0.2." + std::to_string(10 + i % 39);  // the last shares the first's address
    frames.push_back(udp(kClient, kResolver, port, 53, query(name, id)));
    frames.push_back(udp(kResolver, kClient, 53, port, answer(name, id, {server})));
    ++id;
    ++port;
    frames.push_back(tcp(kClient, server.c_str(), port, 443, common::kTcpSyn, 1000));
    frames.push_back(tcp(server.c_str(), kClient, 443, port, common::kTcpSyn | common::kTcpAck, 5000));
    ++port;
  }
  test::TempDir dir;
  const std::string pcap = dir.file("many.pcap");
  test::write_pcap(pcap, frames, 1, 5000);
  int status = 0;
  const std::string out = run(std::string(BULKHEAD_BUILD_DIR) + "/tools/cli/bulkhead learn propose --pcap " + pcap +
                                  " --min-flows 1 2>&1",
                              status);
  ASSERT_EQ(WEXITSTATUS(status), 0) << out;
  for (int i = 0; i < 40; ++i)
    EXPECT_NE(out.find("site" + std::to_string(i) + ".example.com"), std::string::npos) << i << "\n" << out;
  EXPECT_NE(out.find("to 40 names"), std::string::npos) << out;
  EXPECT_NE(out.find("from 80 of 80 connections"), std::string::npos) << out;  // 40 DNS, 40 TCP
}

// `simulate --pcap` judges rules written with names by each flow's own
// names: the question of the answer that gave the client its destination,
// and the server name of its ClientHello. An fqdn rule allows the answered
// name and not another; an sni rule allows its name and not another; each
// verdict a name decided says which name.
TEST(Names, SimulateJudgesNamesByTheFlowsOwnAnswersAndServerNames) {
  test::TempDir dir;
  const std::string policy = dir.file("names.yaml"), wide = dir.file("wide.yaml");
  write_text(policy,
             "version: 1\n"
             "segments: { clients: [10.0.1.0/24], resolvers: [10.0.3.53] }\n"
             "dns: { trusted: [resolvers] }\n"
             "rules:\n"
             "  - { id: dns, from: clients, to: resolvers, proto: udp, ports: [53], action: allow }\n"
             "  - { id: api, from: clients, to: [fqdn: api.example.com], proto: tcp, ports: [443], action: allow }\n"
             "  - { id: web, from: clients, to: [sni: \"*.example.org\"], proto: tcp, ports: [443], action: allow }\n");
  write_text(wide,
             "version: 1\n"
             "segments: { clients: [10.0.1.0/24] }\n"
             "rules:\n"
             "  - { id: any, from: clients, to: any, action: allow }\n");
  const auto hello = [](const char* sni) { return test::tls_records(test::build_client_hello({.sni = sni})); };
  const uint8_t syn_ack = common::kTcpSyn | common::kTcpAck;
  const std::string pcap = dir.file("names.pcap");
  test::write_pcap(pcap,
                   {
                       udp(kClient, kResolver, 40000, 53, query("api.example.com", 7)),
                       udp(kResolver, kClient, 53, 40000, answer("api.example.com", 7, {"192.0.2.10"})),
                       udp(kClient, kResolver, 40001, 53, query("tracker.example.net", 8)),
                       udp(kResolver, kClient, 53, 40001, answer("tracker.example.net", 8, {"192.0.2.11"})),
                       tcp(kClient, "192.0.2.10", 50000, 443, common::kTcpSyn, 1000),  // api
                       tcp("192.0.2.10", kClient, 443, 50000, syn_ack, 9000),
                       tcp(kClient, "192.0.2.11", 50001, 443, common::kTcpSyn, 2000),  // answered, not allowed
                       tcp("192.0.2.11", kClient, 443, 50001, syn_ack, 9000),
                       tcp(kClient, "192.0.2.80", 50002, 443, common::kTcpSyn, 3000, hello("www.example.org")),  // web
                       tcp("192.0.2.80", kClient, 443, 50002, syn_ack, 9000),
                       tcp(kClient, "192.0.2.81", 50003, 443, common::kTcpSyn, 4000, hello("www.example.net")),
                       tcp("192.0.2.81", kClient, 443, 50003, syn_ack, 9000),
                   },
                   1, 5000);
  const std::string simulate = std::string(BULKHEAD_BUILD_DIR) + "/tools/cli/bulkhead simulate " + policy +
                               " --pcap " + pcap + " --against " + wide;
  int status = 0;
  const std::string out = run(simulate + " --json 2>&1", status);
  ASSERT_EQ(WEXITSTATUS(status), 1) << out;  // two flows newly blocked
  const auto j = nlohmann::json::parse(out);
  using Judged = std::pair<std::string, std::string>;  // verdict and rule, name_reason
  std::map<std::string, Judged> by_dst;
  for (const auto& f : j["decided_by_names"])
    by_dst[f["dst"].get<std::string>()] = {f["verdict"].get<std::string>() + " " + f["rule"].get<std::string>(),
                                           f.value("name_reason", "")};
  EXPECT_EQ(by_dst["192.0.2.10"], Judged("allow api", "answered for api.example.com"))
      << out;
  EXPECT_EQ(by_dst["192.0.2.11"],
            Judged("deny default",
                                                "answered for tracker.example.net, not allowed; no server name seen"))
      << out;
  EXPECT_EQ(by_dst["192.0.2.80"], Judged("allow web", "server name www.example.org"))
      << out;
  EXPECT_EQ(by_dst["192.0.2.81"],
            Judged(
                "deny default", "no DNS answer seen for this address; server name www.example.net, not allowed"))
      << out;
  EXPECT_EQ(by_dst.count(kResolver), 0u) << out;  // decided by its addresses
  ASSERT_EQ(j["blocked"].size(), 2u) << out;
  EXPECT_EQ(j["newly_blocked"], 2u) << out;
  std::map<std::string, uint64_t> allowed;
  for (const auto& r : j["rules"]) allowed[r["id"].get<std::string>()] = r["allowed"];
  EXPECT_EQ(allowed["api"], 1u) << out;
  EXPECT_EQ(allowed["web"], 1u) << out;

  const std::string text = run(simulate + " 2>&1", status);
  EXPECT_EQ(WEXITSTATUS(status), 1) << text;
  EXPECT_NE(text.find("allow by api: answered for api.example.com"), std::string::npos) << text;
  EXPECT_NE(text.find("default: answered for tracker.example.net, not allowed"), std::string::npos) << text;
}

// Over a capture, `simulate` names connections as the candidate policy's
// dataplane would have bound them: an answer from a resolver the policy
// does not trust binds nothing, and one whose TTL and grace are over no
// longer counts.
TEST(Names, SimulateBindsByTheCandidatesResolversAndTtl) {
  test::TempDir dir;
  const std::string policy = dir.file("names.yaml"), wide = dir.file("wide.yaml");
  write_text(policy,
             "version: 1\n"
             "segments: { clients: [10.0.1.0/24] }\n"
             "dns: { trusted: [10.0.3.53], grace: 0 }\n"
             "rules:\n"
             "  - { id: api, from: clients, to: [fqdn: api.example.com], proto: tcp, ports: [443], action: allow }\n");
  write_text(wide, "version: 1\ndefaults: { action: allow }\n");
  const char* spoofer = "10.0.3.99";
  const std::string pcap = dir.file("names.pcap");
  // 1.5 s between packets: the TTL-1 answer is over by the connection.
  test::write_pcap(pcap,
                   {
                       udp(kClient, kResolver, 40000, 53, query("api.example.com", 7)),
                       udp(kResolver, kClient, 53, 40000, answer("api.example.com", 7, {"192.0.2.10"}, 1)),
                       udp(kClient, spoofer, 40001, 53, query("api.example.com", 8)),
                       udp(spoofer, kClient, 53, 40001, answer("api.example.com", 8, {"192.0.2.12"})),
                       udp(kClient, kResolver, 40002, 53, query("api.example.com", 9)),
                       udp(kResolver, kClient, 53, 40002, answer("api.example.com", 9, {"192.0.2.13"})),
                       tcp(kClient, "192.0.2.10", 50000, 443, common::kTcpSyn, 1000),  // expired
                       tcp(kClient, "192.0.2.12", 50001, 443, common::kTcpSyn, 2000),  // untrusted
                       tcp(kClient, "192.0.2.13", 50002, 443, common::kTcpSyn, 3000),  // alive
                   },
                   1, 1'500'000);
  int status = 0;
  const std::string out = run(std::string(BULKHEAD_BUILD_DIR) + "/tools/cli/bulkhead simulate " + policy + " --pcap " +
                                  pcap + " --against " + wide + " --json 2>&1",
                              status);
  ASSERT_EQ(WEXITSTATUS(status), 1) << out;
  const auto j = nlohmann::json::parse(out);
  std::map<std::string, std::string> by_dst;
  for (const auto& f : j["decided_by_names"])
    by_dst[f["dst"].get<std::string>()] = f["verdict"].get<std::string>() + ": " + f.value("name_reason", "");
  EXPECT_EQ(by_dst["192.0.2.10"], "deny: no DNS answer seen for this address") << out;
  EXPECT_EQ(by_dst["192.0.2.12"], "deny: no DNS answer seen for this address") << out;
  EXPECT_EQ(by_dst["192.0.2.13"], "allow: answered for api.example.com") << out;
}

}  // namespace
}  // namespace bulkhead::cli
