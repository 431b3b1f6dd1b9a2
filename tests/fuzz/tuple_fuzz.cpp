// The CLI's readers of flows as people write them, on arbitrary text: each
// line is read as a tuple line (`policy eval --tuples`) and as a flow
// string (`policy explain --flow`), or refused with a message. A flow that
// is read prints as a flow string that reads back to the same flow (when a
// flow string can write it).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tests/fuzz/lines.h"
#include "tools/cli/flow.h"

using namespace bulkhead;

namespace {

bool same(const rules::Tuple& a, const rules::Tuple& b) {
  return a.family == b.family && a.proto == b.proto && a.sport == b.sport && a.dport == b.dport && a.src == b.src &&
         a.dst == b.dst;
}

void round_trip(const rules::Tuple& t) {
  // A tuple line's ICMP "ports" are the classifier's raw key (ClassBench
  // traces have any 16-bit value there); a flow string writes a type and a
  // code of one byte each.
  const bool icmp = t.proto == 1 || t.proto == 58;
  if (icmp && (t.sport > 255 || t.dport > 255)) return;
  rules::Tuple back;
  std::string error;
  if (!cli::parse_flow(cli::format_flow(t), back, error) || !same(t, back)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bulkhead::test::for_each_line(data, size, [](std::string_view line) {
    for (auto* read : {&cli::parse_tuple_line, &cli::parse_flow}) {
      rules::Tuple t;
      std::string error;
      if (read(line, t, error)) {
        if (t.family != 4 && t.family != 6) std::abort();
        round_trip(t);
      } else if (error.empty()) {
        std::abort();
      }
    }
  });
  return 0;
}
