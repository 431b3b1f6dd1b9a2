// The client's side of a capture: turns the dataplane's CaptureMessage
// datagrams (proto/bulkhead.proto) into a pcapng file, one interface per
// dataplane port and, on each packet, a comment naming its verdict, the
// rule that decided and the drop reason:
//
//   verdict=drop rule=deny-ssh reason=policy_deny
//   verdict=pass rule=web mode=audit
//
// Messages are outside input (whatever answers on the socket): each is
// parsed and checked here, and anything out of order or malformed ends the
// capture with a message. Pure but for the FILE it writes; one thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "proto/bulkhead.pb.h"
#include "tools/cli/pcapng.h"

namespace bulkhead::cli {

class CaptureFile {
 public:
  // `open` gives the file when the dataplane starts the capture (nullptr:
  // it cannot be written), so a refused request leaves no file behind.
  explicit CaptureFile(std::function<std::FILE*()> open) : open_(std::move(open)) {}

  enum class Step { more, done, failed };
  // Takes one datagram. `failed` with error() when it is not a well-formed
  // message in its place (started first, then packets, then end), the
  // dataplane refused the request, or the file cannot be written; `done`
  // after the end message.
  Step take(std::string_view datagram);

  const std::string& error() const noexcept { return error_; }
  const std::string& filter() const noexcept { return filter_; }
  uint64_t written() const noexcept { return written_; }
  // The totals of the end message.
  const pb::CaptureEnd& end() const noexcept { return end_; }

 private:
  Step fail(std::string why);
  std::function<std::FILE*()> open_;
  std::optional<PcapngWriter> writer_;
  std::map<uint32_t, uint32_t> interface_of_;  // port -> interface id
  std::string filter_;
  std::string error_;
  uint64_t written_ = 0;
  pb::CaptureEnd end_;
};

// The packet's comment, as above.
std::string capture_comment(const pb::CapturedPacket& p);

}  // namespace bulkhead::cli
