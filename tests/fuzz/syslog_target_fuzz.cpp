// The control plane's reader of a syslog collector (`--flow-syslog`), on
// arbitrary text: each line is read as a target, or refused with a reason.
// A target that is read prints as text that reads back to the same target.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "controlplane/flows/syslog_sink.h"
#include "tests/fuzz/lines.h"

using namespace bulkhead::controlplane::flows;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bulkhead::test::for_each_line(data, size, [](std::string_view line) {
    SyslogTarget t, back;
    std::string why;
    if (parse_syslog_target(line, t, why)) {
      if (t.host.empty() || t.port == 0) std::abort();
      if (!parse_syslog_target(to_string(t), back, why) || back.host != t.host || back.port != t.port ||
          back.transport != t.transport)
        std::abort();
    } else if (why.empty()) {
      std::abort();
    }
    uint8_t facility = 0;
    if (parse_syslog_facility(line, facility) && facility > 23) std::abort();
  });
  return 0;
}
