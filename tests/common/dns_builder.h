// DNS messages for tests: queries and answers as resolvers write them
// (names compressed against the question), and the hostile shapes the
// parser must refuse, built by hand from the same pieces.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bulkhead::test {

struct DnsRecordSpec {
  std::string name;        // owner; equal to the question's name: written as a pointer to it
  uint16_t type = 1;       // A
  uint32_t ttl = 300;
  std::string data;        // A/AAAA: the address as text; CNAME: the target name
  std::vector<uint8_t> raw;  // other types: the RDATA as it is
};

struct DnsSpec {
  uint16_t id = 0x1234;
  bool response = true;
  bool truncated = false;
  uint8_t rcode = 0;
  std::string qname = "example.com";
  uint16_t qtype = 1;
  std::vector<DnsRecordSpec> answers;
  std::vector<DnsRecordSpec> additional;  // written after the answers (glue, OPT)
};

// Records and messages by their usual shapes.
DnsRecordSpec dns_a(const std::string& name, const std::string& address, uint32_t ttl = 300);
DnsRecordSpec dns_aaaa(const std::string& name, const std::string& address, uint32_t ttl = 300);
DnsRecordSpec dns_cname(const std::string& name, const std::string& target, uint32_t ttl = 300);
DnsRecordSpec dns_raw(const std::string& name, uint16_t type, std::vector<uint8_t> rdata, uint32_t ttl = 300);
DnsSpec dns_query(const std::string& qname, uint16_t qtype = 1);
DnsSpec dns_answer(const std::string& qname, std::vector<DnsRecordSpec> answers, uint16_t qtype = 1);

// The name in wire format, uncompressed ("" is the root).
std::vector<uint8_t> dns_wire_name(const std::string& name);
std::vector<uint8_t> build_dns(const DnsSpec& spec);
// The same message with its two-byte TCP length prefix.
std::vector<uint8_t> dns_tcp_framed(const std::vector<uint8_t>& message);
// HTTPS/SVCB RDATA in ServiceMode: priority 1, target ".", the hints given.
std::vector<uint8_t> svcb_hints_rdata(const std::vector<std::string>& v4, const std::vector<std::string>& v6);

}  // namespace bulkhead::test
