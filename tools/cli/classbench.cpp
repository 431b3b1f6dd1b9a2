#include "tools/cli/classbench.h"

#include <arpa/inet.h>

#include <charconv>

#include "tools/cli/cli.h"

namespace bulkhead::cli {
namespace {

struct Cursor {
  std::string_view s;
  size_t i = 0;
  void skip_ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
  }
  bool expect(char c) {
    skip_ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  bool number(uint64_t& v, int base = 10) {
    skip_ws();
    if (base == 16 && s.substr(i, 2) == "0x") i += 2;
    auto [p, ec] = std::from_chars(s.data() + i, s.data() + s.size(), v, base);
    if (ec != std::errc() || p == s.data() + i) return false;
    i = static_cast<size_t>(p - s.data());
    return true;
  }
  bool prefix(uint32_t& addr, uint8_t& len) {
    skip_ws();
    uint32_t a = 0;
    for (int k = 0; k < 4; ++k) {
      uint64_t b = 0;
      if (!number(b) || b > 255) return false;
      a = a << 8 | static_cast<uint32_t>(b);
      if (k < 3 && !(i < s.size() && s[i++] == '.')) return false;
    }
    uint64_t l = 0;
    if (!(i < s.size() && s[i++] == '/') || !number(l) || l > 32) return false;
    len = static_cast<uint8_t>(l);
    addr = len == 0 ? 0 : a & (0xffffffffu << (32 - len));
    return true;
  }
};

std::string format_prefix(uint32_t a, uint8_t len) {
  char buf[INET_ADDRSTRLEN];
  const uint32_t n = htonl(a);
  inet_ntop(AF_INET, &n, buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(len);
}

std::string range(uint16_t lo, uint16_t hi) {
  if (lo == hi) return std::to_string(lo);
  std::string s = "\"";
  s += std::to_string(lo);
  s += "-";
  s += std::to_string(hi);
  s += "\"";
  return s;
}

}  // namespace

bool parse_classbench_line(std::string_view line, ClassBenchRule& r, std::string& error) {
  Cursor c{line};
  uint64_t slo, shi, dlo, dhi, proto, mask;
  if (!c.expect('@')) {
    error = "a filter starts with '@'";
    return false;
  }
  if (!c.prefix(r.src, r.src_len) || !c.prefix(r.dst, r.dst_len)) {
    error = "bad source or destination prefix";
    return false;
  }
  if (!c.number(slo) || !c.expect(':') || !c.number(shi) || !c.number(dlo) || !c.expect(':') || !c.number(dhi) ||
      slo > shi || shi > 65535 || dlo > dhi || dhi > 65535) {
    error = "bad port ranges (expected 'LO : HI LO : HI' within 0-65535)";
    return false;
  }
  if (!c.number(proto, 16) || !c.expect('/') || !c.number(mask, 16) || proto > 255 || (mask != 0 && mask != 0xff)) {
    error = "bad protocol (expected 0xNN/0xFF or 0xNN/0x00)";
    return false;
  }
  r.sport_lo = static_cast<uint16_t>(slo);
  r.sport_hi = static_cast<uint16_t>(shi);
  r.dport_lo = static_cast<uint16_t>(dlo);
  r.dport_hi = static_cast<uint16_t>(dhi);
  r.any_proto = mask == 0;
  r.proto = r.any_proto ? 0 : static_cast<uint8_t>(proto);
  return true;
}

std::string classbench_to_policy(std::string_view text, std::string_view source_name) {
  std::string out;
  out.reserve(text.size() * 2);
  out += "# Imported from the ClassBench filter set ";
  out += source_name;
  out += "\n# Rule order kept; every filter is an allow rule r<N>; no match is denied.\n";
  out += "version: 1\ndefaults: { action: deny, mode: enforce }\nrules:\n";
  size_t pos = 0, line_no = 0, n = 0;
  std::string error;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    ClassBenchRule r;
    if (!parse_classbench_line(line, r, error))
      throw UsageError(std::string(source_name) + ":" + std::to_string(line_no) + ": " + error);
    out += "  - { id: r" + std::to_string(++n);
    if (r.src_len > 0) out += ", from: " + format_prefix(r.src, r.src_len);
    if (r.dst_len > 0) out += ", to: " + format_prefix(r.dst, r.dst_len);
    if (!r.any_proto) out += ", proto: " + std::to_string(r.proto);
    if (r.sport_lo != 0 || r.sport_hi != 65535) out += ", sports: " + range(r.sport_lo, r.sport_hi);
    if (r.dport_lo != 0 || r.dport_hi != 65535) out += ", ports: " + range(r.dport_lo, r.dport_hi);
    out += ", action: allow }\n";
  }
  if (n == 0) throw UsageError(std::string(source_name) + ": no filters found");
  return out;
}

}  // namespace bulkhead::cli
