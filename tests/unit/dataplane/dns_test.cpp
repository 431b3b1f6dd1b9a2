// The DNS reader: what an answer binds, what it never binds, and the hostile
// messages it refuses at a bounded cost.
#include "dataplane/names/dns.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rules/prefix.h"
#include "tests/common/dns_builder.h"

namespace bulkhead::dataplane::names {
namespace {

using test::build_dns;
using test::dns_a;
using test::dns_aaaa;
using test::dns_answer;
using test::dns_cname;
using test::dns_query;
using test::dns_raw;
using test::DnsRecordSpec;
using test::DnsSpec;

struct Parsed {
  DnsError error;
  DnsMessage msg;
};

Parsed parse(const std::vector<uint8_t>& bytes) {
  Parsed p;
  p.error = parse_dns(bytes, p.msg);
  return p;
}

std::string address(const DnsAddress& a) { return rules::format_address(a.family, a.addr); }

TEST(Dns, QueryGivesItsQuestion) {
  auto p = parse(build_dns(dns_query("API.Example.COM", 28)));
  ASSERT_EQ(p.error, DnsError::none);
  EXPECT_FALSE(p.msg.response);
  EXPECT_EQ(p.msg.qname().view(), "api.example.com");
  EXPECT_EQ(p.msg.qtype, 28);
  EXPECT_EQ(p.msg.address_count, 0);
}

TEST(Dns, AnswerBindsItsAddresses) {
  auto p = parse(build_dns(dns_answer("api.example.com", {dns_a("api.example.com", "192.0.2.10", 60),
                                                            dns_a("api.example.com", "192.0.2.11", 30)})));
  ASSERT_EQ(p.error, DnsError::none);
  ASSERT_EQ(p.msg.address_count, 2);
  EXPECT_EQ(address(p.msg.addresses[0]), "192.0.2.10");
  EXPECT_EQ(p.msg.addresses[0].ttl, 60u);
  EXPECT_EQ(address(p.msg.addresses[1]), "192.0.2.11");
  EXPECT_EQ(p.msg.addresses[1].ttl, 30u);
  EXPECT_EQ(p.msg.addresses[0].owner, 0);
  EXPECT_EQ(p.msg.skipped_records, 0);
  EXPECT_FALSE(p.msg.negative());
}

TEST(Dns, AaaaAnswer) {
  auto p = parse(build_dns(dns_answer("v6.example.com", {dns_aaaa("v6.example.com", "2001:db8::10")}, 28)));
  ASSERT_EQ(p.error, DnsError::none);
  ASSERT_EQ(p.msg.address_count, 1);
  EXPECT_EQ(p.msg.addresses[0].family, 6);
  EXPECT_EQ(address(p.msg.addresses[0]), "2001:db8::10");
  EXPECT_EQ(p.msg.addresses[0].source, AddressSource::aaaa);
}

DnsSpec cname_chain(bool reversed) {
  std::vector<DnsRecordSpec> records = {
      dns_cname("www.example.com", "cdn.example.net", 3600),
      dns_cname("cdn.example.net", "edge.cdn.example", 120),
      dns_a("edge.cdn.example", "198.51.100.7", 600),
  };
  if (reversed) records = {records[2], records[1], records[0]};
  return dns_answer("www.example.com", records);
}

TEST(Dns, CnameChainBindsEveryLinkWithTheLowestTtl) {
  for (bool reversed : {false, true}) {
    auto p = parse(build_dns(cname_chain(reversed)));
    ASSERT_EQ(p.error, DnsError::none);
    ASSERT_EQ(p.msg.chain_len, 3) << reversed;
    EXPECT_EQ(p.msg.chain[0].view(), "www.example.com");
    EXPECT_EQ(p.msg.chain[1].view(), "cdn.example.net");
    EXPECT_EQ(p.msg.chain[2].view(), "edge.cdn.example");
    ASSERT_EQ(p.msg.address_count, 1);
    EXPECT_EQ(address(p.msg.addresses[0]), "198.51.100.7");
    EXPECT_EQ(p.msg.addresses[0].owner, 2);
    EXPECT_EQ(p.msg.addresses[0].ttl, 120u);
    EXPECT_EQ(p.msg.skipped_records, 0);
  }
}

TEST(Dns, RecordsOffTheChainBindNothing) {
  DnsSpec spec = dns_answer("api.example.com", {dns_a("api.example.com", "192.0.2.1"),
                                                 dns_a("bank.example.org", "203.0.113.66"),
                                                 dns_raw("api.example.com", 16, {3, 'a', 'b', 'c'})});
  spec.additional = {dns_a("ns1.example.com", "203.0.113.53"), dns_raw("", 41, {}, 0)};
  auto p = parse(build_dns(spec));
  ASSERT_EQ(p.error, DnsError::none);
  ASSERT_EQ(p.msg.address_count, 1);
  EXPECT_EQ(address(p.msg.addresses[0]), "192.0.2.1");
  EXPECT_EQ(p.msg.skipped_records, 2);  // the other name's A and the TXT
}

TEST(Dns, CnameLoopEndsTheChain) {
  auto p = parse(build_dns(dns_answer("a.example", {dns_cname("a.example", "b.example"), dns_cname("b.example", "a.example"),
                                                      dns_a("b.example", "192.0.2.2")})));
  ASSERT_EQ(p.error, DnsError::none);
  EXPECT_EQ(p.msg.chain_len, 2);
  ASSERT_EQ(p.msg.address_count, 1);
  EXPECT_EQ(p.msg.addresses[0].owner, 1);
  EXPECT_EQ(p.msg.skipped_records, 1);  // the link back
}

TEST(Dns, SecondCnameOfOneNameIsNotFollowed) {
  auto p = parse(build_dns(dns_answer("a.example", {dns_cname("a.example", "b.example"),
                                                      dns_cname("a.example", "evil.example"),
                                                      dns_a("evil.example", "203.0.113.9")})));
  ASSERT_EQ(p.error, DnsError::none);
  EXPECT_EQ(p.msg.chain_len, 2);
  EXPECT_EQ(p.msg.address_count, 0);
  EXPECT_TRUE(p.msg.negative());
}

TEST(Dns, NegativeAnswers) {
  DnsSpec gone = dns_answer("gone.example", {});
  gone.rcode = kRcodeNxDomain;
  auto nx = parse(build_dns(gone));
  ASSERT_EQ(nx.error, DnsError::none);
  EXPECT_EQ(nx.msg.rcode, kRcodeNxDomain);
  EXPECT_TRUE(nx.msg.negative());
  auto nodata = parse(build_dns(dns_answer("v4only.example", {}, 28)));
  ASSERT_EQ(nodata.error, DnsError::none);
  EXPECT_EQ(nodata.msg.rcode, kRcodeNoError);
  EXPECT_TRUE(nodata.msg.negative());
}

TEST(Dns, HttpsHintsBindInServiceModeOnly) {
  auto p = parse(build_dns(dns_answer(
      "svc.example",
      {dns_raw("svc.example", 65, test::svcb_hints_rdata({"192.0.2.20", "192.0.2.21"}, {"2001:db8::20"}), 90),
       dns_raw("svc.example", 65, {0, 0, 3, 'f', 'o', 'o', 0})},
      65)));
  ASSERT_EQ(p.error, DnsError::none);
  ASSERT_EQ(p.msg.address_count, 3);
  EXPECT_EQ(address(p.msg.addresses[0]), "192.0.2.20");
  EXPECT_EQ(address(p.msg.addresses[2]), "2001:db8::20");
  EXPECT_EQ(p.msg.addresses[2].source, AddressSource::svcb_hint);
  EXPECT_EQ(p.msg.addresses[0].ttl, 90u);
  auto bad = test::svcb_hints_rdata({"192.0.2.20"}, {});
  bad.pop_back();  // a hint of 3 bytes
  auto q = parse(build_dns(dns_answer("svc.example", {dns_raw("svc.example", 65, bad)})));
  ASSERT_EQ(q.error, DnsError::none);
  EXPECT_EQ(q.msg.address_count, 0);
  EXPECT_EQ(q.msg.skipped_records, 1);
}

TEST(Dns, HugeTtlCountsAsZero) {
  auto p = parse(build_dns(dns_answer("t.example", {dns_a("t.example", "192.0.2.3", 0xffffffff)})));
  ASSERT_EQ(p.error, DnsError::none);
  ASSERT_EQ(p.msg.address_count, 1);
  EXPECT_EQ(p.msg.addresses[0].ttl, 0u);
}

TEST(Dns, NamesAreLowerCasedAndNeedPrintableLabels) {
  auto p = parse(build_dns(dns_answer("MiXeD.Example", {dns_a("MiXeD.Example", "192.0.2.4")})));
  ASSERT_EQ(p.error, DnsError::none);
  EXPECT_EQ(p.msg.qname().view(), "mixed.example");
  EXPECT_EQ(p.msg.address_count, 1);

  // One label holding a dot would read as two: "a.b" + "example".
  auto msg = build_dns(dns_query("ab.example"));
  msg[13 + 1] = '.';
  EXPECT_EQ(parse(msg).error, DnsError::name_charset);
}

TEST(Dns, LongestNameReadsAndLongerIsRefused) {
  std::string name;
  while (name.size() + 64 <= kMaxNameText) name += std::string(63, 'a') + ".";
  name += std::string(kMaxNameText - name.size(), 'b');
  ASSERT_EQ(name.size(), kMaxNameText);
  auto p = parse(build_dns(dns_answer(name, {dns_a(name, "192.0.2.5")})));
  ASSERT_EQ(p.error, DnsError::none);
  EXPECT_EQ(p.msg.qname().view(), name);
  EXPECT_EQ(p.msg.address_count, 1);
  EXPECT_EQ(parse(build_dns(dns_query(name + "c"))).error, DnsError::truncated_question);
}

std::vector<uint8_t> header(uint16_t qdcount, uint16_t ancount) {
  return {0x12, 0x34, 0x81, 0x80, 0, uint8_t(qdcount), 0, uint8_t(ancount), 0, 0, 0, 0};
}

TEST(Dns, CompressionPointersOnlyPointBackwards) {
  auto self = header(1, 0);
  self.insert(self.end(), {0xc0, 12, 0, 1, 0, 1});  // the question's name points at itself
  EXPECT_EQ(parse(self).error, DnsError::forward_pointer);

  auto forward = header(1, 0);
  forward.insert(forward.end(), {0xc0, 14, 0, 1, 0, 1, 0});
  EXPECT_EQ(parse(forward).error, DnsError::forward_pointer);

  // An answer's name that points back into itself through an earlier label:
  // "x" then a pointer to the "x" label = a loop without the rule.
  auto msg = build_dns(dns_answer("a.example", {}));
  std::size_t at = msg.size();
  msg.insert(msg.end(), {1, 'x', 0xc0, uint8_t(at), 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1});
  msg[7] = 1;
  EXPECT_EQ(parse(msg).error, DnsError::forward_pointer);

  auto far = header(1, 0);
  far.insert(far.end(), {0xff, 0xff});
  EXPECT_EQ(parse(far).error, DnsError::forward_pointer);
}

TEST(Dns, PointerChainsAreBounded) {
  // Answer record i is named "z" and a pointer to record i-1's name (record
  // 0's to the question's): reading record i follows i + 1 pointers, each
  // backwards. Depths up to kMaxPointerJumps read; the next is refused.
  auto chained = [](unsigned records) {
    auto msg = build_dns(dns_answer("a", {}));
    msg[7] = uint8_t(records);
    std::size_t previous = 12;
    for (unsigned i = 0; i < records; ++i) {
      std::size_t here = msg.size();
      msg.insert(msg.end(), {1, 'z', uint8_t(0xc0 | previous >> 8), uint8_t(previous)});
      msg.insert(msg.end(), {0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, uint8_t(i)});
      previous = here;
    }
    return msg;
  };
  auto ok = parse(chained(kMaxPointerJumps));
  EXPECT_EQ(ok.error, DnsError::none);
  EXPECT_EQ(ok.msg.skipped_records, kMaxPointerJumps);  // none is the question's name
  EXPECT_EQ(parse(chained(kMaxPointerJumps + 1)).error, DnsError::pointer_depth);
}

TEST(Dns, ThousandsOfAnswersAreReadInPart) {
  DnsSpec spec = dns_answer("many.example", {});
  for (int i = 0; i < 3000; ++i) {
    spec.answers.push_back(dns_a("many.example", "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".1"));
  }
  auto p = parse(build_dns(spec));
  ASSERT_EQ(p.error, DnsError::none);
  EXPECT_EQ(p.msg.address_count, kMaxAddresses);
  EXPECT_EQ(p.msg.skipped_records, 3000 - kMaxAddresses);
}

TEST(Dns, TruncatedAnswersKeepTheirCompleteRecords) {
  DnsSpec spec = dns_answer("tc.example", {dns_a("tc.example", "192.0.2.6"), dns_a("tc.example", "192.0.2.7")});
  spec.truncated = true;
  auto msg = build_dns(spec);
  msg.resize(msg.size() - 3);
  auto p = parse(msg);
  ASSERT_EQ(p.error, DnsError::none);
  ASSERT_EQ(p.msg.address_count, 1);
  EXPECT_TRUE(p.msg.truncated);
  spec.truncated = false;
  msg = build_dns(spec);
  msg.resize(msg.size() - 3);
  EXPECT_EQ(parse(msg).error, DnsError::truncated_answer);
}

TEST(Dns, HeaderErrors) {
  EXPECT_EQ(parse({1, 2, 3}).error, DnsError::short_header);
  auto msg = build_dns(dns_query("example.com"));
  msg[2] |= 0x28;  // opcode 5, UPDATE
  EXPECT_EQ(parse(msg).error, DnsError::not_query_opcode);
  msg = build_dns(dns_query("example.com"));
  msg[5] = 2;
  EXPECT_EQ(parse(msg).error, DnsError::question_count);
  msg = build_dns(dns_query("example.com"));
  msg.resize(msg.size() - 2);
  EXPECT_EQ(parse(msg).error, DnsError::truncated_question);
  for (std::size_t i = 0; i < kDnsErrorCount; ++i) {
    EXPECT_NE(dns_error_name(DnsError(i)), "unknown");
    EXPECT_FALSE(dns_error_text(DnsError(i)).empty());
  }
}

TEST(DnsStream, SplitsMessagesHoweverSegmentsCutThem) {
  DnsSpec one = dns_answer("one.example", {dns_a("one.example", "192.0.2.1")});
  one.id = 1;
  DnsSpec two = dns_query("two.example");
  two.id = 2;
  auto a = build_dns(one);
  auto b = build_dns(two);
  std::vector<uint8_t> stream = test::dns_tcp_framed(a);
  auto fb = test::dns_tcp_framed(b);
  stream.insert(stream.end(), fb.begin(), fb.end());
  stream.insert(stream.end(), {0, 0});  // an empty message
  stream.insert(stream.end(), fb.begin(), fb.end());

  for (std::size_t cut : {std::size_t(1), std::size_t(7), stream.size()}) {
    DnsStream s;
    std::vector<uint16_t> ids;
    for (std::size_t at = 0; at < stream.size(); at += cut) {
      std::span<const uint8_t> seg(stream.data() + at, std::min(cut, stream.size() - at));
      s.feed(seg, [&](std::span<const uint8_t> m) {
        DnsMessage msg;
        ASSERT_EQ(parse_dns(m, msg), DnsError::none);
        ids.push_back(msg.id);
      });
    }
    EXPECT_EQ(ids, (std::vector<uint16_t>{1, 2, 2})) << cut;
  }
}

TEST(DnsStream, OversizeMessagesAreSkippedInStep) {
  std::vector<uint8_t> stream = {0x50, 0x00};  // 20480 bytes
  stream.resize(2 + 0x5000, 0xab);
  DnsSpec nine = dns_query("example.com");
  nine.id = 9;
  auto ok = test::dns_tcp_framed(build_dns(nine));
  stream.insert(stream.end(), ok.begin(), ok.end());
  DnsStream s;
  int seen = 0;
  s.feed(stream, [&](std::span<const uint8_t> m) {
    DnsMessage msg;
    EXPECT_EQ(parse_dns(m, msg), DnsError::none);
    EXPECT_EQ(msg.id, 9);
    ++seen;
  });
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(s.skipped_messages(), 1u);
}

}  // namespace
}  // namespace bulkhead::dataplane::names
