// The dataplane's lists of control planes (--controlplane, --flow-export,
// --controlplane-key, also from a config file) and the leader term it reads
// back from its state directory, on arbitrary text: each line is read as a
// list of endpoints, as a list of files, and as a term. A list that is read
// joins back to the line; a term that is read prints as text that reads
// back to it.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/controlplanes.h"
#include "tests/fuzz/lines.h"

using namespace bulkhead::dataplane;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bulkhead::test::for_each_line(data, size, [](std::string_view line) {
    for (const bool endpoints : {true, false}) {
      std::vector<std::string> items;
      std::string error;
      if (!parse_list(line, "--controlplane", endpoints, items, error)) {
        if (error.empty() || error.find('\n') != std::string::npos) std::abort();
        continue;
      }
      if (items.empty() || items.size() > kMaxControlPlanes) std::abort();
      std::string joined;
      for (const auto& item : items) {
        if (item.empty()) std::abort();
        joined += (joined.empty() ? "" : ",") + item;
      }
      if (joined != line) std::abort();
    }
    uint64_t term = 0, back = 0;
    if (parse_leader_term(line, term) && (!parse_leader_term(format_leader_term(term), back) || back != term))
      std::abort();
  });
  return 0;
}
