// The capture reader on arbitrary files (pcap and pcapng, plain or
// gzip-compressed, through libpcap and zlib; every link type
// common/pcap_reader.h decodes, seeded with each): a file is read or
// refused with its name, nothing crashes, and what it reports adds up:
// every record is counted once, as malformed, cut inside its headers, not
// tracked, or as a packet of exactly one connection, and every connection
// is a START and an END of one well-formed tuple.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "controlplane/flows/pcap_flows.h"

using namespace bulkhead;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  controlplane::flows::PcapStats stats;
  uint64_t starts = 0, ends = 0, packets = 0;
  controlplane::flows::CaptureReader reader(
      [&](std::vector<pb::FlowRecord>& batch) {
        for (const auto& r : batch) {
          const size_t len = r.src().size();
          if ((len != 4 && len != 16) || r.dst().size() != len || r.protocol() > 255 || r.src_port() > 65535 ||
              r.dst_port() > 65535)
            std::abort();
          if (r.kind() == pb::FlowRecord::START) {
            ++starts;
          } else if (r.kind() == pb::FlowRecord::END) {
            ++ends;
            packets += r.packets_out() + r.packets_in();
            if (r.time_ms() < r.start_ms()) std::abort();
          } else {
            std::abort();
          }
        }
      },
      stats);
  std::string error;
  if (!reader.read_bytes(data, size, "fuzz", error) && error.rfind("fuzz", 0) != 0) std::abort();
  reader.finish();
  if (starts != ends || ends != stats.connections) std::abort();
  if (stats.malformed + stats.headers_cut + stats.not_tracked + packets != stats.packets) std::abort();
  return 0;
}
