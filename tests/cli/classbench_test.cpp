// `bulkhead policy import-classbench` + `policy eval` against a plain linear
// scan of the ClassBench file, written here independently: for every header
// of the trace both must name the same first matching rule. Then the pcap
// form of eval against the tuple form, and against the dataplane itself.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/protocols.h"
#include "tests/common/packet_builder.h"
#include "tests/common/pcap_io.h"
#include "tests/integration/dataplane_process.h"

namespace bulkhead::test {
namespace {

std::string data_dir() {
  const char* src = std::getenv("BULKHEAD_SOURCE_DIR");
  return std::string(src ? src : ".") + "/../shared/data/classbench";
}

bool exists(const std::string& p) { return std::ifstream(p).good(); }

struct Rule {
  uint32_t src, smask, dst, dmask;
  uint32_t slo, shi, dlo, dhi;
  uint32_t proto, pmask;
};

std::vector<Rule> read_rules(const std::string& path) {
  std::vector<Rule> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    unsigned a[4], b[4], sl, dl;
    Rule r{};
    if (std::sscanf(line.c_str(), "@%u.%u.%u.%u/%u %u.%u.%u.%u/%u %u : %u %u : %u %x/%x", &a[0], &a[1], &a[2], &a[3],
                    &sl, &b[0], &b[1], &b[2], &b[3], &dl, &r.slo, &r.shi, &r.dlo, &r.dhi, &r.proto, &r.pmask) != 16)
      continue;
    r.src = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
    r.dst = b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
    r.smask = sl == 0 ? 0 : 0xffffffffu << (32 - sl);
    r.dmask = dl == 0 ? 0 : 0xffffffffu << (32 - dl);
    out.push_back(r);
  }
  return out;
}

struct Header {
  uint32_t src, dst, sport, dport, proto;
};

std::vector<Header> read_trace(const std::string& path, size_t limit) {
  std::vector<Header> out;
  std::ifstream in(path);
  std::string line;
  while (out.size() < limit && std::getline(in, line)) {
    Header h{};
    if (std::sscanf(line.c_str(), "%u %u %u %u %u", &h.src, &h.dst, &h.sport, &h.dport, &h.proto) == 5)
      out.push_back(h);
  }
  return out;
}

std::string linear_scan(const std::vector<Rule>& rules, const Header& h) {
  for (size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if ((h.src & r.smask) == (r.src & r.smask) && (h.dst & r.dmask) == (r.dst & r.dmask) && h.sport >= r.slo &&
        h.sport <= r.shi && h.dport >= r.dlo && h.dport <= r.dhi && (h.proto & r.pmask) == (r.proto & r.pmask))
      return "allow r" + std::to_string(i + 1);
  }
  return "deny -";
}

std::string ip(uint32_t a) {
  char buf[INET_ADDRSTRLEN];
  const uint32_t n = htonl(a);
  inet_ntop(AF_INET, &n, buf, sizeof(buf));
  return buf;
}

std::string run(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string l;
  while (std::getline(ss, l)) out.push_back(l);
  return out;
}

const std::string kCli = build_path("tools/cli/bulkhead");

class ClassBench : public ::testing::TestWithParam<const char*> {};

TEST_P(ClassBench, EvalNamesTheSameFirstMatchAsALinearScan) {
  const std::string set = GetParam();
  const std::string rules_path = data_dir() + "/" + set;
  std::string trace_path = rules_path + "_trace";
  if (!exists(trace_path)) trace_path = rules_path + "_trace_generated";
  if (!exists(rules_path) || !exists(trace_path)) GTEST_SKIP() << "ClassBench data not found at " << data_dir();

  const std::string tmp = "/tmp/bh_cb_" + std::to_string(getpid()) + "_" + set;
  int status = -1;
  run(kCli + " policy import-classbench " + rules_path + " -o " + tmp + ".yaml", &status);
  ASSERT_EQ(status, 0);

  const auto rules = read_rules(rules_path);
  const auto headers = read_trace(trace_path, 20000);
  ASSERT_GT(rules.size(), 500u);
  ASSERT_GT(headers.size(), 1000u);
  {
    std::ofstream t(tmp + ".tuples");
    for (const auto& h : headers)
      t << h.proto << ' ' << ip(h.src) << ' ' << h.sport << '\t' << ip(h.dst) << ' ' << h.dport << '\n';
  }
  const auto got = lines(run(kCli + " policy eval " + tmp + ".yaml --tuples " + tmp + ".tuples", &status));
  ASSERT_EQ(status, 0);
  ASSERT_EQ(got.size(), headers.size());
  size_t mismatches = 0, allowed = 0;
  for (size_t i = 0; i < headers.size(); ++i) {
    const std::string want = linear_scan(rules, headers[i]);
    if (got[i] != want && ++mismatches <= 5)
      ADD_FAILURE() << "header " << i + 1 << ": eval says '" << got[i] << "', linear scan '" << want << "'";
    allowed += want[0] == 'a';
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GT(allowed, headers.size() / 2) << "the trace should exercise the rules";
  std::remove((tmp + ".yaml").c_str());
  std::remove((tmp + ".tuples").c_str());
}

INSTANTIATE_TEST_SUITE_P(Sets, ClassBench,
                         ::testing::Values("acl1_1k", "fw1_1k", "ipc1_1k", "acl1_10k", "fw1_10k", "ipc1_10k"));

// TCP and UDP headers of a trace as SYN / datagram frames; the reverse of an
// earlier header is left out, since the dataplane would pass it as a reply.
std::vector<Frame> frames_of(const std::vector<Header>& headers, std::vector<Header>& used) {
  std::vector<Frame> out;
  std::set<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t, uint32_t>> seen;
  for (const auto& h : headers) {
    if (h.proto != 6 && h.proto != 17) continue;
    if (seen.count({h.dst, h.src, h.dport, h.sport, h.proto})) continue;
    seen.insert({h.src, h.dst, h.sport, h.dport, h.proto});
    out.push_back(build_packet({.src = ip(h.src), .dst = ip(h.dst), .proto = static_cast<uint8_t>(h.proto),
                                .sport = static_cast<uint16_t>(h.sport), .dport = static_cast<uint16_t>(h.dport),
                                .tcp_flags = common::kTcpSyn}));
    used.push_back(h);
  }
  return out;
}

TEST(EvalPcap, SameVerdictsAsTuplesAndAsTheDataplane) {
  const std::string rules_path = data_dir() + "/fw1_1k";
  if (!exists(rules_path)) GTEST_SKIP() << "ClassBench data not found";
  const std::string tmp = "/tmp/bh_evp_" + std::to_string(getpid());
  int status = -1;
  run(kCli + " policy import-classbench " + rules_path + " -o " + tmp + ".yaml", &status);
  ASSERT_EQ(status, 0);
  std::vector<Header> used;
  const auto frames = frames_of(read_trace(rules_path + "_trace", 3000), used);
  ASSERT_GT(frames.size(), 1000u);
  write_pcap(tmp + ".pcap", frames);

  // eval --pcap splits the capture; the verdicts match the linear scan.
  run(kCli + " policy eval " + tmp + ".yaml --pcap " + tmp + ".pcap --pass " + tmp + ".pass.pcap --drop " + tmp +
          ".drop.pcap",
      &status);
  ASSERT_EQ(status, 0);
  const auto rules = read_rules(rules_path);
  std::vector<Frame> want_pass;
  for (size_t i = 0; i < used.size(); ++i)
    if (linear_scan(rules, used[i])[0] == 'a') want_pass.push_back(frames[i]);
  const auto pass = read_pcap(tmp + ".pass.pcap");
  EXPECT_EQ(pass.size(), want_pass.size());
  EXPECT_TRUE(pass == want_pass);
  EXPECT_EQ(pass.size() + read_pcap(tmp + ".drop.pcap").size(), frames.size());

  // The dataplane on the same capture passes exactly the same packets.
  write_pcap(tmp + ".empty.pcap", {});
  {
    DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"),
                        {"--no-huge", "-m", "512", "--no-pci", "-l", "0,1",
                         "--vdev=net_pcap0,rx_pcap=" + tmp + ".pcap,tx_pcap=" + tmp + ".dp0.pcap",
                         "--vdev=net_pcap1,rx_pcap=" + tmp + ".empty.pcap,tx_pcap=" + tmp + ".dp1.pcap"},
                        {"--policy", tmp + ".yaml", "--mbufs", "8192"});
    ASSERT_TRUE(dp.wait_ready(std::chrono::seconds(30))) << dp.log();
    EXPECT_TRUE(dp.wait_counter("/bulkhead/stats", "rx_packets", frames.size(), std::chrono::seconds(20)));
    EXPECT_EQ(dp.stop(), 0);
  }
  const auto dp_pass = read_pcap(tmp + ".dp1.pcap");
  EXPECT_EQ(dp_pass.size(), pass.size());
  EXPECT_TRUE(dp_pass == pass) << "the dataplane and policy eval disagree";
  for (const char* ext : {".yaml", ".pcap", ".pass.pcap", ".drop.pcap", ".empty.pcap", ".dp0.pcap", ".dp1.pcap"})
    std::remove((tmp + ext).c_str());
}

}  // namespace
}  // namespace bulkhead::test
