// The dataplane binary on real pcap files (net_pcap): start-up errors,
// SIGHUP reloads, kept rule sets, telemetry. The golden send/expect cases are
// in golden_test.cpp.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/protocols.h"
#include "tests/common/packet_builder.h"
#include "tests/common/pcap_io.h"
#include "tests/common/temp_dir.h"
#include "tests/integration/dataplane_process.h"
#include "tests/integration/golden/cases.h"

namespace bulkhead::test {
namespace {

using namespace std::chrono_literals;

// Pcap ports for frames sent one way: port 0 reads `frames`, port 1 reads
// nothing, and each writes what it sends to a file of its own.
struct OneWayPcaps {
  std::string in0, out0, in1, out1;
  OneWayPcaps(const TempDir& dir, const std::vector<Frame>& frames, const std::string& out1_name = "out1.pcap")
      : in0(dir.file("in0.pcap")), out0(dir.file("out0.pcap")), in1(dir.file("in1.pcap")), out1(dir.file(out1_name)) {
    write_pcap(in0, frames);
    write_pcap(in1, {});
  }
  std::vector<std::string> eal() const {
    return {"--no-huge", "-m", "512", "--no-pci", "-l", "0,1", "--log-level=bulkhead.dataplane:info",
            "--vdev=net_pcap0,rx_pcap=" + in0 + ",tx_pcap=" + out0,
            "--vdev=net_pcap1,rx_pcap=" + in1 + ",tx_pcap=" + out1};
  }
};

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
  const auto policy = dir.file("p.yaml", kGoldenPolicy);
  {
    DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"),
                        {"--no-huge", "-m", "256", "--no-pci", "-l", "0,1", "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"},
                        {"--policy", policy, "--mode", "sometimes"});
    EXPECT_EQ(dp.wait_exit(20s), 2) << "a usage error";
    EXPECT_NE(dp.log().find("--mode"), std::string::npos) << dp.log();
  }
  {
    DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"),
                        {"--no-huge", "-m", "256", "--no-pci", "-l", "0,1", "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"},
                        {"--policy", policy, "--idle-sleep", "200000"});
    EXPECT_EQ(dp.wait_exit(20s), 2) << "a usage error";
    EXPECT_NE(dp.log().find("--idle-sleep"), std::string::npos) << dp.log();
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

TEST(DataplaneBinary, SighupReloadsAndRefusesBrokenFiles) {
  TempDir dir;
  const auto policy = dir.file("p.yaml", kGoldenPolicy);
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
  const auto rules = nlohmann::json::parse(dp.telemetry("/bulkhead/rules"));
  EXPECT_EQ(rules.at("/bulkhead/rules").at("ids"), nlohmann::json::array({"only", "-"})) << rules.dump();
  const auto ports = nlohmann::json::parse(dp.telemetry("/bulkhead/ports"));
  EXPECT_EQ(ports.at("/bulkhead/ports").at("rx_packets"), nlohmann::json::array({0, 0})) << ports.dump();
  EXPECT_EQ(dp.stop(), 0);
  const std::string log = dp.log();
  EXPECT_NE(log.find("p.yaml:2:"), std::string::npos) << log;
  EXPECT_NE(log.find("still enforcing"), std::string::npos) << log;
}

TEST(DataplaneBinary, BootsWithTheKeptRuleSetWhenThePolicyIsBroken) {
  TempDir dir;
  const auto state = dir.file("state");
  std::filesystem::create_directories(state);
  const auto policy = dir.file("p.yaml", kGoldenPolicy);
  const std::vector<std::string> eal = {"--no-huge", "-m", "256", "--no-pci", "-l", "0,1",
                                        "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"};
  {
    DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal,
                        {"--policy", policy, "--state-dir", state, "--mbufs", "2048"});
    ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
    EXPECT_EQ(dp.stop(), 0);
  }
  ASSERT_TRUE(std::ifstream(state + "/ruleset.pb").good()) << "the last good rule set is kept";
  dir.file("p.yaml", "version: 1\nrules: [ { id: broken } ]\n");
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal,
                      {"--policy", policy, "--state-dir", state, "--mbufs", "2048"});
  ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
  uint64_t v = 0;
  EXPECT_TRUE(json_u64(dp.telemetry("/bulkhead/policy"), "rules", v) && v == 4u) << dp.telemetry("/bulkhead/policy");
  EXPECT_EQ(dp.stop(), 0);
  EXPECT_NE(dp.log().find("enforcing the rule set kept in"), std::string::npos) << dp.log();
}

TEST(DataplaneBinary, NoRuleSetFailsClosedOrOpenByOption) {
  TempDir dir;
  const auto state = dir.file("state");
  std::filesystem::create_directories(state);
  std::ofstream(state + "/ruleset.pb") << "this is not a rule set";
  const std::vector<Frame> in = {
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000, .dport = 5432}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = 1, .dport = 2})};
  for (const bool open : {false, true}) {
    const OneWayPcaps pcaps(dir, in, open ? "out-open.pcap" : "out-closed.pcap");
    std::vector<std::string> app = {"--state-dir", state, "--mbufs", "2048"};
    if (open) app.insert(app.end(), {"--no-policy", "fail-open"});
    DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), pcaps.eal(), app);
    ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
    EXPECT_TRUE(dp.wait_counter("/bulkhead/stats", "rx_packets", in.size(), 10s));
    const std::string drops = dp.telemetry("/bulkhead/drops");
    EXPECT_EQ(dp.stop(), 0);
    EXPECT_NE(dp.log().find("damaged"), std::string::npos) << dp.log();
    uint64_t v = 0;
    EXPECT_TRUE(json_u64(drops, "no_policy", v));
    EXPECT_EQ(v, open ? 0u : in.size());
    EXPECT_EQ(read_pcap(pcaps.out1).size(), open ? in.size() : 0u);
  }
}

TEST(DataplaneBinary, AMillionConnectionTableFitsBesideASmallEalHeap) {
  // -m 512 cannot hold a million-connection table (about 113 MB): without
  // hugepages the table takes memory of its own, and says how much.
  TempDir dir;
  std::vector<Frame> in;
  for (uint16_t port = 1000; port < 1200; ++port)
    in.push_back(build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = port, .dport = 53}));
  const OneWayPcaps pcaps(dir, in);
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), pcaps.eal(),
                      {"--policy", dir.file("policy.yaml", kGoldenPolicy), "--mbufs", "2048", "--conn-max", "1048576"});
  ASSERT_TRUE(dp.wait_ready(30s)) << dp.log();
  EXPECT_TRUE(dp.wait_counter("/bulkhead/stats", "rx_packets", in.size(), 10s));
  const std::string ct = dp.telemetry("/bulkhead/conntrack");
  EXPECT_EQ(dp.stop(), 0);
  uint64_t connections = 0, slots = 0, table = 0, outside = 0;
  ASSERT_TRUE(json_u64(ct, "connections", connections) && json_u64(ct, "slots", slots) &&
              json_u64(ct, "table_bytes", table) && json_u64(ct, "outside_eal_heap_bytes", outside))
      << ct;
  EXPECT_EQ(connections, in.size());
  EXPECT_GE(slots, 1048576u);
  EXPECT_LE(slots, 1048576u + 1048576u / 8 + 32) << "an eighth more slots than connections";
  EXPECT_GE(outside, slots * 96) << "the slots are outside the EAL heap";
  EXPECT_LE(table, 128u * 1048576u) << "at most 128 bytes per connection";
  EXPECT_EQ(read_pcap(pcaps.out1).size(), in.size());
}

// What DPDK's own telemetry client prints for `command` against a running
// process (it reads commands from standard input).
std::string dpdk_telemetry(const std::string& prefix, const std::string& command) {
  const std::string cmd = "echo '" + command + "' | dpdk-telemetry.py -f '" + prefix + "' 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    pclose(p);
  }
  return out;
}

TEST(DataplaneBinary, DpdkTelemetryClientReadsPortCounters) {
  // Anyone can check the ports from outside while the dataplane runs, with
  // the tool DPDK ships, not only with the project's own client.
  if (system("command -v dpdk-telemetry.py >/dev/null") != 0) GTEST_SKIP() << "dpdk-telemetry.py not installed";
  TempDir dir;
  std::vector<Frame> in;
  for (uint16_t port = 1000; port < 1100; ++port)  // allowed
    in.push_back(build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = port, .dport = 53}));
  for (uint16_t port = 1000; port < 1030; ++port)  // denied
    in.push_back(build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = port, .dport = 54}));
  const OneWayPcaps pcaps(dir, in);
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), pcaps.eal(),
                      {"--policy", dir.file("policy.yaml", kGoldenPolicy), "--mbufs", "2048"});
  ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
  ASSERT_TRUE(dp.wait_counter("/bulkhead/stats", "tx_packets", 100, 10s)) << dp.log();
  const std::string rx = dpdk_telemetry(dp.prefix(), "/ethdev/stats,0");
  const std::string tx = dpdk_telemetry(dp.prefix(), "/ethdev/stats,1");
  EXPECT_EQ(dp.stop(), 0);
  uint64_t ipackets = 0, opackets = 0;
  ASSERT_TRUE(json_u64(rx, "ipackets", ipackets)) << rx;
  ASSERT_TRUE(json_u64(tx, "opackets", opackets)) << tx;
  EXPECT_EQ(ipackets, in.size()) << "every frame received on port 0";
  EXPECT_EQ(opackets, 100u) << "the allowed frames sent on port 1, the denied ones not";
}

}  // namespace
}  // namespace bulkhead::test
