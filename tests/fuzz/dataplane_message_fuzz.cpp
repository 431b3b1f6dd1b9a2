// The control plane's decoding of what a dataplane's connection brings:
// the first byte is how many frames came (0-3), the rest the body; and the
// same bytes as a ZeroMQ ipc peer address for the CLI's author. A decoded
// message must be a version-1 Hello, Ack or Nack of exactly one frame; a
// refusal must say why.
#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "controlplane/dataplane_message.h"

using namespace bulkhead;
using namespace bulkhead::controlplane;

// protobuf logs every string of invalid UTF-8 it refuses; the daemons
// limit those lines (common/protobuf_log.h), the fuzzer drops them.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t frames = data[0] % 4;
  pb::ControlMessage m;
  std::string why;
  if (decode_dataplane_message(frames, data + 1, size - 1, m, why)) {
    if (frames != 1 || m.version() != kChannelVersion || !(m.has_hello() || m.has_ack() || m.has_nack()))
      std::abort();
  } else if (why.empty()) {
    std::abort();
  }
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (const auto uid = peer_uid(text)) {
    // Only digits stand between the third and second colons from the end.
    if (text.find(':') == std::string_view::npos) std::abort();
  }
  return 0;
}
