// `bulkhead names` on arbitrary capture files: a file is read or refused,
// nothing crashes, and whatever is found is well-formed (names within their
// limits, addresses of one family, every answer accounted for).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/pcap_reader.h"
#include "tools/cli/capture_names.h"

using namespace bulkhead;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint64_t answers = 0;
  cli::NameFinder finder(
      [&](const cli::DnsSeen& d) {
        ++answers;
        if (d.qname.size() > dataplane::names::kMaxNameText || d.name.size() > dataplane::names::kMaxNameText)
          std::abort();
        if (d.address && d.address->family != 4 && d.address->family != 6) std::abort();
        if (d.address && !d.ignored.empty() && d.ignored != "unsolicited") std::abort();
      },
      [&](const cli::SniSeen& s) {
        if (s.sni && (s.sni->empty() || s.sni->size() > dataplane::names::kMaxHostName)) std::abort();
        if (s.transport != "tcp" && s.transport != "quic") std::abort();
      });
  common::PcapReader reader;
  std::string error;
  if (!reader.open_memory(data, size, "fuzz", error)) return 0;
  common::CaptureRecord record;
  while (reader.next(record) == common::PcapReader::Next::record) finder.feed(record);
  if (answers > 0 && finder.stats().dns_messages == 0) std::abort();
  return 0;
}
