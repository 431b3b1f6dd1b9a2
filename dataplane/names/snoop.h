// DNS snooping: the worker reads the DNS answers it forwards from trusted
// resolvers and binds the names the policy mentions (bindings.h) before the
// answer leaves, so the client's first packet to an answered address finds
// its binding.
//
// What is read. Only packets of connections the rule set admitted, over
// UDP and TCP with port 53 on the resolver's side, where the resolver
// (RuleSet::names()->trusted_resolver) is the side the client opened the
// connection to:
//   - the client's queries, to keep the ids and questions of its last
//     kQueriesPerConnection outstanding queries on that connection;
//   - the resolver's answers: one that matches an outstanding query (id,
//     type and name of the question; the query is then spent) binds each
//     answered address, for that client, to every name of its CNAME chain
//     (the question's name down to the address record's owner) that a rule's
//     `fqdn` patterns match, until now + TTL + grace; the TTL is the lowest
//     along the chain (dns.h), at most kMaxBindingTtl.
// A binding's key is (tenant, client = the answer's destination, server =
// the answered address); an address of the other family than the DNS
// exchange's is not bound (the client would reach it from another address).
// Answers that bind nothing are counted by outcome and reason
// (BULKHEAD_SNOOP_COUNTERS; refusals of the reader by DnsError).
//
// TCP: each direction is one DnsStream (dns.h), followed from the client's
// SYN and the resolver's SYN-ACK, in sequence order: a retransmission is
// passed over, a segment past a gap gives the stream up (counted). A
// connection first seen mid-stream is not read.
//
// Memory, taken once at construction: per worker, kConnections connection
// entries (the outstanding queries; buckets of kWays by the connection
// table's keyed hash, the least recently used entry of a full bucket taken)
// and kTcpStreams TCP streams of two DnsStreams each (the least recently
// used taken when all are busy); see memory_bytes(). Work per packet is the
// reader's (linear in the message, bounded by dns.h's limits), one pass
// over the answer's chain for the policy's patterns, and a bind per
// (address, mentioned name): at most kMaxAddresses x kMaxChain.
//
// Threads: one DnsSnoop per worker, used only by it; no allocation, lock
// (but BindingTable's writer lock) or logging per packet. Its counters are
// written by the worker alone and read by anyone with relaxed loads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "common/protocols.h"
#include "dataplane/names/bindings.h"
#include "dataplane/names/dns.h"
#include "dataplane/packet.h"

namespace bulkhead::dataplane::names {

class PolicyNames;

// An answer's TTL binds for at most this long (one day, as resolvers cap
// what they cache: unbound's cache-max-ttl, BIND's max-cache-ttl), plus the
// policy's grace: a TTL of 2^31 - 1 (or 2^32 - 1, read as 0) binds nothing
// for decades.
inline constexpr uint32_t kMaxBindingTtl = 86400;

// The snooping stage's counters: one list, its names the counter labels.
#define BULKHEAD_SNOOP_COUNTERS(X)                                                                  \
  X(queries, "queries to a trusted resolver read: their ids are kept to match the answers")        \
  X(queries_forgotten, "outstanding queries forgotten: more than 4 on a connection, or its entry taken") \
  X(answers, "answers from a trusted resolver that matched a query, read whole")                   \
  X(answers_bound, "answers that bound or refreshed at least one address")                         \
  X(answers_negative, "NXDOMAIN, NODATA or another error code: nothing bound")                     \
  X(answers_not_mentioned, "answers whose names no fqdn pattern matches: nothing bound")           \
  X(answers_unbound, "answers of mentioned names that bound nothing: the other family, or refused by the table") \
  X(answers_truncated, "answers with TC set: what they carry is bound")                           \
  X(ignored_untrusted, "replies from port 53 of a resolver that is not trusted")                   \
  X(ignored_malformed, "answers the reader refused (by reason: the malformed counters)")          \
  X(ignored_unsolicited, "answers that match no outstanding query of the connection")              \
  X(ignored_not_response, "messages from a resolver's port 53 that are not responses")             \
  X(ignored_other_port, "connections to a trusted resolver on a port other than 53: not read")     \
  X(ignored_unreadable, "DNS packets not readable whole: a fragment, or past the packet's first buffer") \
  X(ignored_tcp_gap, "TCP DNS streams given up: a segment past a gap")                             \
  X(ignored_tcp_untracked, "TCP DNS segments of a connection not followed from its SYN")           \
  X(ignored_too_large, "TCP DNS messages over 16 KiB passed over")                                 \
  X(addresses_bound, "bindings made or refreshed by answers")                                      \
  X(addresses_other_family, "answered addresses of the other family than the client's: not bound") \
  X(addresses_refused, "bindings the table refused: a name's address cap, or its names full")      \
  X(tcp_streams_taken, "TCP DNS streams taken from the least recently used connection")

enum class SnoopCounter : uint8_t {
#define BULKHEAD_SNOOP_ENUM(name, text) name,
  BULKHEAD_SNOOP_COUNTERS(BULKHEAD_SNOOP_ENUM)
#undef BULKHEAD_SNOOP_ENUM
      count
};
inline constexpr std::size_t kSnoopCounterCount = static_cast<std::size_t>(SnoopCounter::count);
std::string_view snoop_counter_name(SnoopCounter c) noexcept;
std::string_view snoop_counter_text(SnoopCounter c) noexcept;

struct SnoopStats {
  uint64_t events[kSnoopCounterCount] = {};
  uint64_t malformed[kDnsErrorCount] = {};  // by DnsError (index 0, none, stays 0)

  // Adds `other` (read with relaxed loads) to this.
  void add(const SnoopStats& other) noexcept;
};

// One packet the stage looks at: a packet of a tracked connection that
// passes, UDP or TCP.
struct SnoopPacket {
  const uint8_t* frame = nullptr;  // where meta's offsets start
  uint32_t len = 0;                // bytes readable from frame
  const PacketMeta* meta = nullptr;
  uint16_t tenant = 0;
  // The connection: its slot and, to tell the slot's next connection
  // apart, its key's hash and creation time.
  int32_t conn = -1;
  uint32_t conn_hash = 0;
  uint32_t conn_created_ms = 0;
  bool from_opener = false;  // travels in the direction of the connection's first packet
  bool first = false;        // the connection's first packet
};

class DnsSnoop {
 public:
  static constexpr unsigned kWays = 4;
  static constexpr unsigned kConnections = 1024;  // entries, kWays a bucket
  static constexpr unsigned kQueriesPerConnection = 4;
  static constexpr unsigned kTcpStreams = 16;

  DnsSnoop();
  ~DnsSnoop();
  DnsSnoop(const DnsSnoop&) = delete;
  DnsSnoop& operator=(const DnsSnoop&) = delete;

  // True for a packet worth handing to read(): UDP or TCP with port 53 on
  // either side, or a connection's first packet (which may be to a
  // resolver's other port). One compare for most traffic.
  static bool wanted(const PacketMeta& m, bool first) noexcept {
    return (m.tuple.proto == common::kProtoTcp || m.tuple.proto == common::kProtoUdp) &&
           (m.tuple.sport == kDnsPort || m.tuple.dport == kDnsPort || first);
  }

  // Reads one packet (see the header's opening); binds into `table`.
  // `now_ms` is the worker clock, `now_s` the bindings' clock.
  void read(const SnoopPacket& p, const PolicyNames& names, BindingTable& table, uint32_t now_ms,
            uint32_t now_s) noexcept;

  const SnoopStats& stats() const noexcept { return stats_; }
  // Bytes taken at construction.
  static std::size_t memory_bytes() noexcept;

 private:
  struct Query {
    uint32_t qname_hash;
    uint16_t id;
    uint16_t qtype;
  };
  struct Conn {
    int32_t conn = -1;  // the connection's slot; -1: free
    uint32_t conn_hash = 0;
    uint32_t created_ms = 0;
    uint32_t used_ms = 0;  // least recently used goes first
    Query queries[kQueriesPerConnection];
    uint8_t pending = 0;   // bit k: queries[k] waits for its answer
    uint8_t next = 0;      // where the next query goes (oldest first)
    int16_t stream = -1;   // TCP: its stream
  };
  struct Stream {
    int32_t owner = -1;  // index of the Conn entry; -1: free
    uint32_t used_ms = 0;
    uint32_t next_seq[2] = {0, 0};  // by side: 0 the client's, 1 the resolver's
    bool seq_known[2] = {false, false};
    DnsStream side[2];
  };

  void count(SnoopCounter c, uint64_t v = 1) noexcept;
  // The entry of the packet's connection; with `make`, made (taking the
  // bucket's least recently used) when missing. nullptr otherwise.
  Conn* entry(const SnoopPacket& p, bool make, uint32_t now_ms) noexcept;
  void forget(Conn& c) noexcept;
  Stream* take_stream(Conn& c, uint32_t now_ms) noexcept;
  void release_stream(Conn& c) noexcept;
  // Follows one TCP segment of side `side`; calls on_message per message.
  template <typename OnMessage>
  // `seq`: the sequence number of the payload's first byte.
  void follow_tcp(Conn& c, unsigned side, uint32_t seq, std::span<const uint8_t> payload, uint32_t now_ms,
                  OnMessage&& on_message) noexcept;
  void query(Conn& c, std::span<const uint8_t> message) noexcept;
  void answer(Conn& c, const SnoopPacket& p, std::span<const uint8_t> message, const PolicyNames& names,
              BindingTable& table, uint32_t now_s) noexcept;

  std::unique_ptr<Conn[]> conns_;
  std::unique_ptr<Stream[]> streams_;
  DnsMessage message_;  // the message being read
  SnoopStats stats_;
};

}  // namespace bulkhead::dataplane::names
