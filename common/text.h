// Text that came from outside (a peer's identity, a name in a message) made
// safe to print in a log line or a reply: printable ASCII is kept, any
// other byte becomes \xNN, a backslash \\, and the result is cut at `max`
// input bytes with "..." after it. Pure; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bulkhead::common {

std::string escaped(std::string_view s, size_t max = 64);

}  // namespace bulkhead::common
