#include "controlplane/flows/pcap_flows.h"

#include <pcap/pcap.h>
#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "common/pcap_reader.h"
#include "common/protocols.h"
#include "controlplane/flows/record.h"
#include "dataplane/flow_record.h"
#include "dataplane/packet.h"

namespace bulkhead::controlplane::flows {

using dataplane::ConnEntry;
using dataplane::ConnKey;
using dataplane::FlowTuple;
using dataplane::PacketKind;
using dataplane::PacketMeta;

namespace {

constexpr size_t kBatch = 65536;
constexpr size_t kMaxOpen = 2'000'000;
constexpr int64_t kForcedIdleMs = 30'000;
// A connection's records carry its times through the dataplane's 32-bit
// clock (dataplane/flow_record.h): one that lives longer than 24 days is
// ended and begun again, so its times stay exact.
constexpr int64_t kMaxLifeMs = int64_t{1} << 31;
// The longest packet a cut one is read as: the largest IP packet (an IPv6
// one, jumbograms aside).
constexpr uint32_t kMaxPacket = 40 + 65535;

// The connection table's hash, keyed with a secret of this process (a
// capture cannot aim its keys at one bucket): libsodium's SipHash.
struct KeyHash {
  unsigned char secret[crypto_shorthash_KEYBYTES];
  KeyHash() { randombytes_buf(secret, sizeof(secret)); }
  size_t operator()(const ConnKey& k) const noexcept {
    uint64_t h;
    crypto_shorthash(reinterpret_cast<unsigned char*>(&h), reinterpret_cast<const unsigned char*>(&k), sizeof(k),
                     secret);
    return static_cast<size_t>(h);
  }
};
struct KeyEqual {
  bool operator()(const ConnKey& a, const ConnKey& b) const noexcept { return std::memcmp(&a, &b, sizeof(a)) == 0; }
};

// The bytes of a packet's L4 header its connection is named by: ports
// (TCP also its flags; an ICMP echo its identifier, read by
// connection_tuple() only from a whole 8-byte header).
uint32_t l4_needed(const FlowTuple& t) {
  switch (t.proto) {
    case common::kProtoTcp: return 14;
    case common::kProtoUdp:
    case common::kProtoSctp: return 4;
    case common::kProtoIcmp:
    case common::kProtoIcmpv6: return dataplane::is_echo(t) ? 8 : 2;
    default: return 0;
  }
}

}  // namespace

class CaptureReader::Assembler {
 public:
  Assembler(RecordSink sink, PcapStats& stats, const dataplane::Timeouts& timeouts)
      : sink_(std::move(sink)), stats_(stats), timeouts_(timeouts), scratch_(kMaxPacket, 0) {
    ctx_.mode = dataplane::Mode::learn;
  }

  // One record of a capture of `link_type`.
  void record(const common::CaptureRecord& r, int link_type) {
    ++stats_.packets;
    const int64_t ts_ms = r.time_us / 1000;
    now_ms_ = std::max(now_ms_, ts_ms);
    if (r.l3.link != common::LinkRead::ok) {
      // Its link header could not be read: of a protocol that cannot be
      // told (not IP), cut by the snapshot length, or too short.
      ++(r.l3.link == common::LinkRead::unknown ? stats_.not_tracked
         : r.caplen < r.wire_len                ? stats_.headers_cut
                                                : stats_.malformed);
      return;
    }
    // Bytes as the dataplane counts them, its Ethernet frame's: what a
    // record of another link type would be on Ethernet.
    const uint32_t bytes = link_type == DLT_EN10MB
                               ? r.wire_len
                               : r.packet_wire_len() + common::kEthHeader + common::kVlanTag * r.l3.vlans;
    packet(r.packet(), r.packet_caplen(), r.packet_wire_len(), r.l3.ethertype, bytes, ts_ms);
  }

  // One IP packet of `ethertype`: `caplen` bytes captured of `wire_len` on
  // the wire.
  void packet(const uint8_t* data, uint32_t caplen, uint32_t wire_len, uint16_t ethertype, uint32_t bytes,
              int64_t ts_ms) {
    PacketMeta m;
    const uint8_t* frame = data;
    uint32_t len = caplen;
    dataplane::parse_ip_packet(data, caplen, ethertype, m);
    if (caplen < wire_len) {
      if (!judge_cut(data, caplen, wire_len, ethertype, m, frame, len)) return;
    } else if (m.kind == PacketKind::drop) {
      ++stats_.malformed;
      return;
    }
    if (m.kind != PacketKind::ip || (m.is_fragment && !m.first_fragment)) {
      ++stats_.not_tracked;
      return;
    }
    track(m, frame, len, bytes, ts_ms);
    // Zeros again past the next cut.
    if (frame == scratch_.data()) std::memset(scratch_.data(), 0, std::min(caplen, kMaxPacket));
  }

  bool read(common::PcapReader& reader, std::string& error) {
    ++stats_.files;
    common::CaptureRecord r;
    common::PcapReader::Next n;
    while ((n = reader.next(r)) == common::PcapReader::Next::record) record(r, reader.link_type());
    if (n == common::PcapReader::Next::error) {
      // A capture cut short mid-record: refused whole, so nothing is
      // learned from half a file.
      error = reader.error();
      return false;
    }
    return true;
  }

  void finish() {
    for (auto& [k, c] : open_) {
      const int why = dataplane::end_reason(c.e);
      // Still open when the captures end: the dataplane would end it later.
      const bool over = why != pb::FlowRecord::TIMEOUT || idle_out(c, now_ms_);
      end(k, c, over ? why : pb::FlowRecord::END_UNSPECIFIED);
    }
    open_.clear();
    flush();
  }

 private:
  struct Conn {
    ConnEntry e{};  // the dataplane's state of it; its times are the capture's, low 32 bits
    int64_t start_ms = 0, last_ms = 0;
  };

  // A packet cut by the snapshot length. Its bytes are read as the packet
  // on the wire with zeros where the capture stopped; it is taken when
  // every header byte that names its connection was captured. A refusal
  // that the captured bytes alone give too is the packet's own (malformed);
  // any other is the cut's (headers_cut).
  bool judge_cut(const uint8_t* data, uint32_t caplen, uint32_t wire_len, uint16_t ethertype, PacketMeta& m,
                 const uint8_t*& frame, uint32_t& len) {
    const PacketMeta captured = m;
    if (captured.kind != PacketKind::ip) {
      std::memcpy(scratch_.data(), data, std::min(caplen, kMaxPacket));
      len = std::min(wire_len, kMaxPacket);
      dataplane::parse_ip_packet(scratch_.data(), len, ethertype, m);
      frame = scratch_.data();
    }
    auto skip = [&](uint64_t& counter) {
      ++counter;
      if (frame == scratch_.data()) std::memset(scratch_.data(), 0, std::min(caplen, kMaxPacket));
      return false;
    };
    if (m.kind == PacketKind::drop) {
      const bool own = captured.kind == PacketKind::drop && captured.drop_reason == m.drop_reason;
      return skip(own ? stats_.malformed : stats_.headers_cut);
    }
    if (m.kind == PacketKind::ip) {
      uint32_t needed;
      if (m.is_fragment && !m.first_fragment) needed = m.l3_offset + (m.tuple.family == 4 ? 20u : 40u);
      else if (m.l4_offset == 0) needed = m.l3_offset + (m.tuple.family == 4 ? 20u : 40u);
      else needed = m.l4_offset + l4_needed(m.tuple);
      if (needed > caplen) return skip(stats_.headers_cut);
      // An ICMP error's quote may be cut anywhere, and it opens nothing:
      // it is not tracked.
      if (m.has_inner) {
        ++stats_.truncated;
        return skip(stats_.not_tracked);
      }
    }
    ++stats_.truncated;
    return true;
  }

  // Idle past the dataplane's timeout for its state (ages in 64 bits: a
  // capture may hold gaps of weeks).
  bool idle_out(const Conn& c, int64_t now) const {
    return now - c.last_ms > static_cast<int64_t>(dataplane::conn_timeout_ms(c.e, timeouts_));
  }

  void track(const PacketMeta& m, const uint8_t* frame, uint32_t len, uint32_t bytes, int64_t ts) {
    ConnKey key;
    const uint8_t dir = dataplane::make_packet_key(m, frame, len, key);
    auto it = open_.find(key);
    if (it != open_.end()) {
      // A capture's clock may step back (frames of several queues): a
      // connection's time never does.
      ts = std::max(ts, it->second.last_ms);
      if (idle_out(it->second, ts)) {
        end(it->first, it->second, dataplane::end_reason(it->second.e));
        open_.erase(it);
        it = open_.end();
      } else if (ts - it->second.start_ms >= kMaxLifeMs) {
        end(it->first, it->second, pb::FlowRecord::END_UNSPECIFIED);
        open_.erase(it);
        it = open_.end();
      }
    }
    if (it == open_.end()) {
      if (dataplane::never_opens(m)) {
        ++stats_.not_tracked;
        return;
      }
      if (open_.size() >= kMaxOpen) make_room(ts);
      Conn c;
      c.start_ms = ts;
      c.e.created_ms = c.e.last_seen_ms[0] = c.e.last_seen_ms[1] = static_cast<uint32_t>(ts);
      c.e.rule = dataplane::kNoRule;
      c.e.orig_dir = dir;
      c.e.proto = key.proto;
      c.e.icmp_echo = dataplane::is_echo(m.tuple);
      c.e.opener_known = dataplane::opens_connection(m);
      c.e.verdict = static_cast<uint8_t>(dataplane::ConnVerdict::allowed);
      it = open_.emplace(key, c).first;
      ++stats_.connections;
      // This one's START goes out when it ends, beside its END (the batch
      // that orients them holds both).
    }
    Conn& c = it->second;
    c.last_ms = ts;
    c.e.last_seen_ms[dir] = static_cast<uint32_t>(ts);
    c.e.packets[dir] += 1;
    c.e.bytes[dir] += bytes;
    if (m.tuple.proto == common::kProtoTcp) dataplane::tcp_track(c.e, dir, m.tcp_flags);
  }

  // Two million connections open: the idle ones end first, then all.
  void make_room(int64_t now) {
    std::erase_if(open_, [&](auto& kv) {
      if (now - kv.second.last_ms <= kForcedIdleMs) return false;
      end(kv.first, kv.second, pb::FlowRecord::END_UNSPECIFIED);
      return true;
    });
    if (open_.size() < kMaxOpen) return;
    for (auto& [k, c] : open_) end(k, c, pb::FlowRecord::END_UNSPECIFIED);
    open_.clear();
  }

  // The connection's START and END, as the dataplane's exporter makes
  // them. The worker clock is the capture's time, its low 32 bits, read at
  // the newest packet: the times come back exact, as on the wire, for a
  // connection shorter than 49 days.
  void end(const ConnKey& key, const Conn& c, int why) {
    const auto clock_now = static_cast<uint32_t>(c.last_ms);
    for (uint8_t kind : {pb::FlowRecord::START, pb::FlowRecord::END}) {
      const dataplane::FlowEvent ev =
          dataplane::connection_event(key, c.e, kind, kind == pb::FlowRecord::END ? why : 0, c.e.created_ms);
      dataplane::make_flow_record(ev, nullptr, &ctx_, clock_now, c.last_ms, batch_.emplace_back());
    }
    if (batch_.size() >= kBatch) flush();
  }

  void flush() {
    if (batch_.empty()) return;
    orient(batch_);
    sink_(batch_);
    batch_.clear();
  }

  RecordSink sink_;
  PcapStats& stats_;
  dataplane::Timeouts timeouts_;
  dataplane::FlowContext ctx_;
  std::vector<uint8_t> scratch_;  // zeros but while a cut frame is read
  std::unordered_map<ConnKey, Conn, KeyHash, KeyEqual> open_;
  std::vector<pb::FlowRecord> batch_;
  int64_t now_ms_ = 0;
};

CaptureReader::CaptureReader(RecordSink sink, PcapStats& stats, const dataplane::Timeouts& timeouts)
    : assembler_(std::make_unique<Assembler>(std::move(sink), stats, timeouts)) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium cannot start");
}

CaptureReader::~CaptureReader() = default;

bool CaptureReader::read_file(const std::string& path, std::string& error) {
  common::PcapReader reader;
  return reader.open(path, error) && assembler_->read(reader, error);
}

bool CaptureReader::read_bytes(const void* data, size_t size, const std::string& name, std::string& error) {
  common::PcapReader reader;
  return reader.open_memory(data, size, name, error) && assembler_->read(reader, error);
}

void CaptureReader::finish() { assembler_->finish(); }

bool read_pcaps(const std::vector<std::string>& files, const RecordSink& sink, PcapStats& stats,
                std::string& error) {
  CaptureReader reader(sink, stats);
  for (const auto& file : files)
    if (!reader.read_file(file, error)) return false;
  reader.finish();
  return true;
}

}  // namespace bulkhead::controlplane::flows
