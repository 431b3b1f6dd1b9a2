// libprotobuf logs an ERROR line to stderr for every message it refuses to
// parse because a string field holds invalid UTF-8: each such message from
// a peer would be one log line, outside any rate limit. The daemons route
// protobuf's log through here once at start: at most ten lines a second,
// the next one saying how many were held back, prefixed with the program.
//
// Thread-safe: protobuf may log from any thread.
#pragma once

#include <string>

namespace bulkhead::common {

// Installs the limited handler (once per process; later calls do nothing).
void limit_protobuf_logs(const std::string& program);

}  // namespace bulkhead::common
