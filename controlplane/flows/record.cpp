#include "controlplane/flows/record.h"

#include <algorithm>
#include <array>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "common/protocols.h"
#include "controlplane/flows/community_id.h"
#include "rules/match.h"
#include "rules/policy.h"
#include "rules/prefix.h"

namespace bulkhead::controlplane::flows {
namespace {

constexpr int64_t kYear2000Ms = 946684800000;
constexpr int64_t kYear2200Ms = 7258118400000;
constexpr uint16_t kEphemeralLow = 32768;

bool port_ok(uint32_t p) { return p <= 65535; }

// An endpoint of a flow: address bytes, protocol, port.
std::string endpoint(const std::string& addr, uint32_t proto, uint32_t port) {
  std::string k = addr;
  k += static_cast<char>(proto);
  k += static_cast<char>(port >> 8);
  k += static_cast<char>(port & 0xFF);
  return k;
}

}  // namespace

bool validate(const pb::FlowRecord& r, std::string& why) {
  if (r.kind() < pb::FlowRecord::START || r.kind() > pb::FlowRecord::DENIED) {
    why = "unknown record kind " + std::to_string(r.kind());
    return false;
  }
  if (r.verdict() < pb::FlowRecord::ALLOWED || r.verdict() > pb::FlowRecord::WOULD_DENY) {
    why = "unknown verdict " + std::to_string(r.verdict());
    return false;
  }
  if (!pb::FlowRecord::EndReason_IsValid(r.end_reason())) {
    why = "unknown end reason " + std::to_string(r.end_reason());
    return false;
  }
  if (!((r.src().size() == 4 && r.dst().size() == 4) || (r.src().size() == 16 && r.dst().size() == 16))) {
    why = "addresses of " + std::to_string(r.src().size()) + " and " + std::to_string(r.dst().size()) +
          " bytes (want 4 and 4, or 16 and 16)";
    return false;
  }
  if (r.protocol() > 255) {
    why = "protocol " + std::to_string(r.protocol()) + " out of range";
    return false;
  }
  if (!port_ok(r.src_port()) || !port_ok(r.dst_port())) {
    why = "port out of range";
    return false;
  }
  if (r.time_ms() < kYear2000Ms || r.time_ms() > kYear2200Ms ||
      (r.start_ms() != 0 && (r.start_ms() < kYear2000Ms || r.start_ms() > r.time_ms()))) {
    why = "implausible time";
    return false;
  }
  if (r.tcp_flags_out() > 0xFF || r.tcp_flags_in() > 0xFF) {
    why = "TCP flags out of range";
    return false;
  }
  if (r.mode() != "enforce" && r.mode() != "audit" && r.mode() != "learn") {
    why = "unknown mode '" + r.mode().substr(0, 16) + "'";
    return false;
  }
  if (r.src_segment().size() > 64 || r.dst_segment().size() > 64 || r.rule_id().size() > 256) {
    why = "name too long";
    return false;
  }
  if ((!r.dns_name().empty() && !plausible_name(r.dns_name())) || (!r.sni().empty() && !plausible_name(r.sni())) ||
      r.name_reason().size() > 512 || r.dns_age_s() > 10u * 365 * 24 * 3600) {
    why = "implausible name, age or reason";
    return false;
  }
  return true;
}

bool plausible_name(const std::string& name) {
  return !name.empty() && name.size() <= 253 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

void swap_sides(pb::FlowRecord& r) {
  std::string a = r.src();
  r.set_src(r.dst());
  r.set_dst(a);
  const uint32_t sp = r.src_port();
  r.set_src_port(r.dst_port());
  r.set_dst_port(sp);
  std::string s = r.src_segment();
  r.set_src_segment(r.dst_segment());
  r.set_dst_segment(s);
  const uint64_t po = r.packets_out(), bo = r.bytes_out();
  r.set_packets_out(r.packets_in());
  r.set_bytes_out(r.bytes_in());
  r.set_packets_in(po);
  r.set_bytes_in(bo);
  const uint32_t fo = r.tcp_flags_out();
  r.set_tcp_flags_out(r.tcp_flags_in());
  r.set_tcp_flags_in(fo);
}

template <class Records>
size_t orient(Records& records, bool by_peers) {
  // Distinct peers of every endpoint of an unoriented record (capped: only
  // "few" against "many" matters).
  constexpr size_t kCap = 64;
  std::unordered_map<std::string, std::unordered_set<std::string>> peers;
  for (const auto& r : records) {
    if (!by_peers || r.opener_known() || !common::has_ports(static_cast<uint8_t>(r.protocol()))) continue;
    auto& a = peers[endpoint(r.src(), r.protocol(), r.src_port())];
    if (a.size() < kCap) a.insert(r.dst());
    auto& b = peers[endpoint(r.dst(), r.protocol(), r.dst_port())];
    if (b.size() < kCap) b.insert(r.src());
  }
  size_t swapped = 0;
  for (auto& r : records) {
    if (r.opener_known() || !common::has_ports(static_cast<uint8_t>(r.protocol()))) continue;
    const uint32_t sp = r.src_port(), dp = r.dst_port();
    bool src_is_service = false;
    if ((sp < 1024) != (dp < 1024)) {
      src_is_service = sp < 1024;
    } else {
      const size_t ps = by_peers ? peers[endpoint(r.src(), r.protocol(), sp)].size() : 0;
      const size_t pd = by_peers ? peers[endpoint(r.dst(), r.protocol(), dp)].size() : 0;
      if (ps >= 3 && ps >= 2 * pd) src_is_service = true;
      else if (pd >= 3 && pd >= 2 * ps) src_is_service = false;
      else if ((sp >= kEphemeralLow) != (dp >= kEphemeralLow)) src_is_service = dp >= kEphemeralLow;
    }
    if (src_is_service) {
      swap_sides(r);
      ++swapped;
    }
  }
  return swapped;
}

template size_t orient(std::vector<pb::FlowRecord>&, bool);
template size_t orient(google::protobuf::RepeatedPtrField<pb::FlowRecord>&, bool);

std::string format_address(const std::string& bytes) {
  std::array<uint8_t, 16> a{};
  std::copy_n(bytes.begin(), std::min<size_t>(bytes.size(), 16), a.begin());
  return rules::format_address(bytes.size() == 16 ? 6 : 4, a);
}

bool parse_address(const std::string& text, std::string& bytes) {
  uint8_t family = 0;
  std::array<uint8_t, 16> a{};
  if (!rules::parse_address(text, family, a)) return false;
  bytes.assign(reinterpret_cast<const char*>(a.data()), family == 6 ? 16 : 4);
  return true;
}

std::string community_id(const pb::FlowRecord& r) {
  return community_id(r.src(), r.dst(), static_cast<uint8_t>(r.protocol()), static_cast<uint16_t>(r.src_port()),
                      static_cast<uint16_t>(r.dst_port()));
}

const char* kind_name(pb::FlowRecord::Kind k) {
  switch (k) {
    case pb::FlowRecord::START: return "start";
    case pb::FlowRecord::UPDATE: return "update";
    case pb::FlowRecord::END: return "end";
    case pb::FlowRecord::DENIED: return "denied";
    default: return "unknown";
  }
}

const char* verdict_name(pb::FlowRecord::Verdict v) {
  switch (v) {
    case pb::FlowRecord::ALLOWED: return "allowed";
    case pb::FlowRecord::DENY: return "denied";
    case pb::FlowRecord::WOULD_DENY: return "would-deny";
    default: return "unknown";
  }
}

const char* end_reason_name(pb::FlowRecord::EndReason r) {
  switch (r) {
    case pb::FlowRecord::TIMEOUT: return "timeout";
    case pb::FlowRecord::CLOSED: return "closed";
    case pb::FlowRecord::RESET: return "reset";
    case pb::FlowRecord::REVOKED: return "revoked";
    default: return "";
  }
}

nlohmann::ordered_json json_object(const pb::FlowRecord& r, const std::string& dataplane) {
  nlohmann::ordered_json j;
  j["time_ms"] = r.time_ms();
  j["event"] = kind_name(r.kind());
  j["dataplane"] = dataplane;
  if (!r.tenant().empty()) j["tenant"] = r.tenant();
  j["src"] = format_address(r.src());
  j["src_port"] = r.src_port();
  j["dst"] = format_address(r.dst());
  j["dst_port"] = r.dst_port();
  j["proto"] = rules::proto_name(static_cast<uint8_t>(r.protocol()));
  j["community_id"] = community_id(r);
  if (!r.src_segment().empty()) j["src_segment"] = r.src_segment();
  if (!r.dst_segment().empty()) j["dst_segment"] = r.dst_segment();
  j["verdict"] = verdict_name(r.verdict());
  j["rule"] = r.rule_id().empty() ? "(default)" : r.rule_id();
  j["mode"] = r.mode();
  j["generation"] = r.generation();
  // Rules written with names: which name the destination was answered for
  // and why that decided (docs/egress.md); absent when no such rule was in reach.
  if (!r.dns_name().empty()) {
    j["dns_name"] = r.dns_name();
    j["dns_age_s"] = r.dns_age_s();
  }
  if (!r.sni().empty()) j["sni"] = r.sni();
  if (!r.name_reason().empty()) j["name_reason"] = r.name_reason();
  if (r.kind() == pb::FlowRecord::UPDATE || r.kind() == pb::FlowRecord::END || r.kind() == pb::FlowRecord::DENIED) {
    j["start_ms"] = r.start_ms();
    j["packets_out"] = r.packets_out();
    j["bytes_out"] = r.bytes_out();
    if (r.kind() != pb::FlowRecord::DENIED) {
      j["packets_in"] = r.packets_in();
      j["bytes_in"] = r.bytes_in();
    }
    if (r.protocol() == common::kProtoTcp) {
      j["tcp_flags_out"] = r.tcp_flags_out();
      if (r.kind() != pb::FlowRecord::DENIED) j["tcp_flags_in"] = r.tcp_flags_in();
    }
  }
  if (r.kind() == pb::FlowRecord::END) j["end_reason"] = end_reason_name(r.end_reason());
  return j;
}

nlohmann::ordered_json json_object(const pb::FlowAggregate& a) {
  nlohmann::ordered_json j;
  j["src"] = format_address(a.src());
  j["dst"] = format_address(a.dst());
  j["proto"] = rules::proto_name(static_cast<uint8_t>(a.protocol()));
  j["dst_port"] = a.dst_port();
  if (!a.src_segment().empty()) j["src_segment"] = a.src_segment();
  if (!a.dst_segment().empty()) j["dst_segment"] = a.dst_segment();
  j["flows"] = a.flows();
  j["packets"] = a.packets();
  j["bytes"] = a.bytes();
  j["first_ms"] = a.first_ms();
  j["last_ms"] = a.last_ms();
  j["allowed"] = a.allowed();
  j["denied"] = a.denied();
  j["would_deny"] = a.would_deny();
  j["learnable"] = a.learnable();
  j["answered"] = a.answered();
  j["unanswered"] = a.unanswered();
  if (a.dns_names_size() > 0) j["dns_names"] = std::vector<std::string>(a.dns_names().begin(), a.dns_names().end());
  if (a.server_names_size() > 0)
    j["server_names"] = std::vector<std::string>(a.server_names().begin(), a.server_names().end());
  return j;
}

std::string dump(const nlohmann::ordered_json& j) {
  // Names from outside (rule ids, segments) are UTF-8 by protobuf's rules;
  // anything else is replaced rather than thrown over.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string to_json(const pb::FlowRecord& r, const std::string& dataplane) { return dump(json_object(r, dataplane)); }

std::string to_json(const pb::FlowAggregate& a) { return dump(json_object(a)); }

}  // namespace bulkhead::controlplane::flows
