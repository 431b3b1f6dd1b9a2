#include "tools/cli/flow.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include "common/protocols.h"
#include "rules/prefix.h"

namespace bulkhead::cli {
namespace {

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\r') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool parse_port(std::string_view s, uint16_t& out) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

// "10.0.1.5:80", "[fd00::1]:80", "10.0.1.5" (port optional when !need_port)
bool parse_endpoint(std::string_view s, uint8_t& family, std::array<uint8_t, 16>& addr, uint16_t& port,
                    bool need_port, std::string& error) {
  std::string_view a = s, p;
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) {
      error = std::string("'") + std::string(s) + "': missing ']'";
      return false;
    }
    a = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') {
        error = std::string("'") + std::string(s) + "': expected ':PORT' after ']'";
        return false;
      }
      p = s.substr(close + 2);
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    const auto colon = s.find(':');
    a = s.substr(0, colon);
    p = s.substr(colon + 1);
  }
  if (!rules::parse_address(a, family, addr)) {
    error = std::string("'") + std::string(a) + "' is not an IPv4 or IPv6 address";
    return false;
  }
  port = 0;
  if (!p.empty() && !parse_port(p, port)) {
    error = std::string("'") + std::string(p) + "' is not a port (0-65535)";
    return false;
  }
  if (need_port && p.empty()) {
    error = std::string("'") + std::string(s) + "' needs a port (ADDR:PORT, [IPV6]:PORT)";
    return false;
  }
  return true;
}

}  // namespace

std::optional<uint8_t> parse_proto(std::string_view s) {
  if (s == "tcp") return common::kProtoTcp;
  if (s == "udp") return common::kProtoUdp;
  if (s == "icmp") return common::kProtoIcmp;
  if (s == "icmpv6") return common::kProtoIcmpv6;
  if (s == "sctp") return common::kProtoSctp;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > 255) return std::nullopt;
  return static_cast<uint8_t>(v);
}

bool parse_flow(std::string_view text, rules::Tuple& t, std::string& error) {
  const auto tok = split_ws(text);
  if (tok.size() < 4 || tok[2] != "->") {
    error = "a flow looks like \"tcp 10.0.1.5:41000 -> 10.0.2.9:5432\" or \"icmp 10.0.1.5 -> 10.0.2.9 type 8 code 0\"";
    return false;
  }
  const auto proto = parse_proto(tok[0]);
  if (!proto) {
    error = std::string("'") + std::string(tok[0]) + "' is not a protocol (tcp, udp, icmp, icmpv6, sctp or 0-255)";
    return false;
  }
  t = rules::Tuple{};
  t.proto = *proto;
  const bool icmp = t.proto == common::kProtoIcmp || t.proto == common::kProtoIcmpv6;
  const bool ports = t.proto == common::kProtoTcp || t.proto == common::kProtoUdp || t.proto == common::kProtoSctp;
  uint8_t f1 = 0, f2 = 0;
  if (!parse_endpoint(tok[1], f1, t.src, t.sport, ports, error) ||
      !parse_endpoint(tok[3], f2, t.dst, t.dport, ports, error))
    return false;
  if (f1 != f2) {
    error = "source and destination are of different address families";
    return false;
  }
  t.family = f1;
  size_t i = 4;
  if (icmp) {
    t.sport = t.dport = 0;
    while (i + 1 < tok.size()) {
      uint16_t v = 0;
      if (!parse_port(tok[i + 1], v) || v > 255) {
        error = std::string("'") + std::string(tok[i + 1]) + "' is not an ICMP type or code (0-255)";
        return false;
      }
      if (tok[i] == "type") t.sport = v;
      else if (tok[i] == "code") t.dport = v;
      else break;
      i += 2;
    }
  }
  if (i != tok.size()) {
    error = "unexpected '" + std::string(tok[i]) + "' in the flow";
    return false;
  }
  return true;
}

bool parse_tuple_line(std::string_view line, rules::Tuple& t, std::string& error) {
  const auto tok = split_ws(line);
  if (tok.size() != 5) {
    error = "expected 5 fields (PROTO SRC SPORT DST DPORT), found " + std::to_string(tok.size());
    return false;
  }
  const auto proto = parse_proto(tok[0]);
  if (!proto) {
    error = std::string("'") + std::string(tok[0]) + "' is not a protocol";
    return false;
  }
  t.proto = *proto;
  uint8_t f1 = 0, f2 = 0;
  if (!rules::parse_address(tok[1], f1, t.src)) {
    error = std::string("'") + std::string(tok[1]) + "' is not an address";
    return false;
  }
  if (!rules::parse_address(tok[3], f2, t.dst)) {
    error = std::string("'") + std::string(tok[3]) + "' is not an address";
    return false;
  }
  if (f1 != f2) {
    error = "source and destination are of different address families";
    return false;
  }
  t.family = f1;
  if (!parse_port(tok[2], t.sport)) {
    error = std::string("'") + std::string(tok[2]) + "' is not a port";
    return false;
  }
  if (!parse_port(tok[4], t.dport)) {
    error = std::string("'") + std::string(tok[4]) + "' is not a port";
    return false;
  }
  return true;
}

}  // namespace bulkhead::cli
