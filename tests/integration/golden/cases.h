// The golden cases as code: what make_golden writes into the case folders
// and what golden_test checks the committed folders against.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/common/packet_builder.h"

namespace bulkhead::test {

struct GoldenCase {
  std::string name;    // the folder
  std::string proves;  // one line: what the case shows
  std::string policy;
  std::vector<Frame> send;
  std::vector<size_t> expect;  // indices into send, in the order they leave
  std::vector<std::string> args = {};
  std::vector<std::pair<std::string, uint64_t>> drops = {};
  // When not empty: the frames that must leave, in order, in place of
  // `expect` (an appliance that answers changes what it sends back).
  std::vector<Frame> answers = {};
  // The port whose output is compared: 1 (inline, the pair's other port) or
  // 0 (one-armed insertion: the port the frames came in on).
  int out_port = 1;
};

// The frames a case must send, in order.
std::vector<Frame> expected_frames(const GoldenCase& c);

std::vector<GoldenCase> golden_cases();

// The policy most cases run: segments web and app (IPv4 and IPv6), allowed
// tcp/5432, udp/53 and echo requests from web to app, the rest denied.
extern const char* const kGoldenPolicy;

// case.json of a case: proves, args, drops (and out_port when it is 0).
nlohmann::ordered_json case_json(const GoldenCase& c);

}  // namespace bulkhead::test
