// The names in a capture, read the way the dataplane reads them: every DNS
// answer (UDP and TCP, port 53) with the addresses it gives, and every TLS
// ClientHello (TCP) and QUIC Initial (UDP) to the TLS ports with the server
// name it asks for, in capture order, each marked with why the dataplane
// would not act on it, if so.
// `bulkhead names` prints them; the policy evaluator and the simulator
// judge rules written with names over them.
//
// VLAN tags are read through by the capture reader; GENEVE (UDP 6081) and
// VXLAN (4789, and Azure's 10800 and 10801) here, so what a cloud load
// balancer tunnels to the appliance shows as the packets inside.
//
// Answers are read by the dataplane's own reader (dataplane/names/dns.h).
// An answer is solicited when the capture holds its query (same client,
// client port, resolver, id and question) earlier; one whose query is not
// in the capture (it began after the query) is still shown, marked
// "unsolicited". DNS over TCP is reassembled per direction from the
// sequence numbers; a gap ends that direction's reading (counted). A
// ClientHello is read by the dataplane's readers (dataplane/names/tls.h,
// quic.h) from the client's first flight, across segments (and in the SYN,
// TCP Fast Open) or across Initials.
//
// Bounded: at most kMaxPending queries and kMaxStreams TCP directions are
// held (the oldest give way), so a hostile capture costs memory in
// proportion to these bounds and time in proportion to its bytes.
// Thread-safety: one thread per NameFinder.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/pcap_reader.h"
#include "dataplane/names/dns.h"
#include "dataplane/names/quic.h"
#include "dataplane/names/tls.h"
#include "dataplane/packet.h"

namespace bulkhead::cli {

struct Endpoint {
  uint8_t family = 4;
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
  auto operator<=>(const Endpoint&) const = default;
};

// One address of one DNS answer (or, for an answer with none, the answer
// itself with no address).
struct DnsSeen {
  int64_t time_us = 0;
  Endpoint client;    // who asked (the answer's destination)
  Endpoint resolver;  // who answered
  std::string qname;  // the question
  std::string name;   // the record's own name (a CNAME chain's last link)
  std::optional<dataplane::names::DnsAddress> address;
  std::string transport;  // "udp" or "tcp"
  // Empty when the dataplane would bind it; else why not: "unsolicited",
  // "nxdomain", "nodata", "refused: RCODE", or "malformed: REASON".
  std::string ignored;
};

// One ClientHello.
struct SniSeen {
  int64_t time_us = 0;
  Endpoint client;
  Endpoint server;
  std::string transport;      // "tcp" or "quic"
  std::optional<std::string> sni;
  bool ech = false;
  std::string ignored;        // empty, or "malformed: REASON", "too_large"
};

struct NameFinderStats {
  uint64_t packets = 0;
  uint64_t dns_messages = 0;
  uint64_t dns_malformed = 0;
  uint64_t tcp_gaps = 0;         // TCP directions whose reading stopped at a missing segment
  uint64_t pending_dropped = 0;  // queries given up for room
  uint64_t hellos = 0;
  uint64_t streams_dropped = 0;  // connections under inspection given up for room
};

class NameFinder {
 public:
  static constexpr std::size_t kMaxPending = 65536;
  static constexpr std::size_t kMaxStreams = 4096;
  // Tunnels read through inside one another (GENEVE or VXLAN in a tunnel).
  static constexpr unsigned kMaxTunnelDepth = 2;

  using DnsSink = std::function<void(const DnsSeen&)>;
  using SniSink = std::function<void(const SniSeen&)>;
  // The TLS ports: TCP and UDP (QUIC) to these are read for ClientHellos.
  NameFinder(DnsSink dns, SniSink sni, std::vector<uint16_t> tls_ports = {443});
  ~NameFinder();

  // One record of a capture, in capture order.
  void feed(const common::CaptureRecord& record);
  // Every record of these captures, in order; false with `error` naming
  // the file that cannot be read as a capture.
  bool feed_files(const std::vector<std::string>& files, std::string& error);

  const NameFinderStats& stats() const noexcept { return stats_; }

 private:
  struct Stream;
  struct Hello;
  using Query = std::tuple<Endpoint, Endpoint, uint16_t, std::string>;  // client, resolver, id, qname
  using Direction = std::pair<Endpoint, Endpoint>;                      // from, to

  void packet(int64_t time_us, const uint8_t* packet, uint32_t len, uint16_t ethertype, unsigned depth);
  bool tunnelled(int64_t time_us, const uint8_t* packet, uint32_t len, const dataplane::PacketMeta& m, unsigned depth);
  void message(int64_t time_us, const Endpoint& from, const Endpoint& to, std::span<const uint8_t> bytes,
               const char* transport);
  void tcp(int64_t time_us, const Endpoint& from, const Endpoint& to, uint32_t seq, uint8_t flags,
           std::span<const uint8_t> payload);
  void tls(int64_t time_us, const Endpoint& from, const Endpoint& to, uint32_t seq, uint8_t flags,
           std::span<const uint8_t> payload);
  void quic(int64_t time_us, const Endpoint& from, const Endpoint& to, std::span<const uint8_t> payload);
  Hello* hello_of(const Direction& dir, bool create);
  void report(int64_t time_us, const Direction& dir, const dataplane::names::ClientHello& h, const char* transport);

  DnsSink dns_;
  SniSink sni_;
  std::vector<uint16_t> tls_ports_;
  NameFinderStats stats_;
  std::map<Query, uint32_t> pending_;  // -> how many such queries are outstanding
  std::deque<Query> pending_order_;
  std::map<Direction, std::unique_ptr<Stream>> streams_;
  std::deque<Direction> stream_order_;
  std::map<Direction, std::unique_ptr<Hello>> hellos_;
  std::deque<Direction> hello_order_;
  std::unique_ptr<dataplane::names::QuicInitialReader> quic_reader_;
  dataplane::names::DnsMessage scratch_;
};

}  // namespace bulkhead::cli
