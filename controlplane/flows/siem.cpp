#include "controlplane/flows/siem.h"


#include "common/protocols.h"
#include "common/time.h"
#include "controlplane/flows/record.h"
#include "rules/match.h"

namespace bulkhead::controlplane::flows {
namespace {

constexpr const char* kProduct = "Bulkhead";
constexpr const char* kEcsVersion = "8.11.0";
constexpr const char* kOcsfVersion = "1.1.0";

bool has_counts(const pb::FlowRecord& r) { return r.kind() != pb::FlowRecord::START; }
bool blocked(const pb::FlowRecord& r) { return r.verdict() == pb::FlowRecord::DENY; }

// ECS network.direction from the segments the policy knows: both sides in
// segments is internal traffic, the opener's only outbound, the other's
// only inbound.
const char* ecs_direction(const pb::FlowRecord& r) {
  const bool s = !r.src_segment().empty(), d = !r.dst_segment().empty();
  return s && d ? "internal" : s ? "outbound" : d ? "inbound" : "unknown";
}

const char* ecs_action(pb::FlowRecord::Kind k) {
  switch (k) {
    case pb::FlowRecord::START: return "flow-start";
    case pb::FlowRecord::UPDATE: return "flow-update";
    case pb::FlowRecord::END: return "flow-end";
    case pb::FlowRecord::DENIED: return "packet-denied";
    default: return "unknown";
  }
}

std::string rule_name(const pb::FlowRecord& r) { return r.rule_id().empty() ? "(default)" : r.rule_id(); }

}  // namespace

bool parse_log_format(std::string_view text, LogFormat& out) {
  if (text == "native") out = LogFormat::native;
  else if (text == "ecs") out = LogFormat::ecs;
  else if (text == "ocsf") out = LogFormat::ocsf;
  else return false;
  return true;
}

const char* log_format_name(LogFormat f) {
  switch (f) {
    case LogFormat::ecs: return "ecs";
    case LogFormat::ocsf: return "ocsf";
    case LogFormat::native: break;
  }
  return "native";
}

nlohmann::ordered_json ecs_object(const pb::FlowRecord& r, const std::string& dataplane) {
  using J = nlohmann::ordered_json;
  J j;
  j["@timestamp"] = common::format_iso8601_ms(r.time_ms());
  J event;
  event["kind"] = "event";
  event["category"] = J::array({"network"});
  const bool denied = r.kind() == pb::FlowRecord::DENIED || blocked(r);
  J type = J::array({"connection"});
  type.push_back(r.kind() == pb::FlowRecord::START ? "start"
                 : r.kind() == pb::FlowRecord::END ? "end"
                 : denied                          ? "denied"
                                                   : "info");
  if (!denied) type.push_back("allowed");
  event["type"] = type;
  event["action"] = ecs_action(r.kind());
  event["outcome"] = blocked(r) ? "failure" : "success";
  if (has_counts(r)) event["start"] = common::format_iso8601_ms(r.start_ms());
  if (r.kind() == pb::FlowRecord::END) event["end"] = common::format_iso8601_ms(r.time_ms());
  if (!r.name_reason().empty()) event["reason"] = r.name_reason();  // which name decided (docs/egress.md)
  j["event"] = event;
  const auto side = [&](const std::string& addr, uint32_t port, const std::string& segment, uint64_t packets,
                        uint64_t bytes) {
    J s;
    s["ip"] = format_address(addr);
    if (common::has_ports(static_cast<uint8_t>(r.protocol()))) s["port"] = port;
    if (has_counts(r)) {
      s["packets"] = packets;
      s["bytes"] = bytes;
    }
    if (!segment.empty()) s["domain"] = segment;
    return s;
  };
  j["source"] = side(r.src(), r.src_port(), r.src_segment(), r.packets_out(), r.bytes_out());
  j["destination"] = side(r.dst(), r.dst_port(), r.dst_segment(), r.packets_in(), r.bytes_in());
  J net;
  net["transport"] = rules::proto_name(static_cast<uint8_t>(r.protocol()));
  net["iana_number"] = std::to_string(r.protocol());
  net["type"] = r.src().size() == 16 ? "ipv6" : "ipv4";
  net["direction"] = ecs_direction(r);
  net["community_id"] = community_id(r);
  if (has_counts(r)) {
    net["packets"] = r.packets_out() + r.packets_in();
    net["bytes"] = r.bytes_out() + r.bytes_in();
  }
  j["network"] = net;
  j["rule"] = {{"id", r.rule_id().empty() ? "-" : r.rule_id()}, {"name", rule_name(r)}, {"ruleset", std::to_string(r.generation())}};
  if (!r.sni().empty()) j["tls"] = {{"client", {{"server_name", r.sni()}}}};
  j["observer"] = {{"name", dataplane}, {"type", "firewall"}, {"vendor", kProduct}, {"product", kProduct}};
  j["labels"] = {{"verdict", verdict_name(r.verdict())}, {"mode", r.mode()}};
  if (!r.dns_name().empty()) j["labels"]["dns_name"] = r.dns_name();
  j["ecs"] = {{"version", kEcsVersion}};
  return j;
}

nlohmann::ordered_json ocsf_object(const pb::FlowRecord& r, const std::string& dataplane) {
  using J = nlohmann::ordered_json;
  // Network Activity's activities: 1 Open, 2 Close, 3 Reset, 5 Refuse, 6 Traffic.
  int activity = 6;
  const char* activity_name = "Traffic";
  switch (r.kind()) {
    case pb::FlowRecord::START: activity = 1, activity_name = "Open"; break;
    case pb::FlowRecord::END:
      if (r.end_reason() == pb::FlowRecord::RESET) activity = 3, activity_name = "Reset";
      else activity = 2, activity_name = "Close";
      break;
    case pb::FlowRecord::DENIED: activity = 5, activity_name = "Refuse"; break;
    default: break;
  }
  J j;
  j["class_uid"] = 4001;
  j["class_name"] = "Network Activity";
  j["category_uid"] = 4;
  j["category_name"] = "Network Activity";
  j["activity_id"] = activity;
  j["activity_name"] = activity_name;
  j["type_uid"] = 400100 + activity;
  j["time"] = r.time_ms();
  j["severity_id"] = 1;
  j["severity"] = "Informational";
  j["status_id"] = blocked(r) ? 2 : 1;
  j["status"] = blocked(r) ? "Failure" : "Success";
  // Disposition: 1 Allowed, 2 Blocked; action 1 Allowed, 2 Denied.
  j["action_id"] = blocked(r) ? 2 : 1;
  j["action"] = blocked(r) ? "Denied" : "Allowed";
  j["disposition_id"] = blocked(r) ? 2 : 1;
  j["disposition"] = blocked(r) ? "Blocked" : "Allowed";
  const bool ports = common::has_ports(static_cast<uint8_t>(r.protocol()));
  const auto endpoint = [&](const std::string& addr, uint32_t port, const std::string& segment) {
    J e;
    e["ip"] = format_address(addr);
    if (ports) e["port"] = port;
    if (!segment.empty()) e["zone"] = segment;
    return e;
  };
  j["src_endpoint"] = endpoint(r.src(), r.src_port(), r.src_segment());
  j["dst_endpoint"] = endpoint(r.dst(), r.dst_port(), r.dst_segment());
  if (!r.dns_name().empty()) j["dst_endpoint"]["hostname"] = r.dns_name();  // what DNS answered it for
  J conn;
  conn["protocol_num"] = r.protocol();
  conn["protocol_name"] = rules::proto_name(static_cast<uint8_t>(r.protocol()));
  conn["protocol_ver_id"] = r.src().size() == 16 ? 6 : 4;
  conn["community_uid"] = community_id(r);
  if (r.protocol() == common::kProtoTcp && has_counts(r)) conn["tcp_flags"] = r.tcp_flags_out() | r.tcp_flags_in();
  j["connection_info"] = conn;
  if (has_counts(r)) {
    j["traffic"] = {{"packets_out", r.packets_out()}, {"bytes_out", r.bytes_out()},
                    {"packets_in", r.packets_in()},   {"bytes_in", r.bytes_in()},
                    {"packets", r.packets_out() + r.packets_in()}, {"bytes", r.bytes_out() + r.bytes_in()}};
    j["start_time"] = r.start_ms();
  }
  if (r.kind() == pb::FlowRecord::END) j["end_time"] = r.time_ms();
  if (!r.sni().empty()) j["tls"] = {{"sni", r.sni()}};
  if (!r.name_reason().empty()) j["status_detail"] = r.name_reason();
  j["firewall_rule"] = {{"uid", r.rule_id().empty() ? "-" : r.rule_id()}, {"name", rule_name(r)},
                        {"version", std::to_string(r.generation())}};
  j["metadata"] = {{"version", kOcsfVersion},
                   {"product", {{"name", kProduct}, {"vendor_name", kProduct}}},
                   {"labels", J::array({std::string("mode:") + r.mode(), std::string("verdict:") + verdict_name(r.verdict())})}};
  j["device"] = {{"name", dataplane}, {"type", "Firewall"}, {"type_id", 9}};
  return j;
}

std::string format_record(const pb::FlowRecord& r, const std::string& dataplane, LogFormat format) {
  switch (format) {
    case LogFormat::ecs: return dump(ecs_object(r, dataplane));
    case LogFormat::ocsf: return dump(ocsf_object(r, dataplane));
    case LogFormat::native: break;
  }
  return to_json(r, dataplane);
}

const std::string& RecordLines::line(size_t i) {
  std::string& l = lines_[i];
  if (l.empty()) {
    l = format_record(*records_[i], dataplane_, format_);
    ++made_;
  }
  return l;
}

}  // namespace bulkhead::controlplane::flows
