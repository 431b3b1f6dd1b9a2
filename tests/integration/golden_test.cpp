// Golden cases: every folder of tests/integration/golden/ (policy.yaml,
// send.pcap, expect.pcap, case.json; see golden/make_golden.cpp) replayed
// through the real binary on net_pcap ports. The frames leaving port 1 (port
// 0 for a one-armed case) must be expect.pcap's, byte for byte and in order, and the drop counters those
// case.json names.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/common/pcap_io.h"
#include "tests/common/temp_dir.h"
#include "tests/integration/dataplane_process.h"
#include "tests/integration/golden/cases.h"

namespace bulkhead::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

fs::path golden_dir() {
  const char* src = std::getenv("BULKHEAD_SOURCE_DIR");
  return fs::path(src != nullptr ? src : ".") / "tests/integration/golden";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> case_folders() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(golden_dir(), ec))
    if (e.is_directory() && fs::exists(e.path() / "send.pcap")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, SendAndExpectPcaps) {
  const fs::path dir = golden_dir() / GetParam();
  const auto spec = nlohmann::json::parse(slurp(dir / "case.json"));
  SCOPED_TRACE(spec.value("proves", std::string{}));
  TempDir tmp;
  // Inline cases leave by port 1; one-armed ones by port 0, where they came in.
  const std::string out1 = tmp.file("out1.pcap");
  const std::string out = tmp.file(spec.value("out_port", 1) == 0 ? "out0.pcap" : "out1.pcap");
  write_pcap(tmp.file("in1.pcap"), {});
  const std::vector<std::string> eal = {
      "--no-huge", "-m", "512", "--no-pci", "-l", "0,1",
      "--vdev=net_pcap0,rx_pcap=" + (dir / "send.pcap").string() + ",tx_pcap=" + tmp.file("out0.pcap"),
      "--vdev=net_pcap1,rx_pcap=" + tmp.file("in1.pcap") + ",tx_pcap=" + out1};
  std::vector<std::string> app = {"--policy", (dir / "policy.yaml").string(), "--mbufs", "4096"};
  const auto args = spec.value("args", nlohmann::json::array());
  for (const auto& a : args) app.push_back(a.get<std::string>());
  const auto send = read_pcap(dir / "send.pcap");
  DataplaneProcess dp(build_path("dataplane/bulkhead-dataplane"), eal, app);
  ASSERT_TRUE(dp.wait_ready(20s)) << dp.log();
  EXPECT_TRUE(dp.wait_counter("/bulkhead/stats", "rx_packets", send.size(), 10s)) << dp.log();
  const std::string drops = dp.telemetry("/bulkhead/drops");
  EXPECT_EQ(dp.stop(), 0);
  const auto sent = read_pcap(out);
  const auto expect = read_pcap(dir / "expect.pcap");
  EXPECT_EQ(sent.size(), expect.size()) << dp.log();
  EXPECT_EQ(sent, expect);
  const auto expected_drops = spec.value("drops", nlohmann::json::object());
  for (const auto& [reason, count] : expected_drops.items()) {
    uint64_t v = 0;
    EXPECT_TRUE(json_u64(drops, reason, v)) << drops;
    EXPECT_EQ(v, count.get<uint64_t>()) << reason;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Golden, ::testing::ValuesIn(case_folders()),
                         [](const auto& info) { return info.param; });

TEST(GoldenFolders, AreWhatTheirGeneratorWrites) {
  // The committed folders and the cases in golden/cases.cpp must agree:
  // rerun make_golden after changing a case.
  const auto cases = golden_cases();
  ASSERT_FALSE(cases.empty());
  for (const GoldenCase& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path dir = golden_dir() / c.name;
    ASSERT_TRUE(fs::exists(dir / "send.pcap")) << "run make_golden";
    EXPECT_EQ(slurp(dir / "policy.yaml"), c.policy);
    EXPECT_EQ(read_pcap(dir / "send.pcap"), c.send);
    EXPECT_EQ(read_pcap(dir / "expect.pcap"), expected_frames(c));
    EXPECT_EQ(nlohmann::ordered_json::parse(slurp(dir / "case.json")), case_json(c));
  }
}

}  // namespace
}  // namespace bulkhead::test
