#include "dataplane/names/dns.h"

#include <algorithm>

#include "dataplane/wire.h"

namespace bulkhead::dataplane::names {
namespace {

constexpr std::size_t kHeaderSize = 12;
constexpr std::size_t kMaxNameWire = 255;  // RFC 1035 2.3.4, the root's zero byte included
constexpr uint8_t kPointerBits = 0xc0;

constexpr std::string_view kErrorNames[] = {
    "none",
#define BULKHEAD_DNS_ERROR_NAME(name, text) #name,
    BULKHEAD_DNS_ERRORS(BULKHEAD_DNS_ERROR_NAME)
#undef BULKHEAD_DNS_ERROR_NAME
};
constexpr std::string_view kErrorTexts[] = {
    "read",
#define BULKHEAD_DNS_ERROR_TEXT(name, text) text,
    BULKHEAD_DNS_ERRORS(BULKHEAD_DNS_ERROR_TEXT)
#undef BULKHEAD_DNS_ERROR_TEXT
};

using wire::be16;
using wire::be32;

struct NameRead {
  DnsError error = DnsError::none;
  bool printable = true;  // no label holds a dot or a byte outside 0x21..0x7e
  std::size_t next = 0;   // the offset just past the name where it was read
};

// Reads the name at `at` of `msg`. Pointers are followed only backwards of
// where the current run of labels began, so each jump lands strictly earlier
// than the one before and no loop exists; kMaxPointerJumps bounds the rest.
NameRead read_name(std::span<const uint8_t> msg, std::size_t at, DnsName& out) noexcept {
  NameRead r;
  out.len = 0;
  std::size_t run_start = at;
  std::size_t wire = 0;
  unsigned jumps = 0;
  bool jumped = false;
  for (;;) {
    if (at >= msg.size()) {
      r.error = DnsError::bad_name;
      return r;
    }
    uint8_t b = msg[at];
    if ((b & kPointerBits) == kPointerBits) {
      if (at + 1 >= msg.size()) {
        r.error = DnsError::bad_name;
        return r;
      }
      std::size_t target = std::size_t(b & ~kPointerBits) << 8 | msg[at + 1];
      if (!jumped) r.next = at + 2;
      if (target >= run_start) {
        r.error = DnsError::forward_pointer;
        return r;
      }
      if (++jumps > kMaxPointerJumps) {
        r.error = DnsError::pointer_depth;
        return r;
      }
      jumped = true;
      at = run_start = target;
      continue;
    }
    if (b & kPointerBits) {  // 0x40 and 0x80: extended and reserved label types
      r.error = DnsError::bad_name;
      return r;
    }
    if (b == 0) {
      if (!jumped) r.next = at + 1;
      return r;
    }
    wire += 1 + b;
    if (wire + 1 > kMaxNameWire || at + 1 + b > msg.size()) {
      r.error = DnsError::bad_name;
      return r;
    }
    if (out.len) out.text[out.len++] = '.';
    for (std::size_t i = 0; i < b; ++i) {
      char c = char(msg[at + 1 + i]);
      if (c == '.' || c < 0x21 || c > 0x7e) r.printable = false;
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
      out.text[out.len++] = c;
    }
    at += 1 + b;
  }
}

// One resource record of the answer section, as far as the chain needs it:
// names are kept as a hash and the offset to read them again, so each name
// is read once whatever the order of the records.
struct Record {
  std::size_t owner_at = 0;
  std::size_t owner_hash = 0;
  std::size_t target_hash = 0;  // CNAME records: the target's
  bool printable = false;       // the owner's (and a CNAME target's) labels
  uint16_t type = 0;
  uint16_t klass = 0;
  uint32_t ttl = 0;
  std::size_t rdata = 0;
  std::size_t rdlength = 0;
};

std::size_t name_hash(const DnsName& n) noexcept { return std::hash<std::string_view>{}(n.view()); }

// Reads up to kMaxRecords records of the answer section. A record cut by
// the message's end ends the section without error when TC is set.
DnsError read_answers(std::span<const uint8_t> msg, std::size_t at, unsigned count, bool truncated,
                      std::array<Record, kMaxRecords>& records, unsigned& n) noexcept {
  n = 0;
  DnsName name;
  for (unsigned left = std::min(count, kMaxRecords); left; --left) {
    Record& rec = records[n];
    NameRead owner = read_name(msg, at, name);
    if (owner.error == DnsError::none && owner.next + 10 <= msg.size()) {
      const uint8_t* p = msg.data() + owner.next;
      rec.owner_at = at;
      rec.owner_hash = name_hash(name);
      rec.printable = owner.printable;
      rec.type = be16(p);
      rec.klass = be16(p + 2);
      rec.ttl = be32(p + 4);
      if (rec.ttl > kMaxTtl) rec.ttl = 0;
      rec.rdlength = be16(p + 8);
      rec.rdata = owner.next + 10;
      if (rec.rdata + rec.rdlength <= msg.size()) {
        at = rec.rdata + rec.rdlength;
        if (rec.type == kTypeCname) {
          NameRead target = read_name(msg.first(at), rec.rdata, name);
          rec.printable = rec.printable && target.error == DnsError::none && target.printable;
          rec.target_hash = name_hash(name);
        }
        ++n;
        continue;
      }
    }
    if (truncated && (owner.error == DnsError::none || owner.error == DnsError::bad_name)) return DnsError::none;
    return owner.error != DnsError::none ? owner.error : DnsError::truncated_answer;
  }
  return DnsError::none;
}

// Whether the record's owner is `name` (the hash matched; the text decides).
bool owner_is(std::span<const uint8_t> msg, const Record& rec, const DnsName& name, std::size_t hash) noexcept {
  if (rec.owner_hash != hash) return false;
  DnsName owner;
  return read_name(msg, rec.owner_at, owner).error == DnsError::none && owner == name;
}

// The index in the chain of the record's owner, or -1.
int chain_index(std::span<const uint8_t> msg, const DnsMessage& m, const std::array<std::size_t, kMaxChain>& m_hashes,
                const Record& rec) noexcept {
  for (int i = 0; i < m.chain_len; ++i) {
    if (owner_is(msg, rec, m.chain[i], m_hashes[i])) return i;
  }
  return -1;
}

void add_address(DnsMessage& m, uint8_t family, const uint8_t* bytes, uint32_t ttl, int owner,
                 AddressSource source) noexcept {
  if (m.address_count == kMaxAddresses) {
    ++m.skipped_records;
    return;
  }
  DnsAddress& a = m.addresses[m.address_count++];
  a.family = family;
  a.addr = {};
  std::copy_n(bytes, family == 4 ? 4 : 16, a.addr.begin());
  a.ttl = ttl;
  a.owner = uint8_t(owner);
  a.source = source;
}

// RFC 9460 ServiceMode records: the ipv4hint (key 4) and ipv6hint (key 6)
// addresses, bound to the record's owner. AliasMode (priority 0) carries no
// addresses. Returns false when the RDATA is malformed.
bool read_svcb_hints(std::span<const uint8_t> msg, const Record& rec, uint32_t ttl, int owner,
                     DnsMessage& m) noexcept {
  std::span<const uint8_t> rdata = msg.subspan(rec.rdata, rec.rdlength);
  if (rdata.size() < 3) return false;
  if (be16(rdata.data()) == 0) return true;
  // The TargetName is never compressed (RFC 9460 2.2): read it inside the
  // RDATA alone, where a pointer has nowhere to go.
  DnsName target;
  NameRead name = read_name(rdata, 2, target);
  if (name.error != DnsError::none) return false;
  std::size_t at = name.next;
  while (at < rdata.size()) {
    if (at + 4 > rdata.size()) return false;
    uint16_t key = be16(rdata.data() + at);
    std::size_t len = be16(rdata.data() + at + 2);
    at += 4;
    if (at + len > rdata.size()) return false;
    std::size_t width = key == 4 ? 4 : key == 6 ? 16 : 0;
    if (width) {
      if (len == 0 || len % width) return false;
      for (std::size_t i = 0; i < len; i += width) {
        add_address(m, width == 4 ? 4 : 6, rdata.data() + at + i, ttl, owner, AddressSource::svcb_hint);
      }
    }
    at += len;
  }
  return true;
}

}  // namespace

std::string_view dns_error_name(DnsError e) noexcept {
  auto i = std::size_t(e);
  return i < kDnsErrorCount ? kErrorNames[i] : "unknown";
}

std::string_view dns_error_text(DnsError e) noexcept {
  auto i = std::size_t(e);
  return i < kDnsErrorCount ? kErrorTexts[i] : "unknown";
}

DnsError parse_dns(std::span<const uint8_t> msg, DnsMessage& m) noexcept {
  m.chain_len = 0;
  m.address_count = 0;
  m.skipped_records = 0;
  if (msg.size() < kHeaderSize) return DnsError::short_header;
  const uint8_t* h = msg.data();
  m.id = be16(h);
  m.response = h[2] & 0x80;
  m.opcode = (h[2] >> 3) & 0x0f;
  m.truncated = h[2] & 0x02;
  m.rcode = h[3] & 0x0f;
  uint16_t qdcount = be16(h + 4);
  uint16_t ancount = be16(h + 6);
  if (m.opcode != 0) return DnsError::not_query_opcode;
  if (qdcount != 1) return DnsError::question_count;

  NameRead q = read_name(msg, kHeaderSize, m.chain[0]);
  if (q.error != DnsError::none) return q.error == DnsError::bad_name ? DnsError::truncated_question : q.error;
  if (!q.printable) return DnsError::name_charset;
  if (q.next + 4 > msg.size()) return DnsError::truncated_question;
  m.qtype = be16(msg.data() + q.next);
  m.qclass = be16(msg.data() + q.next + 2);
  m.chain_len = 1;
  if (!m.response) return DnsError::none;

  std::array<Record, kMaxRecords> records;
  unsigned count = 0;
  DnsError error = read_answers(msg, q.next + 4, ancount, m.truncated, records, count);
  if (error != DnsError::none) return error;
  if (ancount > count) m.skipped_records = uint16_t(ancount - count);

  // The chain from the question's name through the CNAMEs, whatever the
  // order of the records. Each link is looked for among the records' hashes
  // and confirmed on the names themselves; a name already in the chain ends
  // it (a CNAME loop).
  std::array<uint32_t, kMaxChain> path_ttl{};
  std::array<int, kMaxRecords> link_of{};  // chain index a CNAME record links from, or -1
  link_of.fill(-1);
  std::array<std::size_t, kMaxChain> hashes{};
  hashes[0] = name_hash(m.chain[0]);
  path_ttl[0] = kMaxTtl;
  while (m.chain_len < kMaxChain) {
    const DnsName& tail = m.chain[m.chain_len - 1];
    unsigned r = 0;
    while (r < count && !(records[r].type == kTypeCname && records[r].klass == kClassIn && records[r].printable &&
                          link_of[r] < 0 && owner_is(msg, records[r], tail, hashes[m.chain_len - 1])))
      ++r;
    if (r == count) break;
    DnsName& target = m.chain[m.chain_len];
    read_name(msg.first(records[r].rdata + records[r].rdlength), records[r].rdata, target);
    bool loops = false;
    for (int i = 0; i < m.chain_len; ++i) loops = loops || m.chain[i] == target;
    if (loops) break;
    link_of[r] = m.chain_len - 1;
    hashes[m.chain_len] = records[r].target_hash;
    path_ttl[m.chain_len] = std::min(path_ttl[m.chain_len - 1], records[r].ttl);
    ++m.chain_len;
  }

  // The addresses of the chain's names; everything else is counted.
  for (unsigned r = 0; r < count; ++r) {
    const Record& rec = records[r];
    if (link_of[r] >= 0) continue;
    bool address_type = rec.type == kTypeA || rec.type == kTypeAaaa || rec.type == kTypeHttps || rec.type == kTypeSvcb;
    int owner = address_type && rec.klass == kClassIn && rec.printable ? chain_index(msg, m, hashes, rec) : -1;
    if (owner < 0) {
      ++m.skipped_records;
      continue;
    }
    uint32_t ttl = std::min(path_ttl[owner], rec.ttl);
    const uint8_t* rdata = msg.data() + rec.rdata;
    if (rec.type == kTypeA && rec.rdlength == 4) {
      add_address(m, 4, rdata, ttl, owner, AddressSource::a);
    } else if (rec.type == kTypeAaaa && rec.rdlength == 16) {
      add_address(m, 6, rdata, ttl, owner, AddressSource::aaaa);
    } else if (rec.type == kTypeA || rec.type == kTypeAaaa || !read_svcb_hints(msg, rec, ttl, owner, m)) {
      ++m.skipped_records;
    }
  }
  return DnsError::none;
}

}  // namespace bulkhead::dataplane::names
