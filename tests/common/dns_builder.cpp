#include "tests/common/dns_builder.h"

#include <arpa/inet.h>

#include <stdexcept>

namespace bulkhead::test {
namespace {

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(uint8_t(v >> 8));
  out.push_back(uint8_t(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, uint16_t(v >> 16));
  put16(out, uint16_t(v));
}
void append(std::vector<uint8_t>& out, const std::vector<uint8_t>& bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }

std::vector<uint8_t> address_bytes(const std::string& text, int family) {
  std::vector<uint8_t> out(family == AF_INET ? 4 : 16);
  if (inet_pton(family, text.c_str(), out.data()) != 1) throw std::invalid_argument("bad address " + text);
  return out;
}

void put_record(std::vector<uint8_t>& out, const DnsSpec& spec, const DnsRecordSpec& r) {
  if (r.name == spec.qname) {
    put16(out, 0xc000 | 12);  // the question's name, right after the header
  } else {
    append(out, dns_wire_name(r.name));
  }
  put16(out, r.type);
  put16(out, r.type == 41 ? 1232 : 1);  // OPT carries the UDP size in its class
  put32(out, r.ttl);
  std::vector<uint8_t> rdata = r.raw;
  if (r.type == 1) rdata = address_bytes(r.data, AF_INET);
  if (r.type == 28) rdata = address_bytes(r.data, AF_INET6);
  if (r.type == 5) rdata = dns_wire_name(r.data);
  put16(out, uint16_t(rdata.size()));
  append(out, rdata);
}

}  // namespace

DnsRecordSpec dns_a(const std::string& name, const std::string& address, uint32_t ttl) {
  DnsRecordSpec r;
  r.name = name;
  r.ttl = ttl;
  r.data = address;
  return r;
}

DnsRecordSpec dns_aaaa(const std::string& name, const std::string& address, uint32_t ttl) {
  DnsRecordSpec r = dns_a(name, address, ttl);
  r.type = 28;
  return r;
}

DnsRecordSpec dns_cname(const std::string& name, const std::string& target, uint32_t ttl) {
  DnsRecordSpec r = dns_a(name, target, ttl);
  r.type = 5;
  return r;
}

DnsRecordSpec dns_raw(const std::string& name, uint16_t type, std::vector<uint8_t> rdata, uint32_t ttl) {
  DnsRecordSpec r = dns_a(name, "", ttl);
  r.type = type;
  r.raw = std::move(rdata);
  return r;
}

DnsSpec dns_query(const std::string& qname, uint16_t qtype) {
  DnsSpec s;
  s.response = false;
  s.qname = qname;
  s.qtype = qtype;
  return s;
}

DnsSpec dns_answer(const std::string& qname, std::vector<DnsRecordSpec> answers, uint16_t qtype) {
  DnsSpec s;
  s.qname = qname;
  s.qtype = qtype;
  s.answers = std::move(answers);
  return s;
}

std::vector<uint8_t> dns_wire_name(const std::string& name) {
  std::vector<uint8_t> out;
  std::size_t at = 0;
  while (at < name.size()) {
    std::size_t dot = name.find('.', at);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(uint8_t(dot - at));
    out.insert(out.end(), name.begin() + long(at), name.begin() + long(dot));
    at = dot + 1;
  }
  out.push_back(0);
  return out;
}

std::vector<uint8_t> build_dns(const DnsSpec& spec) {
  std::vector<uint8_t> out;
  put16(out, spec.id);
  out.push_back(uint8_t((spec.response ? 0x80 : 0) | (spec.truncated ? 0x02 : 0) | 0x01));  // RD
  out.push_back(uint8_t((spec.response ? 0x80 : 0) | (spec.rcode & 0x0f)));             // RA
  put16(out, 1);
  put16(out, uint16_t(spec.answers.size()));
  put16(out, 0);
  put16(out, uint16_t(spec.additional.size()));
  append(out, dns_wire_name(spec.qname));
  put16(out, spec.qtype);
  put16(out, 1);
  for (const auto& r : spec.answers) put_record(out, spec, r);
  for (const auto& r : spec.additional) put_record(out, spec, r);
  return out;
}

std::vector<uint8_t> dns_tcp_framed(const std::vector<uint8_t>& message) {
  std::vector<uint8_t> out;
  put16(out, uint16_t(message.size()));
  append(out, message);
  return out;
}

std::vector<uint8_t> svcb_hints_rdata(const std::vector<std::string>& v4, const std::vector<std::string>& v6) {
  std::vector<uint8_t> out;
  put16(out, 1);
  out.push_back(0);  // target "." : the owner itself
  put16(out, 1);     // alpn: h2
  put16(out, 3);
  out.insert(out.end(), {2, 'h', '2'});
  if (!v4.empty()) {
    put16(out, 4);
    put16(out, uint16_t(4 * v4.size()));
    for (const auto& a : v4) append(out, address_bytes(a, AF_INET));
  }
  if (!v6.empty()) {
    put16(out, 6);
    put16(out, uint16_t(16 * v6.size()));
    for (const auto& a : v6) append(out, address_bytes(a, AF_INET6));
  }
  return out;
}

}  // namespace bulkhead::test
