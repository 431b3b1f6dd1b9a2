// Writes the golden cases of tests/integration/golden/, one folder each:
//
//   CASE/policy.yaml   the policy the dataplane runs
//   CASE/send.pcap     the frames that enter port 0
//   CASE/expect.pcap   the frames that must leave port 1 (or 0), in order
//   CASE/case.json     {"proves": what the case shows,
//                       "args": extra dataplane options,
//                       "drops": {reason: count} expected in /bulkhead/drops,
//                       "out_port": 0 when the frames leave by port 0
//                                   (one-armed insertion), else absent}
//
// The folders are committed, so a person can open the pcaps in Wireshark and
// golden_test replays them through the real binary. This program is how they
// were made: change a case here, run
//
//   build/tests/integration/make_golden tests/integration/golden
//
// and commit the result (golden_test fails while the two disagree).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/golden/cases.h"
#include "tests/common/pcap_io.h"

int main(int argc, char** argv) {
  using namespace bulkhead::test;
  if (argc != 2) {
    std::cerr << "usage: make_golden DIR\n";
    return 2;
  }
  const std::filesystem::path top = argv[1];
  try {
    for (const GoldenCase& c : golden_cases()) {
      const auto dir = top / c.name;
      std::filesystem::create_directories(dir);
      std::ofstream(dir / "policy.yaml") << c.policy;
      write_pcap(dir / "send.pcap", c.send);
      write_pcap(dir / "expect.pcap", expected_frames(c));
      std::ofstream(dir / "case.json") << case_json(c).dump(2) << '\n';
    }
  } catch (const std::exception& e) {
    std::cerr << "make_golden: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
