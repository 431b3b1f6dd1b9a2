// Flow records from packet captures: the offline input of the learner and
// the simulator, read the way a dataplane in learn mode reads the wire.
// One definition serves both (dataplane/connection.h): packets are parsed
// by the dataplane's parser, keyed into connections by its key (ICMP echo
// request and reply meet on the identifier), opened and tracked by its
// rules (a TCP SYN or an ICMP echo request is a known opener; ICMP errors
// and replies never open one), and ended by its default timeouts
// (dataplane::Timeouts) or, at the end of the captures, as they stand.
// Each connection yields a START and an END record, built by the
// dataplane's make_flow_record() and oriented so the destination is the
// service.
//
// Captures cut by a snapshot length (a frame's captured length below its
// length on the wire) are judged on the headers they hold: a frame whose
// addresses, ports and flags were captured counts as a packet of its
// connection, with its length on the wire (`truncated`); one cut inside
// those headers is skipped (`headers_cut`). Neither is malformed.
//
// Captures are read by common/pcap_reader.h: pcap or pcapng, plain or
// gzip-compressed, of Ethernet, raw IP, Linux cooked (v1, v2) or BSD
// loopback link types. A record whose link header cannot be read is a
// packet skipped: not tracked when it names a protocol that cannot be told,
// headers_cut when the snapshot length cut it, malformed otherwise. Bytes
// are counted as the dataplane counts them, by the Ethernet frame: a record
// of another link type counts as the Ethernet frame it would be.
//
// Hostile captures are expected: a file that is not a capture, of another
// link type, cut in the middle of a record or with broken gzip data is an
// error naming the file; malformed packets are counted and skipped; the connections held open are
// bounded (the oldest are ended when there are two million), and the work
// is proportional to the bytes read.
//
// Thread-safety: a CaptureReader is used by one thread; read_pcaps() is
// reentrant.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/connection.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane::flows {

struct PcapStats {
  uint64_t packets = 0;
  uint64_t malformed = 0;    // the parser refused them
  uint64_t truncated = 0;    // cut by the snapshot length; judged on the headers they hold
  uint64_t headers_cut = 0;  // cut before the end of the headers that name their connection: skipped
  uint64_t not_tracked = 0;  // non-IP, later fragments, ICMP errors and ICMP other than an echo's
  uint64_t connections = 0;
  uint64_t files = 0;
};

// Receives oriented records in batches; may move them out.
using RecordSink = std::function<void(std::vector<pb::FlowRecord>&)>;

class CaptureReader {
 public:
  CaptureReader(RecordSink sink, PcapStats& stats, const dataplane::Timeouts& timeouts = {});
  ~CaptureReader();
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;

  // Reads one capture (as above); connections continue from the
  // captures read before. False with `error` naming the file when it cannot
  // be read as a capture; the sink may have received records by then.
  bool read_file(const std::string& path, std::string& error);
  // The same from a capture in memory, called `name` in errors.
  bool read_bytes(const void* data, size_t size, const std::string& name, std::string& error);
  // The captures are over: ends every open connection and sends the last
  // records.
  void finish();

 private:
  class Assembler;
  std::unique_ptr<Assembler> assembler_;
};

// Reads every capture in order (connections continue across files), then
// finishes. Returns false with `error` for a file that cannot be read as a
// capture; the sink may have received records of earlier files by then.
bool read_pcaps(const std::vector<std::string>& files, const RecordSink& sink, PcapStats& stats,
                std::string& error);

}  // namespace bulkhead::controlplane::flows
