// The control plane's reader of ClickHouse's answers to a flow query (one
// JSONEachRow line an aggregate), and of --flow-store's URL, on arbitrary
// text: each line is read as a row or refused with a reason, and as a URL.
// A row that is read is an aggregate the CLI can show (addresses of one
// family, ports and protocol in range, names that are names); a URL that is
// read prints as one that reads back to the same target.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "controlplane/flows/clickhouse_store.h"
#include "controlplane/flows/record.h"
#include "tests/fuzz/lines.h"

using namespace bulkhead::controlplane::flows;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bulkhead::test::for_each_line(data, size, [](std::string_view line) {
    bulkhead::pb::FlowAggregate a;
    std::string why;
    if (parse_clickhouse_row(line, a, why)) {
      if ((a.src().size() != 4 && a.src().size() != 16) || a.dst().size() != a.src().size() || a.protocol() > 255 ||
          a.dst_port() > 65535 || a.src_port() > 65535 || a.dns_names_size() > static_cast<int>(kMaxAggregateNames) ||
          a.server_names_size() > static_cast<int>(kMaxAggregateNames))
        std::abort();
      // What the store would insert of it is one line.
      if (clickhouse_input_row(a).find('\n') != std::string::npos) std::abort();
    } else if (why.empty()) {
      std::abort();
    }
    ClickHouseTarget t, back;
    if (parse_clickhouse_url(std::string(line), t, why)) {
      if (!parse_clickhouse_url(t.url(), back, why) || back.host != t.host || back.port != t.port ||
          back.database != t.database)
        std::abort();
    } else if (why.empty()) {
      std::abort();
    }
  });
  return 0;
}
