#include "tools/cli/capture_names.h"

#include <algorithm>
#include <cstring>

#include "common/protocols.h"
#include "dataplane/insertion/encap.h"
#include "dataplane/packet.h"
#include "dataplane/wire.h"

namespace bulkhead::cli {

namespace names = dataplane::names;

struct NameFinder::Stream {
  names::DnsStream dns;
  uint32_t next = 0;  // the sequence number of the next byte expected
  bool broken = false;
};

// A connection under inspection for its ClientHello: one assembler, of
// its transport's kind (each about 18 KiB).
struct NameFinder::Hello {
  std::unique_ptr<names::ClientHelloAssembler> tcp;
  std::unique_ptr<names::QuicHelloAssembler> quic;
  uint32_t first = 0;     // TCP: the sequence number of the first payload byte
  bool started = false;   // TCP: `first` is known
  bool reported = false;
};

namespace {

using dataplane::wire::be16;
using dataplane::wire::be32;

Endpoint endpoint(const uint8_t (&addr)[16], uint8_t family, uint16_t port) {
  Endpoint e;
  e.family = family;
  std::memcpy(e.addr.data(), addr, 16);
  e.port = port;
  return e;
}

std::string rcode_text(uint8_t rcode) {
  switch (rcode) {
    case 1: return "formerr";
    case 2: return "servfail";
    case 3: return "nxdomain";
    case 4: return "notimp";
    case 5: return "refused";
  }
  return "rcode " + std::to_string(rcode);
}

}  // namespace

NameFinder::NameFinder(DnsSink dns, SniSink sni, std::vector<uint16_t> tls_ports)
    : dns_(std::move(dns)),
      sni_(std::move(sni)),
      tls_ports_(std::move(tls_ports)),
      quic_reader_(std::make_unique<names::QuicInitialReader>()) {}
NameFinder::~NameFinder() = default;

void NameFinder::feed(const common::CaptureRecord& record) {
  ++stats_.packets;
  if (record.l3.link != common::LinkRead::ok) return;
  packet(record.time_us, record.packet(), record.packet_caplen(), record.l3.ethertype, 0);
}

bool NameFinder::feed_files(const std::vector<std::string>& files, std::string& error) {
  for (const std::string& path : files) {
    common::PcapReader reader;
    if (!reader.open(path, error)) return false;
    common::CaptureRecord record;
    common::PcapReader::Next next;
    while ((next = reader.next(record)) == common::PcapReader::Next::record) feed(record);
    if (next == common::PcapReader::Next::error) {
      error = reader.error();
      return false;
    }
  }
  return true;
}

void NameFinder::packet(int64_t time_us, const uint8_t* packet, uint32_t len, uint16_t ethertype, unsigned depth) {
  dataplane::PacketMeta m;
  dataplane::parse_ip_packet(packet, len, ethertype, m);
  if (m.kind != dataplane::PacketKind::ip || (m.is_fragment && !m.first_fragment) || m.l4_offset == 0) return;
  if (m.tuple.proto == common::kProtoUdp && depth < kMaxTunnelDepth && tunnelled(time_us, packet, len, m, depth)) return;
  const dataplane::FlowTuple& t = m.tuple;
  const bool dns = t.sport == names::kDnsPort || t.dport == names::kDnsPort;
  const bool tls_port = std::find(tls_ports_.begin(), tls_ports_.end(), t.dport) != tls_ports_.end();
  if (!dns && !tls_port) return;
  const Endpoint from = endpoint(t.src, t.family, t.sport);
  const Endpoint to = endpoint(t.dst, t.family, t.dport);
  // The IP packet's own length bounds the payload (Ethernet pads short frames).
  const uint32_t end = std::min<uint32_t>(len, m.l3_length);
  if (t.proto == common::kProtoUdp) {
    if (m.l4_offset + 8u > end) return;
    const uint32_t udp_end = std::min<uint32_t>(end, m.l4_offset + be16(packet + m.l4_offset + 4));
    if (udp_end < m.l4_offset + 8u) return;
    std::span<const uint8_t> payload(packet + m.l4_offset + 8, udp_end - m.l4_offset - 8);
    if (dns) {
      message(time_us, from, to, payload, "udp");
    } else {
      quic(time_us, from, to, payload);
    }
  } else if (t.proto == common::kProtoTcp) {
    if (m.l4_offset + 20u > end) return;
    const uint32_t data = m.l4_offset + (packet[m.l4_offset + 12] >> 4) * 4u;
    if (data > end) return;
    const uint32_t seq = be32(packet + m.l4_offset + 4);
    std::span<const uint8_t> payload(packet + data, end - data);
    if (dns) {
      tcp(time_us, from, to, seq, m.tcp_flags, payload);
    } else {
      tls(time_us, from, to, seq, m.tcp_flags, payload);
    }
  }
}

// GENEVE (6081) and VXLAN (4789, and Azure's 10800 and 10801) are read
// through: the packet inside is read as if it were on the wire.
bool NameFinder::tunnelled(int64_t time_us, const uint8_t* packet, uint32_t len, const dataplane::PacketMeta& m,
                           unsigned depth) {
  namespace insertion = dataplane::insertion;
  const uint16_t dport = m.tuple.dport;
  const bool geneve = dport == insertion::kGenevePort;
  static const insertion::OuterConfig azure;  // its pools' default tunnel ports
  const bool vxlan = dport == insertion::kVxlanPort || dport == azure.vxlan[0].port || dport == azure.vxlan[1].port;
  if (!geneve && !vxlan) return false;
  const uint32_t end = std::min<uint32_t>(len, m.l3_length);
  if (m.l4_offset + 8u > end) return false;
  const uint8_t* payload = packet + m.l4_offset + 8;
  const uint32_t payload_len = end - m.l4_offset - 8;
  insertion::Tunnelled t;
  if (!insertion::read_tunnel_payload(payload, payload_len, geneve ? insertion::Insertion::geneve : insertion::Insertion::vxlan, t))
    return false;
  const uint8_t* inner = payload + t.inner_offset;
  const uint32_t inner_len = std::min<uint32_t>(t.inner_length, payload_len - t.inner_offset);
  if (t.inner_ethertype != dataplane::wire::kEthTransparent) {
    this->packet(time_us, inner, inner_len, t.inner_ethertype, depth + 1);
    return true;
  }
  const common::Layer3 l3 = common::read_link(1, inner, inner_len);  // DLT_EN10MB: the carried Ethernet frame
  if (l3.link == common::LinkRead::ok) this->packet(time_us, inner + l3.offset, inner_len - l3.offset, l3.ethertype, depth + 1);
  return true;
}

NameFinder::Hello* NameFinder::hello_of(const Direction& dir, bool create) {
  auto it = hellos_.find(dir);
  if (it != hellos_.end()) return it->second.get();
  if (!create) return nullptr;
  if (hellos_.size() >= kMaxStreams) {
    hellos_.erase(hello_order_.front());
    hello_order_.pop_front();
    ++stats_.streams_dropped;
  }
  hello_order_.push_back(dir);
  return hellos_.emplace(dir, std::make_unique<Hello>()).first->second.get();
}

void NameFinder::report(int64_t time_us, const Direction& dir, const names::ClientHello& h, const char* transport) {
  if (h.status == names::HelloStatus::not_tls) return;  // no ClientHello to show
  ++stats_.hellos;
  SniSeen seen;
  seen.time_us = time_us;
  seen.client = dir.first;
  seen.server = dir.second;
  seen.transport = transport;
  seen.ech = h.ech;
  if (h.status == names::HelloStatus::complete) {
    if (h.has_sni) seen.sni = std::string(h.sni());
  } else if (h.status == names::HelloStatus::too_large) {
    seen.ignored = "too_large";
  } else {
    seen.ignored = std::string("malformed: ") + names::hello_reason_name(h.reason);
  }
  sni_(seen);
}

void NameFinder::tls(int64_t time_us, const Endpoint& from, const Endpoint& to, uint32_t seq, uint8_t flags,
                     std::span<const uint8_t> payload) {
  const Direction dir{from, to};
  const bool opening = (flags & common::kTcpSyn) && !(flags & common::kTcpAck);
  Hello* h = hello_of(dir, opening || !payload.empty());
  if (h == nullptr) return;
  if (!h->tcp) h->tcp = std::make_unique<names::ClientHelloAssembler>();
  if (opening) {
    h->tcp->reset();
    h->reported = false;
    h->started = true;
    h->first = seq + 1;  // data in the SYN (TCP Fast Open) is the first payload byte on
  }
  if (payload.empty() || h->reported) return;
  if (!h->started) {  // the capture began after the SYN: the first data seen starts the flight
    h->started = true;
    h->first = seq;
  }
  const uint64_t offset = uint32_t(seq + (opening ? 1 : 0) - h->first);
  if (h->tcp->feed(offset, payload.data(), payload.size()) == names::HelloStatus::need_more) return;
  h->reported = true;
  report(time_us, dir, h->tcp->hello(), "tcp");
}

void NameFinder::quic(int64_t time_us, const Endpoint& from, const Endpoint& to, std::span<const uint8_t> payload) {
  if (!quic_reader_->ok()) return;
  const Direction dir{from, to};
  Hello* h = hello_of(dir, true);
  if (h->reported) return;
  if (!h->quic) h->quic = std::make_unique<names::QuicHelloAssembler>();
  quic_reader_->read(payload.data(), payload.size(), *h->quic);
  if (!h->quic->hello().decided()) return;
  h->reported = true;
  report(time_us, dir, h->quic->hello(), "quic");
}

void NameFinder::tcp(int64_t time_us, const Endpoint& from, const Endpoint& to, uint32_t seq, uint8_t flags,
                     std::span<const uint8_t> payload) {
  const Direction dir{from, to};
  auto it = streams_.find(dir);
  auto open = [&] {
    if (it == streams_.end()) {
      if (streams_.size() >= kMaxStreams) {
        streams_.erase(stream_order_.front());
        stream_order_.pop_front();
      }
      it = streams_.emplace(dir, std::make_unique<Stream>()).first;
      stream_order_.push_back(dir);
    }
    *it->second = Stream{};
  };
  if (flags & common::kTcpSyn) {
    open();
    it->second->next = seq + 1;
    payload = {};  // data in a SYN (Fast Open) is not DNS's way
  } else if (it == streams_.end() && !payload.empty() &&
             (from.port == names::kDnsPort || to.port == names::kDnsPort)) {
    // The capture began after the SYN: framing starts at the first data
    // seen (a capture that begins inside a message reads it as malformed,
    // counted, and the framing may stay lost for that stream).
    open();
    it->second->next = seq;
  }
  if (it == streams_.end() || payload.empty() || it->second->broken) return;
  Stream& s = *it->second;
  const int32_t ahead = int32_t(seq - s.next);
  if (ahead > 0) {  // a segment is missing: the framing is lost from here
    s.broken = true;
    ++stats_.tcp_gaps;
    return;
  }
  const uint32_t seen = s.next - seq;  // bytes already read (a retransmission); -ahead overflows at 2^31
  if (seen >= payload.size()) return;
  payload = payload.subspan(seen);
  s.next += uint32_t(payload.size());
  s.dns.feed(payload, [&](std::span<const uint8_t> msg) { message(time_us, from, to, msg, "tcp"); });
}

void NameFinder::message(int64_t time_us, const Endpoint& from, const Endpoint& to, std::span<const uint8_t> bytes,
                         const char* transport) {
  ++stats_.dns_messages;
  const names::DnsError error = names::parse_dns(bytes, scratch_);
  const names::DnsMessage& msg = scratch_;
  if (error == names::DnsError::none && !msg.response) {
    if (pending_order_.size() >= kMaxPending) {
      auto old = pending_.find(pending_order_.front());
      if (old != pending_.end() && --old->second == 0) pending_.erase(old);
      pending_order_.pop_front();
      ++stats_.pending_dropped;
    }
    Query q{from, to, msg.id, std::string(msg.qname().view())};
    ++pending_[q];
    pending_order_.push_back(std::move(q));
    return;
  }
  DnsSeen seen;
  seen.time_us = time_us;
  seen.client = to;
  seen.resolver = from;
  seen.transport = transport;
  if (error != names::DnsError::none) {
    // Only answers are shown: a message that cannot be read is one when it
    // comes from the DNS port.
    if (from.port != names::kDnsPort) return;
    ++stats_.dns_malformed;
    if (msg.chain_len) seen.qname = std::string(msg.qname().view());
    seen.ignored = "malformed: " + std::string(names::dns_error_name(error));
    dns_(seen);
    return;
  }
  seen.qname = std::string(msg.qname().view());
  auto q = pending_.find(Query{to, from, msg.id, seen.qname});
  const bool solicited = q != pending_.end();
  if (solicited && --q->second == 0) pending_.erase(q);
  if (msg.address_count == 0) {
    seen.name = std::string(msg.chain[msg.chain_len - 1].view());
    seen.ignored = !solicited                        ? "unsolicited"
                   : msg.rcode != names::kRcodeNoError ? rcode_text(msg.rcode)
                                                       : "nodata";
    dns_(seen);
    return;
  }
  for (const names::DnsAddress& a : msg.address_list()) {
    seen.name = std::string(msg.chain[a.owner].view());
    seen.address = a;
    seen.ignored = solicited ? "" : "unsolicited";
    dns_(seen);
  }
}

}  // namespace bulkhead::cli
