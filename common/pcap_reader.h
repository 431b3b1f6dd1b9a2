// Reading packet captures: the one reader of capture files in the project
// (the flows library's offline learning and simulation, `bulkhead policy
// eval --pcap`, the tests' golden frames).
//
// A capture is pcap or pcapng (read by libpcap), plain or compressed with
// gzip: told by the gzip magic, not by the file's name, and decompressed
// as it is read, so nothing is ever held whole in memory and the work is
// proportional to the bytes decompressed. Pipes work too (no seeking). A
// pcapng file whose interfaces differ in snapshot length (as Wireshark
// writes one interface per device) is read too; its interfaces must share
// one link type.
//
// Each record comes with its time, its bytes as captured (for writing it
// out again) and its layer-3 packet: the network protocol as an Ethernet
// type and the bytes from the network header on. The link layers read are
// Ethernet (with up to two VLAN tags, 802.1Q and 802.1ad), raw IP
// (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6), Linux cooked v1 and v2
// (SLL, SLL2; VLAN tags after them as libpcap reinserts them) and BSD
// loopback (NULL, in either byte order, and LOOP). A file of another link
// type is refused when it is opened, with a message naming the type. A
// record whose link header is cut short or names a protocol that cannot be
// told is counted and marked (`link`): who wants packets skips it, and a
// bad record is never fatal. A file that is not a capture, a record cut in
// the middle, or broken gzip data is an error naming the file.
//
// Ownership: a PcapReader owns its file (or reads the caller's memory,
// which must outlive it); a record's bytes are valid until the next call of
// next(). Thread-safety: a reader is used by one thread; read_link() is
// pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/ethernet.h"

struct pcap;
struct pcap_pkthdr;

namespace bulkhead::common {

// What could be told of a record's link header.
enum class LinkRead : uint8_t {
  ok,             // the layer-3 fields are valid
  short_header,   // the captured bytes end inside the link header
  unknown,        // it names no protocol that can be told (a BSD loopback
                  // family other than IPv4's and IPv6's, three VLAN tags)
};

// A record's layer 3, as read_link() finds it.
struct Layer3 {
  LinkRead link = LinkRead::ok;
  uint16_t ethertype = 0;  // the network protocol (0x0800, 0x86dd, 0x0806, ...)
  uint8_t vlans = 0;       // VLAN tags read before it
  uint32_t offset = 0;     // where the network header starts in the record
};

// The link types read (pcap_datalink() values).
bool link_type_readable(int link_type) noexcept;
// The link layer of one record of `caplen` captured bytes in a capture of
// `link_type` (one link_type_readable() accepts); reads nothing past
// `caplen`.
Layer3 read_link(int link_type, const uint8_t* data, uint32_t caplen) noexcept;

struct CaptureRecord {
  const pcap_pkthdr* header = nullptr;  // libpcap's, for pcap_dump()
  const uint8_t* data = nullptr;        // as captured, link header first
  int64_t time_us = 0;                  // microseconds since the epoch
  uint32_t caplen = 0;                  // bytes captured
  uint32_t wire_len = 0;                // bytes on the wire (never below caplen)
  Layer3 l3;

  // The layer-3 packet (when l3.link is ok): its captured bytes and its
  // length on the wire.
  const uint8_t* packet() const noexcept { return data + l3.offset; }
  uint32_t packet_caplen() const noexcept { return caplen - l3.offset; }
  uint32_t packet_wire_len() const noexcept { return wire_len - l3.offset; }
};

struct CaptureStats {
  uint64_t records = 0;
  uint64_t short_header = 0;  // records marked LinkRead::short_header
  uint64_t unknown = 0;       // records marked LinkRead::unknown
};

class PcapReader {
 public:
  PcapReader();
  ~PcapReader();
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  // Opens a capture file. False with `error` naming it when it cannot be
  // read, is not a capture or is of a link type not read.
  bool open(const std::string& path, std::string& error);
  // The same of a capture in memory, called `name` in errors.
  bool open_memory(const void* data, size_t size, const std::string& name, std::string& error);

  enum class Next { record, end, error };
  // The next record; `error` (error() says why, naming the file) when the
  // file is cut inside a record or its gzip data is broken.
  Next next(CaptureRecord& record);

  const std::string& error() const noexcept { return error_; }
  const CaptureStats& stats() const noexcept { return stats_; }
  int link_type() const noexcept { return link_type_; }
  // libpcap's handle, to write records out with pcap_dump_fopen().
  pcap* handle() const noexcept;

 private:
  struct Source;
  bool start(const std::string& name, std::string& error);
  std::unique_ptr<Source> source_;
  std::string name_;
  std::string error_;
  CaptureStats stats_;
  int link_type_ = -1;
};

// Every record of a capture as captured, link header and all (tests that
// compare frames byte for byte). False with `error` as PcapReader::open()
// and next() say.
bool read_frames(const std::string& path, std::vector<std::vector<uint8_t>>& frames, std::string& error);

}  // namespace bulkhead::common
