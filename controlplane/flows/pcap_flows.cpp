#include "controlplane/flows/pcap_flows.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "common/protocols.h"
#include "controlplane/flows/record.h"
#include "dataplane/packet.h"

namespace bulkhead::controlplane::flows {
namespace {

using dataplane::FlowTuple;
using dataplane::PacketKind;
using dataplane::PacketMeta;

constexpr size_t kBatch = 65536;
constexpr size_t kMaxOpen = 2'000'000;
constexpr int64_t kUdpIdleMs = 120'000;
constexpr int64_t kTcpIdleMs = 3'600'000;
constexpr int64_t kTcpClosingIdleMs = 10'000;

struct ConnKey {
  uint8_t a[16], b[16];
  uint16_t pa, pb;
  uint8_t proto, family;
  bool operator==(const ConnKey& o) const noexcept { return std::memcmp(this, &o, sizeof(ConnKey)) == 0; }
};

struct ConnKeyHash {
  size_t operator()(const ConnKey& k) const noexcept {
    uint64_t h = 1469598103934665603ull;
    const auto* p = reinterpret_cast<const uint8_t*>(&k);
    for (size_t i = 0; i < sizeof(ConnKey); ++i) h = (h ^ p[i]) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

struct Conn {
  FlowTuple opener;          // as the first packet (or the SYN) had it
  bool opener_known = false;
  int64_t start_ms = 0, last_ms = 0;
  uint64_t packets[2] = {}, bytes[2] = {};  // [from opener, to opener]
  uint8_t flags[2] = {};
  bool fin[2] = {};
  bool rst = false;
};

bool same_endpoint(const uint8_t* addr, uint16_t port, const FlowTuple& t) {
  return std::memcmp(addr, t.src, 16) == 0 && port == t.sport;
}

class Assembler {
 public:
  Assembler(const RecordSink& sink, PcapStats& stats) : sink_(sink), stats_(stats) {}

  void packet(const uint8_t* data, uint32_t len, int64_t ts_ms) {
    ++stats_.packets;
    now_ms_ = std::max(now_ms_, ts_ms);
    PacketMeta m;
    dataplane::parse_packet(data, len, m);
    if (m.kind == PacketKind::drop) {
      ++stats_.malformed;
      return;
    }
    if (m.kind != PacketKind::ip || m.has_inner || (m.is_fragment && !m.first_fragment)) {
      ++stats_.not_tracked;
      return;
    }
    FlowTuple t = m.tuple;
    const bool icmp = t.proto == common::kProtoIcmp || t.proto == common::kProtoIcmpv6;
    bool echo_request = false;
    if (icmp) {
      const uint8_t type = static_cast<uint8_t>(t.sport);
      echo_request = type == 8 || type == 128;
      const bool echo = echo_request || type == 0 || type == 129;
      if (!echo || m.l4_offset + 8u > len) {
        ++stats_.not_tracked;
        return;
      }
      const uint16_t ident = static_cast<uint16_t>(data[m.l4_offset + 4] << 8 | data[m.l4_offset + 5]);
      t.sport = t.dport = ident;
    }
    ConnKey k;
    std::memset(&k, 0, sizeof(k));
    const bool src_low = std::memcmp(t.src, t.dst, 16) < 0 || (std::memcmp(t.src, t.dst, 16) == 0 && t.sport <= t.dport);
    std::memcpy(k.a, src_low ? t.src : t.dst, 16);
    std::memcpy(k.b, src_low ? t.dst : t.src, 16);
    k.pa = src_low ? t.sport : t.dport;
    k.pb = src_low ? t.dport : t.sport;
    k.proto = t.proto;
    k.family = t.family;

    auto it = open_.find(k);
    if (it != open_.end() && idle_out(it->second, ts_ms)) {
      finish(it->second, pb::FlowRecord::TIMEOUT);
      open_.erase(it);
      it = open_.end();
    }
    if (it == open_.end()) {
      if (open_.size() >= kMaxOpen) flush_idle(ts_ms);
      Conn c;
      c.opener = t;
      c.start_ms = ts_ms;
      if (t.proto == common::kProtoTcp) {
        const uint8_t f = m.tcp_flags & (common::kTcpSyn | common::kTcpAck);
        if (f == common::kTcpSyn) {
          c.opener_known = true;
        } else if (f == (common::kTcpSyn | common::kTcpAck)) {  // the answer came first
          reverse(c.opener);
          c.opener_known = true;
        }
      } else if (icmp) {
        if (!echo_request) reverse(c.opener);
        c.opener_known = true;
      }
      it = open_.emplace(k, c).first;
      ++stats_.connections;
    }
    Conn& c = it->second;
    const int dir = same_endpoint(t.src, t.sport, c.opener) ? 0 : 1;
    c.last_ms = ts_ms;
    c.packets[dir] += 1;
    c.bytes[dir] += len;
    if (t.proto == common::kProtoTcp) {
      c.flags[dir] |= m.tcp_flags;
      if (m.tcp_flags & common::kTcpFin) c.fin[dir] = true;
      if (m.tcp_flags & common::kTcpRst) c.rst = true;
      if (c.rst || (c.fin[0] && c.fin[1] && (m.tcp_flags & common::kTcpAck) && !(m.tcp_flags & common::kTcpFin))) {
        finish(c, c.rst ? pb::FlowRecord::RESET : pb::FlowRecord::CLOSED);
        open_.erase(it);
      }
    }
  }

  void close_all() {
    for (auto& [k, c] : open_) finish(c, idle_out(c, now_ms_) ? pb::FlowRecord::TIMEOUT : pb::FlowRecord::END_UNSPECIFIED);
    open_.clear();
    flush();
  }

 private:
  static void reverse(FlowTuple& t) {
    uint8_t a[16];
    std::memcpy(a, t.src, 16);
    std::memcpy(t.src, t.dst, 16);
    std::memcpy(t.dst, a, 16);
    std::swap(t.sport, t.dport);
  }

  static bool idle_out(const Conn& c, int64_t now) {
    int64_t limit = kUdpIdleMs;
    if (c.opener.proto == common::kProtoTcp) limit = (c.fin[0] || c.fin[1]) ? kTcpClosingIdleMs : kTcpIdleMs;
    return now - c.last_ms > limit;
  }

  void flush_idle(int64_t now) {
    std::erase_if(open_, [&](auto& kv) {
      if (now - kv.second.last_ms <= 30'000) return false;
      finish(kv.second, pb::FlowRecord::TIMEOUT);
      return true;
    });
    if (open_.size() < kMaxOpen) return;
    for (auto& [k, c] : open_) finish(c, pb::FlowRecord::TIMEOUT);
    open_.clear();
  }

  void finish(const Conn& c, pb::FlowRecord::EndReason why) {
    const size_t len = c.opener.family == 6 ? 16 : 4;
    pb::FlowRecord r;
    r.set_time_ms(c.start_ms);
    r.set_src(reinterpret_cast<const char*>(c.opener.src), len);
    r.set_dst(reinterpret_cast<const char*>(c.opener.dst), len);
    r.set_protocol(c.opener.proto);
    const bool icmp = c.opener.proto == common::kProtoIcmp || c.opener.proto == common::kProtoIcmpv6;
    r.set_src_port(icmp ? (c.opener.proto == common::kProtoIcmp ? 8 : 128) : c.opener.sport);
    r.set_dst_port(icmp ? 0 : c.opener.dport);
    r.set_verdict(pb::FlowRecord::ALLOWED);
    r.set_mode("learn");
    r.set_opener_known(c.opener_known);
    r.set_start_ms(c.start_ms);
    r.set_kind(pb::FlowRecord::START);
    batch_.push_back(r);
    r.set_kind(pb::FlowRecord::END);
    r.set_time_ms(c.last_ms);
    r.set_packets_out(c.packets[0]);
    r.set_bytes_out(c.bytes[0]);
    r.set_packets_in(c.packets[1]);
    r.set_bytes_in(c.bytes[1]);
    r.set_tcp_flags_out(c.flags[0]);
    r.set_tcp_flags_in(c.flags[1]);
    r.set_end_reason(why);
    batch_.push_back(std::move(r));
    if (batch_.size() >= kBatch) flush();
  }

  void flush() {
    if (batch_.empty()) return;
    orient(batch_);
    sink_(batch_);
    batch_.clear();
  }

  const RecordSink& sink_;
  PcapStats& stats_;
  std::unordered_map<ConnKey, Conn, ConnKeyHash> open_;
  std::vector<pb::FlowRecord> batch_;
  int64_t now_ms_ = 0;
};

}  // namespace

bool read_pcaps(const std::vector<std::string>& files, const RecordSink& sink, PcapStats& stats,
                std::string& error) {
  Assembler assembler(sink, stats);
  for (const auto& file : files) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    std::unique_ptr<pcap_t, decltype(&pcap_close)> p(pcap_open_offline(file.c_str(), errbuf), pcap_close);
    if (!p) {
      error = file + ": " + errbuf;
      return false;
    }
    if (pcap_datalink(p.get()) != DLT_EN10MB) {
      error = file + ": link type " + std::to_string(pcap_datalink(p.get())) + " is not Ethernet";
      return false;
    }
    ++stats.files;
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    int rc;
    while ((rc = pcap_next_ex(p.get(), &h, &data)) == 1) {
      const int64_t ts = static_cast<int64_t>(h->ts.tv_sec) * 1000 + h->ts.tv_usec / 1000;
      assembler.packet(data, h->caplen, ts);
    }
    if (rc == PCAP_ERROR) {
      // A capture cut short mid-record: refused whole, so nothing is
      // learned from half a file.
      error = file + ": " + pcap_geterr(p.get());
      return false;
    }
  }
  assembler.close_all();
  return true;
}

}  // namespace bulkhead::controlplane::flows
