// The DNS snooping stage (dataplane/names/snoop.h) over a sequence of
// frames of a few connections, as a worker hands them over: whatever the
// frames, it reads inside them, and every binding it makes is of a name the
// policy mentions, in canonical form, within the table's bounds.
//
// Input: records of [flags][length: 2 bytes][frame]. Flags: bit 0, the frame
// travels in its connection's opening direction; bit 1, it is the
// connection's first packet; bits 2-4, which of 8 connections it is.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "dataplane/names/policy_names.h"
#include "dataplane/names/snoop.h"
#include "proto/names.pb.h"
#include "rules/names.h"

using namespace bulkhead;
using namespace bulkhead::dataplane::names;

namespace {

const PolicyNames& policy() {
  static const std::unique_ptr<PolicyNames> names = [] {
    pb::CompiledRuleSet set;
    auto* r = set.add_rules();
    r->set_id("names");
    r->add_fqdn("api.example.com");
    r->add_fqdn("*.example.net");
    auto* p = set.mutable_names()->add_trusted_resolvers();
    p->set_addr(std::string("\x0a\x00\x00\x35", 4));  // 10.0.0.53
    p->set_prefix_len(32);
    set.mutable_names()->set_grace_seconds(60);
    std::string error;
    auto built = PolicyNames::build(set, error);
    if (!built) std::abort();
    return built;
  }();
  return *names;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const uint64_t secrets[6] = {1, 2, 3, 4, 5, 6};
  static const BindingTable::Limits limits{.bindings = 64, .names = 16, .max_addresses_per_name = 8};
  BindingTable table(limits, dataplane::KeyedHash::with_secrets(secrets));
  static DnsSnoop* snoop = new DnsSnoop;  // its memory is large: made once, its entries told apart by connection
  static uint32_t run = 0;
  ++run;
  const PolicyNames& names = policy();
  uint32_t now_ms = 1000;
  for (size_t at = 0; at + 3 <= size;) {
    const uint8_t flags = data[at];
    const size_t len = std::min<size_t>(size - at - 3, size_t{data[at + 1]} << 8 | data[at + 2]);
    const uint8_t* frame = data + at + 3;
    at += 3 + len;
    dataplane::PacketMeta m{};
    dataplane::parse_packet(frame, static_cast<uint32_t>(len), m);
    if (m.kind != dataplane::PacketKind::ip || !DnsSnoop::wanted(m, flags & 2)) continue;
    SnoopPacket p;
    p.frame = frame;
    p.len = static_cast<uint32_t>(len);
    p.meta = &m;
    p.conn = (flags >> 2) & 7;
    p.conn_hash = static_cast<uint32_t>(p.conn) * 2654435761u;
    p.conn_created_ms = run;  // each input's connections are new ones
    p.from_opener = flags & 1;
    p.first = flags & 2;
    snoop->read(p, names, table, now_ms++, 100);
  }
  if (table.live_bindings() > table.bucket_count() * BindingTable::kSlotsPerBucket || table.live_names() > limits.names)
    std::abort();
  pb::NameBindings saved;
  table.save(100, 1'700'000'000, saved);
  std::string error;
  for (const auto& b : saved.bindings()) {
    const auto canonical = rules::canonical_name(b.name(), error);
    if (!names.mentions(b.name()) || !canonical || *canonical != b.name()) std::abort();
    if (b.expires_unix() > 1'700'000'000 + int64_t{kMaxBindingTtl} + 60) std::abort();
  }
  return 0;
}
