// The dataplane binary on real pcap files (net_pcap): golden cases sent
// through one direction and compared with what comes out of the other port;
// start-up errors; SIGHUP reloads.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "dataplane_process.h"
#include "packet_builder.h"
#include "pcap_io.h"

namespace bulkhead::test {
namespace {

using namespace std::chrono_literals;

const char* kPolicy = R"(version: 1
defaults: { action: deny, mode: enforce }
segments:
  web: [10.0.1.0/24, "fd00:1::/64"]
  app: [10.0.2.0/24, "fd00:2::/64"]
rules:
  - { id: web-to-db, from: web, to: app, proto: tcp, ports: [5432], action: allow }
  - { id: web-dns, from: web, to: app, proto: udp, ports: [53], action: allow }
  - { id: ping, from: web, to: app, proto: icmp, icmp_types: [echo-request], action: allow }
  - { id: ping6, from: web, to: app, proto: icmpv6, icmp_types: [echo-request], action: allow }
)";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bh_bin_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf " + path_).c_str()); }
  std::string file(const std::string& name, const std::string& content = {}) const {
    const std::string p = path_ + "/" + name;
    if (!content.empty()) std::ofstream(p) << content;
    return p;
  }

 private:
  std::string path_;
};

std::vector<std::string> eal_pcap(const std::string& in0, const std::string& out0, const std::string& in1,
                                  const std::string& out1) {
  return {"--no-huge", "-m", "512", "--no-pci", "-l", "0,1", "--log-level=bulkhead.dataplane:info",
          "--vdev=net_pcap0,rx_pcap=" + in0 + ",tx_pcap=" + out0,
          "--vdev=net_pcap1,rx_pcap=" + in1 + ",tx_pcap=" + out1};
}

// Sends `frames` into port 0, returns what left by port 1 after the
// dataplane handled all of them.
struct PcapRun {
  std::vector<Frame> out;
  std::string log;
  std::string drops;
};

PcapRun run_pcap(const std::string& policy, const std::vector<Frame>& frames, std::vector<std::string> extra = {}) {
  TempDir dir;
  const auto in0 = dir.file("in0.pcap"), out0 = dir.file("out0.pcap");
  const auto in1 = dir.file("in1.pcap"), out1 = dir.file("out1.pcap");
  write_pcap(in0, frames);
  write_pcap(in1, {});
  std::vector<std::string> app{"--policy", dir.file("policy.yaml", policy), "--mbufs", "4096"};
  app.insert(app.end(), extra.begin(), extra.end());
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal_pcap(in0, out0, in1, out1), app);
  PcapRun r;
  if (!dp.wait_ready(20s)) {
    ADD_FAILURE() << "dataplane did not start:\n" << dp.log();
    return r;
  }
  EXPECT_TRUE(dp.wait_counter("/bulkhead/stats", "rx_packets", frames.size(), 10s)) << dp.log();
  r.drops = dp.telemetry("/bulkhead/drops");
  EXPECT_EQ(dp.stop(), 0);
  r.log = dp.log();
  r.out = read_pcap(out1);
  return r;
}

TEST(DataplaneBinary, RefusesBrokenPolicyWithLocation) {
  TempDir dir;
  const auto policy = dir.file("bad.yaml", "version: 1\nrules:\n  - { id: a, from: nowhere, action: allow }\n");
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"),
                      {"--no-huge", "-m", "256", "--no-pci", "-l", "0,1", "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"},
                      {"--policy", policy});
  EXPECT_EQ(dp.wait_exit(20s), 1);
  const std::string log = dp.log();
  EXPECT_NE(log.find("bad.yaml:3:"), std::string::npos) << log;
  EXPECT_NE(log.find("nowhere"), std::string::npos) << log;
}

TEST(DataplaneBinary, RefusesBadOptionsAndMissingPorts) {
  TempDir dir;
  const auto policy = dir.file("p.yaml", kPolicy);
  {
    DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"),
                        {"--no-huge", "-m", "256", "--no-pci", "-l", "0,1", "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"},
                        {"--policy", policy, "--mode", "sometimes"});
    EXPECT_EQ(dp.wait_exit(20s), 1);
    EXPECT_NE(dp.log().find("--mode"), std::string::npos) << dp.log();
  }
  {
    DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"),
                        {"--no-huge", "-m", "256", "--no-pci", "-l", "0,1", "--vdev=net_null0,no-rx=1"},
                        {"--policy", policy});
    EXPECT_EQ(dp.wait_exit(20s), 1);
    EXPECT_NE(dp.log().find("port 1 does not exist"), std::string::npos) << dp.log();
  }
  {
    DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"),
                        {"--no-huge", "-m", "256", "--no-pci", "-l", "0", "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"},
                        {"--policy", policy});
    EXPECT_EQ(dp.wait_exit(20s), 1);
    EXPECT_NE(dp.log().find("no worker lcore"), std::string::npos) << dp.log();
  }
}

// Golden case: what goes in on port 0 and what must come out of port 1.
TEST(DataplaneBinary, GoldenPcapThroughNetPcapPorts) {
  const std::vector<Frame> in = {
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = kTcp, .sport = 41000, .dport = 5432}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = kTcp, .sport = 41001, .dport = 22}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = kUdp, .sport = 5353, .dport = 53, .vlans = {7}}),
      build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = kIcmpv6, .icmp_type = 128,
                    .ipv6_ext = {{0, 8}, {60, 8}}}),
      build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = kUdp, .sport = 1, .dport = 54}),
      truncated(build_packet({.src = "10.0.1.5", .dst = "10.0.2.9"}), 20),
      arp_request("10.0.1.5", "10.0.2.9"),
  };
  const std::vector<Frame> expected = {in[0], in[2], in[3], in[6]};
  const PcapRun r = run_pcap(kPolicy, in);
  EXPECT_EQ(r.out, expected) << r.log;
  uint64_t v = 0;
  EXPECT_TRUE(json_u64(r.drops, "policy_deny", v) && v == 2) << r.drops;
  EXPECT_TRUE(json_u64(r.drops, "truncated_ipv4", v) && v == 1) << r.drops;
}

TEST(DataplaneBinary, AuditModeForwardsEverythingFromTheCommandLine) {
  const std::vector<Frame> in = {
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = kTcp, .sport = 41000, .dport = 5432}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = kTcp, .sport = 41001, .dport = 22}),
  };
  const PcapRun r = run_pcap(kPolicy, in, {"--mode", "audit"});
  EXPECT_EQ(r.out, in) << r.log;
}

TEST(DataplaneBinary, SighupReloadsAndRefusesBrokenFiles) {
  TempDir dir;
  const auto policy = dir.file("p.yaml", kPolicy);
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"),
                      {"--no-huge", "-m", "256", "--no-pci", "-l", "0,1", "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"},
                      {"--policy", policy, "--mbufs", "2048"});
  ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
  uint64_t v = 0;
  ASSERT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "rules", v));
  EXPECT_EQ(v, 4u);
  dir.file("p.yaml", "version: 1\nrules: [ { id: broken } ]\n");
  dp.signal(SIGHUP);
  EXPECT_TRUE(dp.wait_counter("/bulkhead/policy", "reload_failures", 1, 10s)) << dp.log();
  EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "rules", v) && v == 4u) << "old policy kept";
  dir.file("p.yaml", "version: 1\nrules:\n  - { id: only, proto: udp, action: allow }\n");
  dp.signal(SIGHUP);
  EXPECT_TRUE(dp.wait_counter("/bulkhead/policy", "reloads", 1, 10s)) << dp.log();
  EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "rules", v) && v == 1u);
  EXPECT_NE(dp.telemetry("/bulkhead/rules").find("\"only\""), std::string::npos);
  EXPECT_EQ(dp.stop(), 0);
  const std::string log = dp.log();
  EXPECT_NE(log.find("p.yaml:2:"), std::string::npos) << log;
  EXPECT_NE(log.find("still enforcing"), std::string::npos) << log;
}

}  // namespace
}  // namespace bulkhead::test
