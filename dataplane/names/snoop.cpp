#include "dataplane/names/snoop.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <new>

#include "dataplane/names/policy_names.h"

namespace bulkhead::dataplane::names {
namespace {

constexpr std::string_view kCounterNames[] = {
#define BULKHEAD_SNOOP_NAME(name, text) #name,
    BULKHEAD_SNOOP_COUNTERS(BULKHEAD_SNOOP_NAME)
#undef BULKHEAD_SNOOP_NAME
};
constexpr std::string_view kCounterTexts[] = {
#define BULKHEAD_SNOOP_TEXT(name, text) text,
    BULKHEAD_SNOOP_COUNTERS(BULKHEAD_SNOOP_TEXT)
#undef BULKHEAD_SNOOP_TEXT
};

uint16_t be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) noexcept {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

uint32_t name_hash(std::string_view name) noexcept {
  return static_cast<uint32_t>(std::hash<std::string_view>{}(name));
}

// A name the policy's patterns could hold (rules/names.h): letters, digits,
// '-', '_' and dots. The reader lets other printable bytes through in
// record names; those are never bound, so what the table keeps (and the
// state directory) is always canonical.
bool plain(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
    if (!ok) return false;
  }
  return true;
}

// The UDP or TCP payload of the packet, within its IP length and the bytes
// at hand. TCP also gives the sequence number of the payload's first byte
// (a SYN's own number counts one). False when it cannot be read whole.
bool payload_of(const SnoopPacket& p, std::span<const uint8_t>& out, uint32_t& seq) noexcept {
  const PacketMeta& m = *p.meta;
  if (m.is_fragment || m.l4_offset == 0) return false;
  uint32_t end = uint32_t{m.l3_offset} + m.l3_length;
  const uint32_t l4 = m.l4_offset;
  if (end > p.len || l4 > end) return false;
  uint32_t at;
  if (m.tuple.proto == common::kProtoUdp) {
    if (l4 + 8 > end) return false;
    const uint32_t udp_len = be16(p.frame + l4 + 4);
    if (udp_len < 8 || l4 + udp_len > end) return false;
    end = l4 + udp_len;  // the rest is padding
    at = l4 + 8;
  } else {
    if (l4 + 20 > end) return false;
    const uint32_t header = static_cast<uint32_t>(p.frame[l4 + 12] >> 4) * 4;
    if (header < 20 || l4 + header > end) return false;
    seq = be32(p.frame + l4 + 4) + ((m.tcp_flags & common::kTcpSyn) ? 1 : 0);
    at = l4 + header;
  }
  out = std::span<const uint8_t>(p.frame + at, end - at);
  return true;
}

}  // namespace

std::string_view snoop_counter_name(SnoopCounter c) noexcept { return kCounterNames[static_cast<std::size_t>(c)]; }
std::string_view snoop_counter_text(SnoopCounter c) noexcept { return kCounterTexts[static_cast<std::size_t>(c)]; }

void SnoopStats::add(const SnoopStats& o) noexcept {
  for (std::size_t i = 0; i < kSnoopCounterCount; ++i) events[i] += __atomic_load_n(&o.events[i], __ATOMIC_RELAXED);
  for (std::size_t i = 0; i < kDnsErrorCount; ++i) malformed[i] += __atomic_load_n(&o.malformed[i], __ATOMIC_RELAXED);
}

DnsSnoop::DnsSnoop() : conns_(std::make_unique<Conn[]>(kConnections)), streams_(std::make_unique<Stream[]>(kTcpStreams)) {}

DnsSnoop::~DnsSnoop() = default;

std::size_t DnsSnoop::memory_bytes() noexcept {
  return sizeof(DnsSnoop) + sizeof(Conn) * kConnections + sizeof(Stream) * kTcpStreams;
}

void DnsSnoop::count(SnoopCounter c, uint64_t v) noexcept {
  uint64_t& n = stats_.events[static_cast<std::size_t>(c)];
  __atomic_store_n(&n, n + v, __ATOMIC_RELAXED);
}

DnsSnoop::Conn* DnsSnoop::entry(const SnoopPacket& p, bool make, uint32_t now_ms) noexcept {
  Conn* bucket = &conns_[(p.conn_hash % (kConnections / kWays)) * kWays];
  Conn* victim = bucket;
  for (unsigned k = 0; k < kWays; ++k) {
    Conn& c = bucket[k];
    if (c.conn == p.conn && c.conn_hash == p.conn_hash && c.created_ms == p.conn_created_ms) {
      c.used_ms = now_ms;
      return &c;
    }
    // A free entry first, then the least recently used.
    if (victim->conn >= 0 && (c.conn < 0 || static_cast<int32_t>(c.used_ms - victim->used_ms) < 0)) victim = &c;
  }
  if (!make) return nullptr;
  forget(*victim);
  victim->conn = p.conn;
  victim->conn_hash = p.conn_hash;
  victim->created_ms = p.conn_created_ms;
  victim->used_ms = now_ms;
  return victim;
}

void DnsSnoop::forget(Conn& c) noexcept {
  if (c.conn >= 0 && c.pending != 0) count(SnoopCounter::queries_forgotten, std::popcount(c.pending));
  release_stream(c);
  c.conn = -1;
  c.pending = 0;
  c.next = 0;
}

DnsSnoop::Stream* DnsSnoop::take_stream(Conn& c, uint32_t now_ms) noexcept {
  if (c.stream < 0) {
    Stream* pick = &streams_[0];
    for (unsigned k = 0; k < kTcpStreams; ++k) {
      Stream& s = streams_[k];
      if (pick->owner >= 0 && (s.owner < 0 || static_cast<int32_t>(s.used_ms - pick->used_ms) < 0)) pick = &s;
    }
    if (pick->owner >= 0) {
      conns_[pick->owner].stream = -1;
      count(SnoopCounter::tcp_streams_taken);
    }
    pick->owner = static_cast<int32_t>(&c - conns_.get());
    c.stream = static_cast<int16_t>(pick - streams_.get());
  }
  Stream& s = streams_[c.stream];
  s.used_ms = now_ms;
  s.seq_known[0] = s.seq_known[1] = false;
  // A fresh reader for each side; its 16 KiB buffer is written before it
  // is read, so it is not cleared.
  for (DnsStream& side : s.side) {
    side.~DnsStream();
    new (&side) DnsStream;
  }
  return &s;
}

void DnsSnoop::release_stream(Conn& c) noexcept {
  if (c.stream < 0) return;
  streams_[c.stream].owner = -1;
  c.stream = -1;
}

template <typename OnMessage>
void DnsSnoop::follow_tcp(Conn& c, unsigned side, uint32_t seq, std::span<const uint8_t> payload, uint32_t now_ms,
                          OnMessage&& on_message) noexcept {
  Stream& s = streams_[c.stream];
  s.used_ms = now_ms;
  if (!s.seq_known[side]) {
    count(SnoopCounter::ignored_tcp_untracked);
    return;
  }
  const auto ahead = static_cast<int32_t>(seq - s.next_seq[side]);
  if (ahead > 0) {  // bytes are missing: the stream's messages cannot be told apart any more
    count(SnoopCounter::ignored_tcp_gap);
    release_stream(c);
    return;
  }
  // A retransmission: only what it brings past the bytes already read.
  const uint32_t seen = static_cast<uint32_t>(-static_cast<int64_t>(ahead));
  if (seen >= payload.size()) return;
  payload = payload.subspan(seen);
  s.next_seq[side] += static_cast<uint32_t>(payload.size());
  DnsStream& stream = s.side[side];
  const uint32_t skipped = stream.skipped_messages();
  stream.feed(payload, on_message);
  if (stream.skipped_messages() != skipped) count(SnoopCounter::ignored_too_large, stream.skipped_messages() - skipped);
}

void DnsSnoop::query(Conn& c, std::span<const uint8_t> message) noexcept {
  if (parse_dns(message, message_) != DnsError::none || message_.response) return;  // the resolver will say
  if (c.pending & (1u << c.next)) count(SnoopCounter::queries_forgotten);
  c.queries[c.next] = Query{name_hash(message_.qname().view()), message_.id, message_.qtype};
  c.pending = static_cast<uint8_t>(c.pending | 1u << c.next);
  c.next = static_cast<uint8_t>((c.next + 1) % kQueriesPerConnection);
  count(SnoopCounter::queries);
}

void DnsSnoop::answer(Conn& c, const SnoopPacket& p, std::span<const uint8_t> message, const PolicyNames& names,
                      BindingTable& table, uint32_t now_s) noexcept {
  DnsMessage& msg = message_;
  const DnsError error = parse_dns(message, msg);
  if (error != DnsError::none) {
    count(SnoopCounter::ignored_malformed);
    uint64_t& n = stats_.malformed[static_cast<std::size_t>(error)];
    __atomic_store_n(&n, n + 1, __ATOMIC_RELAXED);
    return;
  }
  if (!msg.response) {
    count(SnoopCounter::ignored_not_response);
    return;
  }
  const uint32_t qhash = name_hash(msg.qname().view());
  int match = -1;
  for (unsigned k = 0; k < kQueriesPerConnection && match < 0; ++k) {
    const Query& q = c.queries[k];
    if ((c.pending >> k & 1u) && q.id == msg.id && q.qtype == msg.qtype && q.qname_hash == qhash)
      match = static_cast<int>(k);
  }
  if (match < 0) {
    count(SnoopCounter::ignored_unsolicited);
    return;
  }
  c.pending = static_cast<uint8_t>(c.pending & ~(1u << match));  // one answer per query
  count(SnoopCounter::answers);
  if (msg.truncated) count(SnoopCounter::answers_truncated);
  if (msg.rcode != kRcodeNoError || msg.address_count == 0) {
    count(SnoopCounter::answers_negative);
    return;
  }
  uint32_t mentioned = 0;  // bit k: chain[k] is a name some fqdn pattern matches
  for (unsigned k = 0; k < msg.chain_len; ++k) {
    const std::string_view name = msg.chain[k].view();
    if (plain(name) && names.mentions(name)) mentioned |= 1u << k;
  }
  if (mentioned == 0) {
    count(SnoopCounter::answers_not_mentioned);
    return;
  }
  const FlowTuple& t = p.meta->tuple;
  BindingKey key;
  key.tenant = p.tenant;
  key.family = t.family;
  std::copy_n(t.dst, 16, key.client.begin());
  const uint64_t grace = names.grace_seconds();
  bool bound = false;
  for (const DnsAddress& a : msg.address_list()) {
    if (a.family != t.family) {
      count(SnoopCounter::addresses_other_family);
      continue;
    }
    // The names of the chain from the question down to this record's owner.
    uint32_t links = mentioned & ((2u << a.owner) - 1);
    if (links == 0) continue;
    key.server = a.addr;
    const uint64_t expires = std::min<uint64_t>(uint64_t{now_s} + std::min(a.ttl, kMaxBindingTtl) + grace, UINT32_MAX);
    for (; links != 0; links &= links - 1) {
      const unsigned k = static_cast<unsigned>(std::countr_zero(links));
      const BindResult r = table.bind(key, msg.chain[k].view(), now_s, static_cast<uint32_t>(expires));
      if (r == BindResult::name_cap || r == BindResult::names_full) {
        count(SnoopCounter::addresses_refused);
      } else {
        count(SnoopCounter::addresses_bound);
        bound = true;
      }
    }
  }
  count(bound ? SnoopCounter::answers_bound : SnoopCounter::answers_unbound);
}

void DnsSnoop::read(const SnoopPacket& p, const PolicyNames& names, BindingTable& table, uint32_t now_ms,
                    uint32_t now_s) noexcept {
  const PacketMeta& m = *p.meta;
  const FlowTuple& t = m.tuple;
  const bool tcp = t.proto == common::kProtoTcp;
  std::span<const uint8_t> payload;
  uint32_t seq = 0;
  if (p.from_opener) {
    if (t.sport == kDnsPort && t.dport != kDnsPort && names.trusted_resolver(t.src, t.family)) {
      // A resolver that opened the connection: nothing it says was asked.
      if (payload_of(p, payload, seq) && !payload.empty()) count(SnoopCounter::ignored_unsolicited);
      return;
    }
    if (!names.trusted_resolver(t.dst, t.family)) return;
    if (t.dport != kDnsPort) {
      if (p.first) count(SnoopCounter::ignored_other_port);
      return;
    }
    if (!payload_of(p, payload, seq)) {
      count(SnoopCounter::ignored_unreadable);
      return;
    }
    if (!tcp) {
      if (!payload.empty()) query(*entry(p, true, now_ms), payload);
      return;
    }
    const bool syn = (m.tcp_flags & (common::kTcpSyn | common::kTcpAck)) == common::kTcpSyn;
    Conn* c = entry(p, syn, now_ms);
    if (c == nullptr) {
      if (!payload.empty()) count(SnoopCounter::ignored_tcp_untracked);
      return;
    }
    if (syn) {
      Stream* s = take_stream(*c, now_ms);
      s->next_seq[0] = seq;
      s->seq_known[0] = true;
    }
    if (m.tcp_flags & common::kTcpRst) {
      release_stream(*c);
      return;
    }
    if (payload.empty()) return;
    if (c->stream < 0) {
      count(SnoopCounter::ignored_tcp_untracked);
      return;
    }
    follow_tcp(*c, 0, seq, payload, now_ms, [&](std::span<const uint8_t> message) { query(*c, message); });
    return;
  }

  // From the side the client opened to: an answer, if that side is a
  // trusted resolver's port 53.
  if (t.sport != kDnsPort) return;
  if (!payload_of(p, payload, seq)) {
    if (names.trusted_resolver(t.src, t.family)) count(SnoopCounter::ignored_unreadable);
    return;
  }
  const bool syn_ack = tcp && (m.tcp_flags & common::kTcpSyn);
  if (payload.empty() && !syn_ack) return;  // an acknowledgement
  if (!names.trusted_resolver(t.src, t.family)) {
    if (!payload.empty()) count(SnoopCounter::ignored_untrusted);
    return;
  }
  Conn* c = entry(p, false, now_ms);
  if (!tcp) {
    if (c == nullptr || c->pending == 0) {
      count(SnoopCounter::ignored_unsolicited);
      return;
    }
    answer(*c, p, payload, names, table, now_s);
    return;
  }
  if (c != nullptr && c->stream >= 0) {
    Stream& s = streams_[c->stream];
    if (syn_ack) {
      s.next_seq[1] = seq;
      s.seq_known[1] = true;
    }
    if (m.tcp_flags & common::kTcpRst) {
      release_stream(*c);
      return;
    }
  }
  if (payload.empty()) return;
  if (c == nullptr || c->stream < 0) {
    count(SnoopCounter::ignored_tcp_untracked);
    return;
  }
  follow_tcp(*c, 1, seq, payload, now_ms,
             [&](std::span<const uint8_t> message) { answer(*c, p, message, names, table, now_s); });
}

}  // namespace bulkhead::dataplane::names
