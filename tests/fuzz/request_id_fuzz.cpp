// The request-id reader (`--request-id`, and the control plane's check of
// the id a change carries) on arbitrary text: each line is read as an id
// or refused. An id read is canonical (32 lowercase hex digits), reads back
// to itself, and a canonical line reads as itself.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/request_id.h"
#include "tests/fuzz/lines.h"

using namespace bulkhead::common;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bulkhead::test::for_each_line(data, size, [](std::string_view line) {
    const auto id = parse_request_id(line);
    if (id) {
      if (id->size() != kRequestIdHexDigits || !is_canonical_request_id(*id)) std::abort();
      const auto again = parse_request_id(*id);
      if (!again || *again != *id) std::abort();
    }
    if (is_canonical_request_id(line) && (!id || *id != line)) std::abort();
  });
  return 0;
}
