// `bulkhead policy import-classbench` + `policy eval` against a plain linear
// scan of the ClassBench file, written here independently: for every header
// of the trace both must name the same first matching rule. Then the pcap
// form of eval against the tuple form, and against the dataplane itself.
//
// A set in ClassBench's format is generated here (prefixes of every length,
// exact ports, ranges and wildcards, protocols and wildcards; a trace half
// aimed inside rules), so the comparison runs everywhere; the published
// ClassBench sets in ../shared/data/classbench join it where they exist.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/protocols.h"
#include "tests/common/packet_builder.h"
#include "tests/common/pcap_io.h"
#include "tests/common/temp_dir.h"
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

// A rule set and trace in ClassBench's formats, from a fixed seed.
void write_generated_set(const std::string& rules_path, const std::string& trace_path) {
  std::mt19937 rng(20261206);
  auto uniform = [&](uint32_t lo, uint32_t hi) { return std::uniform_int_distribution<uint32_t>(lo, hi)(rng); };
  auto range = [&](uint32_t& lo, uint32_t& hi) {
    switch (uniform(0, 3)) {
      case 0: lo = 0, hi = 65535; break;                                  // any
      case 1: lo = hi = uniform(0, 2000); break;                           // one port
      case 2: lo = uniform(0, 1023), hi = lo + uniform(1, 3000); break;  // a range
      default: lo = 1024, hi = 65535; break;                              // the unprivileged ports
    }
  };
  auto prefix_len = [&] { const uint32_t r = uniform(0, 9); return r == 0 ? 0u : r < 3 ? uniform(8, 23) : uniform(24, 32); };
  std::vector<Rule> rules;
  std::ofstream out(rules_path);
  for (int i = 0; i < 2000; ++i) {
    Rule r{};
    const uint32_t sl = prefix_len(), dl = prefix_len();
    r.smask = sl == 0 ? 0 : 0xffffffffu << (32 - sl);
    r.dmask = dl == 0 ? 0 : 0xffffffffu << (32 - dl);
    // Few distinct networks, so prefixes nest and overlap.
    r.src = (0x0a000000u | uniform(0, 15) << 16 | uniform(0, 65535)) & r.smask;
    r.dst = (0xac100000u | uniform(0, 15) << 8 | uniform(0, 255)) & r.dmask;
    range(r.slo, r.shi);
    range(r.dlo, r.dhi);
    const uint32_t p = uniform(0, 5);
    r.proto = p == 0 ? 0 : p < 3 ? 6 : p < 5 ? 17 : 1;
    r.pmask = p == 0 ? 0 : 0xff;
    rules.push_back(r);
    char line[160];
    std::snprintf(line, sizeof line, "@%s/%u\t%s/%u\t%u : %u\t%u : %u\t0x%02X/0x%02X\t0x0000/0x0000\t\n",
                  ip(r.src).c_str(), sl, ip(r.dst).c_str(), dl, r.slo, r.shi, r.dlo, r.dhi, r.proto, r.pmask);
    out << line;
  }
  std::ofstream trace(trace_path);
  for (int i = 0; i < 5000; ++i) {
    Header h{};
    if (i % 2 == 0) {  // inside a rule (which may still be shadowed by an earlier one)
      const Rule& r = rules[uniform(0, static_cast<uint32_t>(rules.size() - 1))];
      h.src = r.src | (uniform(0, UINT32_MAX) & ~r.smask);
      h.dst = r.dst | (uniform(0, UINT32_MAX) & ~r.dmask);
      h.sport = uniform(r.slo, r.shi);
      h.dport = uniform(r.dlo, r.dhi);
      h.proto = r.pmask ? r.proto : (uniform(0, 1) ? 6 : 17);
    } else {
      h.src = 0x0a000000u | uniform(0, 0xfffff);
      h.dst = 0xac100000u | uniform(0, 0xfff);
      h.sport = uniform(0, 65535);
      h.dport = uniform(0, 3000);
      h.proto = uniform(0, 1) ? 6 : 17;
    }
    trace << h.src << '\t' << h.dst << '\t' << h.sport << '\t' << h.dport << '\t' << h.proto << "\t0\t" << i << '\n';
  }
}

struct SetFiles {
  std::string rules, trace;
};

SetFiles published_set(const std::string& name) {
  SetFiles f{data_dir() + "/" + name, data_dir() + "/" + name + "_trace"};
  if (!exists(f.trace)) f.trace += "_generated";
  return f;
}

// The files of set `name`: "generated" is written into `tmp`.
SetFiles set_files(const std::string& name, const TempDir& tmp) {
  if (name != "generated") return published_set(name);
  SetFiles f{tmp.file("generated"), tmp.file("generated_trace")};
  write_generated_set(f.rules, f.trace);
  return f;
}

// "generated", then those of `published` whose rules and trace exist.
std::vector<std::string> sets(std::initializer_list<const char*> published) {
  std::vector<std::string> out{"generated"};
  for (const char* name : published) {
    const SetFiles f = published_set(name);
    if (exists(f.rules) && exists(f.trace)) out.push_back(name);
  }
  return out;
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

class ClassBench : public ::testing::TestWithParam<std::string> {};

TEST_P(ClassBench, EvalNamesTheSameFirstMatchAsALinearScan) {
  const TempDir tmp;
  const SetFiles set = set_files(GetParam(), tmp);
  const std::string policy = tmp.file("policy.yaml"), tuples = tmp.file("tuples");
  int status = -1;
  run(kCli + " policy import-classbench " + set.rules + " -o " + policy, &status);
  ASSERT_EQ(status, 0);

  const auto rules = read_rules(set.rules);
  const auto headers = read_trace(set.trace, 20000);
  ASSERT_GT(rules.size(), 500u);
  ASSERT_GT(headers.size(), 1000u);
  {
    std::ofstream t(tuples);
    for (const auto& h : headers)
      t << h.proto << ' ' << ip(h.src) << ' ' << h.sport << '\t' << ip(h.dst) << ' ' << h.dport << '\n';
  }
  const auto got = lines(run(kCli + " policy eval " + policy + " --tuples " + tuples, &status));
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
}

INSTANTIATE_TEST_SUITE_P(Sets, ClassBench,
                         ::testing::ValuesIn(sets({"acl1_1k", "fw1_1k", "ipc1_1k", "acl1_10k", "fw1_10k", "ipc1_10k"})),
                         [](const auto& info) { return info.param; });

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

class EvalPcap : public ::testing::TestWithParam<std::string> {};

TEST_P(EvalPcap, SameVerdictsAsTuplesAndAsTheDataplane) {
  const TempDir dir;
  const SetFiles set = set_files(GetParam(), dir);
  const std::string tmp = dir.path() + "/run";
  int status = -1;
  run(kCli + " policy import-classbench " + set.rules + " -o " + tmp + ".yaml", &status);
  ASSERT_EQ(status, 0);
  std::vector<Header> used;
  const auto frames = frames_of(read_trace(set.trace, 3000), used);
  ASSERT_GT(frames.size(), 1000u);
  write_pcap(tmp + ".pcap", frames);

  // eval --pcap splits the capture; the verdicts match the linear scan.
  run(kCli + " policy eval " + tmp + ".yaml --pcap " + tmp + ".pcap --pass " + tmp + ".pass.pcap --drop " + tmp +
          ".drop.pcap",
      &status);
  ASSERT_EQ(status, 0);
  const auto rules = read_rules(set.rules);
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
}

INSTANTIATE_TEST_SUITE_P(Sets, EvalPcap, ::testing::ValuesIn(sets({"fw1_1k"})),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace bulkhead::test
