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
};

std::vector<GoldenCase> golden_cases();

// case.json of a case: proves, args, drops.
nlohmann::ordered_json case_json(const GoldenCase& c);

}  // namespace bulkhead::test
