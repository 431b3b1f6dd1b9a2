// The client's reading of a capture (tools/cli/capture_file.h) on arbitrary
// datagrams (each behind a 2-byte length): each is taken or refused with a
// message, nothing crashes, nothing follows the end or a refusal, and the
// file holds a pcapng section header, then one block per announced port and
// written packet, every block's two lengths equal.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "tools/cli/capture_file.h"

using namespace bulkhead::cli;

// protobuf logs every string of invalid UTF-8 it refuses; the CLI limits
// those lines (common/protobuf_log.h), the fuzzer drops them.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* out = open_memstream(&buf, &len);
  if (out == nullptr) return 0;
  {
    CaptureFile file([out] { return out; });
    size_t off = 0;
    CaptureFile::Step step = CaptureFile::Step::more;
    while (step == CaptureFile::Step::more && off + 2 <= size) {
      const size_t n = std::min<size_t>(size - off - 2, size_t{data[off]} << 8 | data[off + 1]);
      step = file.take(std::string_view(reinterpret_cast<const char*>(data + off + 2), n));
      off += 2 + n;
      if (step == CaptureFile::Step::failed && file.error().empty()) std::abort();
    }
  }
  std::fclose(out);
  // Every block: type, length, ..., the same length; lengths a multiple of 4.
  size_t o = 0;
  while (o + 12 <= len) {
    uint32_t total, trailer;
    std::memcpy(&total, buf + o + 4, 4);
    if (total < 12 || total % 4 != 0 || o + total > len) std::abort();
    std::memcpy(&trailer, buf + o + total - 4, 4);
    if (trailer != total) std::abort();
    o += total;
  }
  if (o != len) std::abort();
  std::free(buf);
  return 0;
}
