#include "dataplane/flow_record.h"

namespace bulkhead::dataplane {
namespace {

template <class T>
T load(const T& v) noexcept {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}

// The names of a record: the binding that bore on its decision, its
// server name, and why, in words.
void set_names(const NameNote& n, pb::FlowRecord& r) {
  switch (static_cast<NameOutcome>(n.outcome)) {
    case NameOutcome::none:
      break;
    case NameOutcome::bound:
      r.set_dns_name(std::string(n.text()));
      r.set_dns_age_s(n.age_s);
      r.set_name_reason("answered for " + r.dns_name() + " " + std::to_string(n.age_s) + " s before");
      break;
    case NameOutcome::no_answer:
      r.set_name_reason("no DNS answer seen for this address");
      break;
    case NameOutcome::not_allowed:
      r.set_dns_name(std::string(n.text()));
      r.set_dns_age_s(n.age_s);
      r.set_name_reason("answered for " + r.dns_name() + ", not allowed");
      break;
  }
  if (n.sni_len != 0) {
    r.set_sni(std::string(n.sni, n.sni_len));
    if (n.sni_cut && r.name_reason().empty()) r.set_name_reason("server name " + r.sni() + ", not allowed");
  }
}

}  // namespace

FlowEvent connection_event(const ConnKey& key, const ConnEntry& e, uint8_t kind, int end_reason,
                           uint32_t now_ms) noexcept {
  FlowEvent ev{};
  ev.tuple = opened_tuple(key, e);
  ev.tenant = key.tenant;
  const uint8_t o = e.orig_dir, r = static_cast<uint8_t>(1 - e.orig_dir);
  ev.rule = load(e.rule);
  ev.epoch = load(e.epoch);
  ev.start_ms = e.created_ms;
  ev.time_ms = kind == pb::FlowRecord::END ? newest(e) : now_ms;
  if (kind != pb::FlowRecord::START) {
    ev.packets[0] = load(e.packets[o]);
    ev.packets[1] = load(e.packets[r]);
    ev.bytes[0] = load(e.bytes[o]);
    ev.bytes[1] = load(e.bytes[r]);
  }
  ev.flags[0] = load(e.flags_seen[o]);
  ev.flags[1] = load(e.flags_seen[r]);
  ev.kind = kind;
  const ConnVerdict v = conn_verdict(e);
  ev.verdict = v == ConnVerdict::allowed ? pb::FlowRecord::ALLOWED : pb::FlowRecord::WOULD_DENY;
  ev.mode = static_cast<uint8_t>(v == ConnVerdict::audit_denied ? Mode::audit
                                 : v == ConnVerdict::learned    ? Mode::learn
                                                                : Mode::enforce);
  ev.end_reason = static_cast<uint8_t>(end_reason);
  ev.opener_known = e.opener_known;
  return ev;
}

unsigned pack_note(const NameNote& n, FlowEvent* slots) noexcept {
  auto* out = reinterpret_cast<unsigned char*>(slots);
  const auto byte = [](uint32_t v, int shift) { return static_cast<unsigned char>(v >> shift); };
  const unsigned char head[kNoteHeader] = {n.outcome,        n.len,            n.sni_len,         n.sni_cut,
                                           byte(n.age_s, 0), byte(n.age_s, 8), byte(n.age_s, 16), byte(n.age_s, 24)};
  std::memcpy(out, head, kNoteHeader);
  std::memcpy(out + kNoteHeader, n.name, n.len);
  std::memcpy(out + kNoteHeader + n.len, n.sni, n.sni_len);
  return static_cast<unsigned>((kNoteHeader + n.len + n.sni_len + sizeof(FlowEvent) - 1) / sizeof(FlowEvent));
}

bool unpack_note(const FlowEvent* slots, unsigned count, NameNote& n) noexcept {
  const auto* in = reinterpret_cast<const unsigned char*>(slots);
  const std::size_t room = std::size_t{count} * sizeof(FlowEvent);
  if (count == 0 || count > kMaxNoteSlots) return false;
  n.outcome = in[0];
  n.len = in[1];
  n.sni_len = in[2];
  n.sni_cut = in[3] != 0;
  n.age_s = uint32_t{in[4]} | uint32_t{in[5]} << 8 | uint32_t{in[6]} << 16 | uint32_t{in[7]} << 24;
  // sni_len fits sni whatever its value (255 bytes).
  if (n.outcome > static_cast<uint8_t>(NameOutcome::not_allowed) || n.len > names::kMaxNameText ||
      kNoteHeader + n.len + n.sni_len > room)
    return false;
  std::memcpy(n.name, in + kNoteHeader, n.len);
  std::memcpy(n.sni, in + kNoteHeader + n.len, n.sni_len);
  return true;
}

void make_flow_record(const FlowEvent& ev, const NameNote* note, const FlowContext* ctx, uint32_t clock_now_ms,
                      int64_t unix_now_ms, pb::FlowRecord& r) {
  const size_t len = ev.tuple.family == 6 ? 16 : 4;
  auto unix_of = [&](uint32_t t) {
    return unix_now_ms - static_cast<int64_t>(static_cast<uint32_t>(clock_now_ms - t));
  };
  r.set_kind(static_cast<pb::FlowRecord::Kind>(ev.kind));
  r.set_time_ms(unix_of(ev.time_ms));
  r.set_start_ms(unix_of(ev.start_ms));
  r.set_src(reinterpret_cast<const char*>(ev.tuple.src), len);
  r.set_dst(reinterpret_cast<const char*>(ev.tuple.dst), len);
  r.set_protocol(ev.tuple.proto);
  r.set_src_port(ev.tuple.sport);
  r.set_dst_port(ev.tuple.dport);
  r.set_verdict(static_cast<pb::FlowRecord::Verdict>(ev.verdict));
  r.set_opener_known(ev.opener_known != 0);
  r.set_packets_out(ev.packets[0]);
  r.set_bytes_out(ev.bytes[0]);
  r.set_packets_in(ev.packets[1]);
  r.set_bytes_in(ev.bytes[1]);
  r.set_tcp_flags_out(ev.flags[0]);
  r.set_tcp_flags_in(ev.flags[1]);
  r.set_end_reason(static_cast<pb::FlowRecord::EndReason>(ev.end_reason));
  if (note != nullptr) set_names(*note, r);
  if (ctx == nullptr) {
    r.set_mode(mode_name(Mode::enforce));
    return;
  }
  // A denial forwarded by a rule's own mode says that mode, whatever the set's.
  r.set_mode(mode_name(ev.verdict == pb::FlowRecord::WOULD_DENY && ev.mode != 0 ? static_cast<Mode>(ev.mode)
                                                                                : ctx->mode));
  r.set_generation(ctx->generation);
  if (ev.rule != kNoRule && ev.rule < ctx->rule_ids.size()) r.set_rule_id(ctx->rule_ids[ev.rule]);
  r.set_src_segment(ctx->segments.name(ctx->segments.find(ev.tuple.family, ev.tuple.src)));
  r.set_dst_segment(ctx->segments.name(ctx->segments.find(ev.tuple.family, ev.tuple.dst)));
}

}  // namespace bulkhead::dataplane
