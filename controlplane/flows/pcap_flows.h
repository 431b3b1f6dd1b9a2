// Flow records from packet captures: the offline input of the learner and
// the simulator. Packets are parsed by the dataplane's own parser and
// assembled into connections the way the dataplane tracks them (TCP from
// SYN to FIN or RST, UDP and ICMP echo by idle time); each connection
// yields a START and an END record, oriented so the destination is the
// service.
//
// Hostile captures are expected: a file that is not a pcap, or not
// Ethernet, is an error naming the file; malformed or truncated packets are
// counted and skipped.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane::flows {

struct PcapStats {
  uint64_t packets = 0;
  uint64_t malformed = 0;       // the parser refused them
  uint64_t not_tracked = 0;     // non-IP, later fragments, ICMP other than echo
  uint64_t connections = 0;
  uint64_t files = 0;
};

// Receives oriented records in batches; may move them out.
using RecordSink = std::function<void(std::vector<pb::FlowRecord>&)>;

// Reads every capture in order (connections continue across files).
// Returns false with `error` for a file that cannot be read as a capture;
// the sink may have received records of earlier files by then.
bool read_pcaps(const std::vector<std::string>& files, const RecordSink& sink, PcapStats& stats,
                std::string& error);

}  // namespace bulkhead::controlplane::flows
