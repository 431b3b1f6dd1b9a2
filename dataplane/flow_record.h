// Flow records: what the dataplane reports about connections and denied
// packets, built in one place.
//
// A worker puts a FlowEvent on its ring (fixed size, no allocation),
// made by connection_event() for a connection; an event whose decision
// names bore on carries its NameNote packed into the slots after it
// (pack_note), so the many events without names stay one small slot. The
// exporter's thread turns it into a pb::FlowRecord with make_flow_record()
// under the FlowContext of the rule set that judged it (rule ids, segments,
// generation). The offline capture reader (controlplane/flows/pcap_flows)
// builds its records through the same function, so a record from a capture
// and one from the wire cannot differ in shape. Pure: no DPDK.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dataplane/connection.h"
#include "dataplane/names/dns.h"
#include "dataplane/packet.h"
#include "dataplane/verdict.h"
#include "proto/bulkhead.pb.h"
#include "rules/segment_index.h"

namespace bulkhead::dataplane {

// How DNS bindings bore on a decision by a rule written with names.
enum class NameOutcome : uint8_t {
  none = 0,     // no rule with `fqdn` was in reach
  bound,        // admitted: the destination was answered for `name`, `age_s` seconds before
  no_answer,    // no DNS answer bound the destination for this client
  not_allowed,  // answered for `name` (one of the names), which no rule in reach allows
};

// The attribution of one decision, as the worker holds it (fixed size); on
// the flow ring it travels packed to its length (pack_note).
struct NameNote {
  uint8_t outcome = 0;  // NameOutcome
  uint8_t len = 0;
  uint32_t age_s = 0;
  char name[names::kMaxNameText];

  void set(NameOutcome o, std::string_view n, uint32_t age) noexcept {
    outcome = static_cast<uint8_t>(o);
    len = static_cast<uint8_t>(std::min(n.size(), names::kMaxNameText));
    n.copy(name, len);  // not memcpy: an empty view may hold no pointer
    age_s = age;
  }
  std::string_view text() const noexcept { return {name, len}; }

  // A rule with sni: the server name its ClientHello was judged by.
  uint8_t sni_len = 0;
  bool sni_cut = false;
  char sni[255];
  void set_sni(std::string_view s, bool cut) noexcept {
    sni_len = static_cast<uint8_t>(std::min<std::size_t>(s.size(), sizeof sni));
    s.copy(sni, sni_len);
    sni_cut = cut;
  }
};

// A connection opened, is still going, ended, or a packet was denied. The
// tuple is the opener's view (source = the side that opened it); counters
// are [opener->, <-opener]. Times are on the worker clock (ms, wrapping).
struct FlowEvent {
  FlowTuple tuple;
  uint32_t rule;
  uint32_t epoch;
  uint32_t start_ms;
  uint32_t time_ms;
  uint32_t packets[2];
  uint64_t bytes[2];
  uint8_t kind;        // pb::FlowRecord::Kind
  uint8_t verdict;     // pb::FlowRecord::Verdict
  uint8_t end_reason;  // pb::FlowRecord::EndReason
  uint8_t opener_known;
  uint8_t flags[2];
  uint16_t tenant;     // ConnKey::tenant
  uint8_t mode;        // WOULD_DENY under a rule of its own mode: that Mode (audit, learn); else 0
  uint8_t note_slots;  // ring slots after this one holding its NameNote, packed (0: none)
};
static_assert(std::is_trivially_copyable_v<FlowEvent>, "copied as bytes through rte_ring");

// A NameNote packed for the flow ring: a header, the name, the server
// name, in as many FlowEvent-sized slots as that takes (1 for a usual
// name; kMaxNoteSlots at most). An event and its note's slots go on the
// ring in one bulk enqueue, so the exporter finds all of them or none: a
// note is never lost apart from its record, nor given to another.
inline constexpr std::size_t kNoteHeader = 8;
inline constexpr unsigned kMaxNoteSlots =
    (kNoteHeader + names::kMaxNameText + sizeof(NameNote::sni) + sizeof(FlowEvent) - 1) / sizeof(FlowEvent);
// Writes `n` into `slots` (room for kMaxNoteSlots); returns the slots used.
unsigned pack_note(const NameNote& n, FlowEvent* slots) noexcept;
// Reads the note pack_note() wrote into `count` slots; false when they do
// not hold one.
bool unpack_note(const FlowEvent* slots, unsigned count, NameNote& n) noexcept;

// The event of connection `key` (kind START, UPDATE or END; `end_reason`
// for an END) at `now_ms` on the worker clock: the opener's tuple, its rule
// and verdict, counters and flags [opener->, <-opener] (none in a START).
// Reads the fields other threads write with relaxed atomic loads, so a
// worker may call it on an entry of the shared table.
FlowEvent connection_event(const ConnKey& key, const ConnEntry& e, uint8_t kind, int end_reason,
                           uint32_t now_ms) noexcept;

// What a record needs to know of the rule set that judged it.
struct FlowContext {
  uint64_t generation = 0;
  Mode mode = Mode::enforce;
  std::vector<std::string> rule_ids;
  rules::SegmentIndex segments;
};

// Fills `r` from `ev` and its `note` (nullptr: none). Event times are in the recent past of the clock
// that reads `clock_now_ms` at the unix time `unix_now_ms`. Without a
// context the record has no rule id, segments or generation.
void make_flow_record(const FlowEvent& ev, const NameNote* note, const FlowContext* ctx, uint32_t clock_now_ms,
                      int64_t unix_now_ms, pb::FlowRecord& r);

}  // namespace bulkhead::dataplane
