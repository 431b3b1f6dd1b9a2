// The Community ID against the published test vectors (the Community ID
// specification's, also Zeek's tests), and the flow log's SIEM formats:
// every line of each format holds the fields its schema's consumers look
// for, with the values of the record.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controlplane/flows/community_id.h"
#include "controlplane/flows/flow_log.h"
#include "controlplane/flows/record.h"
#include "controlplane/flows/siem.h"
#include "tests/common/temp_dir.h"

namespace bulkhead::controlplane::flows {
namespace {

std::string addr(const char* text) {
  std::string b;
  EXPECT_TRUE(parse_address(text, b)) << text;
  return b;
}

struct Vector {
  const char* src;
  const char* dst;
  uint8_t proto;
  uint16_t sport, dport, seed;
  const char* id;
};

TEST(CommunityId, PublishedVectors) {
  const char* v6a = "fe80:1:203:405:607:809:a0b:c0d";
  const char* v6b = "fe80:1011:1213:1415:1617:1819:1a1b:1c1d";
  const Vector vectors[] = {
      {"1.2.3.4", "5.6.7.8", 6, 1122, 3344, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
      {"1.2.3.4", "5.6.7.8", 17, 1122, 3344, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
      {"1.2.3.4", "5.6.7.8", 1, 8, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
      {v6a, v6b, 58, 128, 0, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
      {"1.2.3.4", "5.6.7.8", 6, 1122, 3344, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
      {"1.2.3.4", "5.6.7.8", 17, 1122, 3344, 1, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
      {"1.2.3.4", "5.6.7.8", 1, 8, 0, 1, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
      {v6a, v6b, 58, 128, 0, 1, "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
      {"1.2.3.4", "5.6.7.8", 46, 0, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="},  // RSVP: no ports
  };
  for (const Vector& v : vectors) {
    EXPECT_EQ(community_id(addr(v.src), addr(v.dst), v.proto, v.sport, v.dport, v.seed), v.id)
        << v.src << " " << v.dst << " proto " << int(v.proto) << " seed " << v.seed;
  }
  // Both directions of a flow have one ID: the reply of each vector.
  EXPECT_EQ(community_id(addr("5.6.7.8"), addr("1.2.3.4"), 6, 3344, 1122), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
  EXPECT_EQ(community_id(addr("5.6.7.8"), addr("1.2.3.4"), 17, 3344, 1122), "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=");
  EXPECT_EQ(community_id(addr("5.6.7.8"), addr("1.2.3.4"), 1, 0, 0), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");  // echo reply
  EXPECT_EQ(community_id(addr(v6b), addr(v6a), 58, 129, 0), "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=");
  // Mixed or malformed addresses have none.
  EXPECT_EQ(community_id(addr("1.2.3.4"), addr(v6a), 6, 1, 2), "");
  EXPECT_EQ(community_id("abc", "def", 6, 1, 2), "");
}

pb::FlowRecord sample(pb::FlowRecord::Kind kind, pb::FlowRecord::Verdict verdict) {
  pb::FlowRecord r;
  r.set_kind(kind);
  r.set_time_ms(1'790'000'000'250);
  r.set_start_ms(1'790'000'000'000);
  r.set_src(addr("1.2.3.4"));
  r.set_dst(addr("5.6.7.8"));
  r.set_protocol(6);
  r.set_src_port(1122);
  r.set_dst_port(3344);
  r.set_src_segment("web");
  r.set_verdict(verdict);
  r.set_rule_id(verdict == pb::FlowRecord::ALLOWED ? "web-out" : "");
  r.set_mode("enforce");
  r.set_generation(7);
  r.set_packets_out(3);
  r.set_bytes_out(300);
  r.set_packets_in(2);
  r.set_bytes_in(2000);
  r.set_end_reason(pb::FlowRecord::CLOSED);
  return r;
}

// "a.b.c" in a JSON object, or null.
const nlohmann::json* field(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json* p = &j;
  size_t from = 0;
  while (from <= path.size()) {
    const size_t dot = path.find('.', from);
    const std::string key = path.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
    if (!p->is_object() || !p->contains(key)) {
      // ECS keeps "@timestamp" whole.
      return nullptr;
    }
    p = &(*p)[key];
    if (dot == std::string::npos) break;
    from = dot + 1;
  }
  return p;
}

void expect_fields(const nlohmann::json& j, const std::vector<std::string>& fields, const std::string& what) {
  for (const auto& f : fields) EXPECT_NE(field(j, f), nullptr) << what << ": no " << f << " in " << j.dump();
}

// The fields of the ECS and OCSF lists, per record kind.
const std::vector<std::string> kEcsAlways = {"@timestamp", "event.kind", "event.category", "event.type",
                                             "event.action", "event.outcome", "source.ip", "source.port",
                                             "destination.ip", "destination.port", "network.transport",
                                             "network.iana_number", "network.direction", "network.community_id",
                                             "rule.id", "rule.name", "observer.name", "ecs.version"};
const std::vector<std::string> kEcsCounts = {"source.bytes", "source.packets", "destination.bytes",
                                             "destination.packets", "network.bytes", "network.packets",
                                             "event.start"};
const std::vector<std::string> kOcsfAlways = {"class_uid", "category_uid", "activity_id", "type_uid", "time",
                                              "severity_id", "src_endpoint.ip", "src_endpoint.port",
                                              "dst_endpoint.ip", "dst_endpoint.port", "connection_info.protocol_num",
                                              "connection_info.community_uid", "disposition_id", "disposition",
                                              "action_id", "metadata.version", "metadata.product.name"};
const std::vector<std::string> kOcsfCounts = {"traffic.bytes_out", "traffic.packets_out", "traffic.bytes_in",
                                              "traffic.packets_in", "start_time"};

TEST(SiemFormats, EcsFieldsAndValues) {
  const auto end = nlohmann::json::parse(format_record(sample(pb::FlowRecord::END, pb::FlowRecord::ALLOWED), "dp1", LogFormat::ecs));
  expect_fields(end, kEcsAlways, "ecs end");
  expect_fields(end, kEcsCounts, "ecs end");
  EXPECT_EQ(end["@timestamp"], "2026-09-21T14:13:20.250Z");
  EXPECT_EQ(end["source"]["ip"], "1.2.3.4");
  EXPECT_EQ(end["source"]["port"], 1122);
  EXPECT_EQ(end["source"]["bytes"], 300);
  EXPECT_EQ(end["destination"]["packets"], 2);
  EXPECT_EQ(end["network"]["transport"], "tcp");
  EXPECT_EQ(end["network"]["iana_number"], "6");
  EXPECT_EQ(end["network"]["direction"], "outbound");  // only the source is in a segment
  EXPECT_EQ(end["network"]["community_id"], "1:wCb3OG7yAFWelaUydu0D+125CLM=");
  EXPECT_EQ(end["network"]["bytes"], 2300);
  EXPECT_EQ(end["event"]["action"], "flow-end");
  EXPECT_EQ(end["event"]["outcome"], "success");
  EXPECT_EQ(end["rule"]["id"], "web-out");
  EXPECT_EQ(end["observer"]["name"], "dp1");
  const auto denied = nlohmann::json::parse(format_record(sample(pb::FlowRecord::DENIED, pb::FlowRecord::DENY), "dp1", LogFormat::ecs));
  expect_fields(denied, kEcsAlways, "ecs denied");
  EXPECT_EQ(denied["event"]["outcome"], "failure");
  EXPECT_EQ(denied["event"]["action"], "packet-denied");
  EXPECT_EQ(denied["rule"]["name"], "(default)");
  const auto start = nlohmann::json::parse(format_record(sample(pb::FlowRecord::START, pb::FlowRecord::ALLOWED), "dp1", LogFormat::ecs));
  expect_fields(start, kEcsAlways, "ecs start");
  EXPECT_EQ(field(start, "source.bytes"), nullptr) << "a start record has no counts yet";
}

TEST(SiemFormats, OcsfFieldsAndValues) {
  struct Case {
    pb::FlowRecord::Kind kind;
    pb::FlowRecord::Verdict verdict;
    int activity;
    int disposition;
  };
  for (const Case& c : {Case{pb::FlowRecord::START, pb::FlowRecord::ALLOWED, 1, 1},
                        Case{pb::FlowRecord::END, pb::FlowRecord::ALLOWED, 2, 1},
                        Case{pb::FlowRecord::DENIED, pb::FlowRecord::DENY, 5, 2},
                        Case{pb::FlowRecord::UPDATE, pb::FlowRecord::ALLOWED, 6, 1}}) {
    const auto j = nlohmann::json::parse(format_record(sample(c.kind, c.verdict), "dp1", LogFormat::ocsf));
    const std::string what = "ocsf " + std::string(kind_name(c.kind));
    expect_fields(j, kOcsfAlways, what);
    if (c.kind != pb::FlowRecord::START) expect_fields(j, kOcsfCounts, what);
    EXPECT_EQ(j["class_uid"], 4001) << what;
    EXPECT_EQ(j["category_uid"], 4) << what;
    EXPECT_EQ(j["activity_id"], c.activity) << what;
    EXPECT_EQ(j["type_uid"], 400100 + c.activity) << what;
    EXPECT_EQ(j["disposition_id"], c.disposition) << what;
    EXPECT_EQ(j["src_endpoint"]["ip"], "1.2.3.4") << what;
    EXPECT_EQ(j["dst_endpoint"]["port"], 3344) << what;
    EXPECT_EQ(j["connection_info"]["community_uid"], "1:wCb3OG7yAFWelaUydu0D+125CLM=") << what;
    EXPECT_EQ(j["time"], 1'790'000'000'250) << what;
  }
  auto reset = sample(pb::FlowRecord::END, pb::FlowRecord::ALLOWED);
  reset.set_end_reason(pb::FlowRecord::RESET);
  EXPECT_EQ(nlohmann::json::parse(format_record(reset, "dp1", LogFormat::ocsf))["activity_id"], 3);
}

// A decision a name made carries its attribution in every format: the
// DNS name, the server name and why.
TEST(SiemFormats, NamesAndTheirAttribution) {
  auto r = sample(pb::FlowRecord::START, pb::FlowRecord::ALLOWED);
  r.set_dns_name("api.example.com");
  r.set_sni("api.example.com");
  r.set_name_reason("answered for api.example.com 12 s ago");
  const auto ecs = nlohmann::json::parse(format_record(r, "dp1", LogFormat::ecs));
  EXPECT_EQ(ecs["event"]["reason"], "answered for api.example.com 12 s ago");
  EXPECT_EQ(ecs["tls"]["client"]["server_name"], "api.example.com");
  EXPECT_EQ(ecs["labels"]["dns_name"], "api.example.com");
  const auto ocsf = nlohmann::json::parse(format_record(r, "dp1", LogFormat::ocsf));
  EXPECT_EQ(ocsf["status_detail"], "answered for api.example.com 12 s ago");
  EXPECT_EQ(ocsf["tls"]["sni"], "api.example.com");
  EXPECT_EQ(ocsf["dst_endpoint"]["hostname"], "api.example.com");
  const auto native = nlohmann::json::parse(format_record(r, "dp1", LogFormat::native));
  EXPECT_EQ(native["name_reason"], "answered for api.example.com 12 s ago");
  // Without names, none of these fields.
  const auto plain = nlohmann::json::parse(format_record(sample(pb::FlowRecord::START, pb::FlowRecord::ALLOWED), "dp1",
                                                         LogFormat::ecs));
  EXPECT_EQ(field(plain, "event.reason"), nullptr);
  EXPECT_EQ(field(plain, "tls"), nullptr);
}

TEST(SiemFormats, NativeIsTheRecordsOwnJson) {
  const auto r = sample(pb::FlowRecord::END, pb::FlowRecord::ALLOWED);
  EXPECT_EQ(format_record(r, "dp1", LogFormat::native), to_json(r, "dp1"));
  // With the Community ID the other formats carry, so the three join.
  const auto j = nlohmann::json::parse(format_record(r, "dp1", LogFormat::native));
  EXPECT_EQ(j["community_id"], "1:wCb3OG7yAFWelaUydu0D+125CLM=");
  LogFormat f;
  EXPECT_TRUE(parse_log_format("ocsf", f));
  EXPECT_EQ(f, LogFormat::ocsf);
  EXPECT_FALSE(parse_log_format("cef", f));
}

// The example lines of docs/operations.md ("Flow log formats") are what
// the code prints for the record they describe, and hold the fields the
// doc lists: a change of format shows here, with the line to put there.
TEST(SiemFormats, TheDocumentedExampleLinesAreTheCodesOwn) {
  const char* source = std::getenv("BULKHEAD_SOURCE_DIR");
  ASSERT_NE(source, nullptr) << "BULKHEAD_SOURCE_DIR (meson test sets it)";
  std::ifstream in(std::string(source) + "/docs/operations.md");
  ASSERT_TRUE(in) << "docs/operations.md";
  std::set<std::string> doc;
  for (std::string line; std::getline(in, line);) doc.insert(line);

  pb::FlowRecord r;
  r.set_kind(pb::FlowRecord::END);
  r.set_time_ms(1'795'500'061'726);
  r.set_start_ms(1'795'500'051'726);
  std::string s, d;
  ASSERT_TRUE(parse_address("10.0.1.11", s));
  ASSERT_TRUE(parse_address("10.0.2.5", d));
  r.set_src(s);
  r.set_dst(d);
  r.set_protocol(6);
  r.set_src_port(41126);
  r.set_dst_port(5432);
  r.set_src_segment("web");
  r.set_dst_segment("db");
  r.set_verdict(pb::FlowRecord::ALLOWED);
  r.set_rule_id("web-to-db");
  r.set_mode("enforce");
  r.set_generation(7);
  r.set_packets_out(12);
  r.set_bytes_out(1840);
  r.set_packets_in(10);
  r.set_bytes_in(9620);
  r.set_tcp_flags_out(0x1b);
  r.set_tcp_flags_in(0x1b);
  r.set_end_reason(pb::FlowRecord::CLOSED);

  const struct {
    LogFormat format;
    std::vector<std::string> fields;
  } cases[] = {
      {LogFormat::native, {"time_ms", "event", "dataplane", "src", "src_port", "dst", "dst_port", "proto",
                           "community_id", "src_segment", "dst_segment", "verdict", "rule", "mode", "generation",
                           "start_ms", "packets_out", "bytes_out", "packets_in", "bytes_in", "tcp_flags_out",
                           "tcp_flags_in", "end_reason"}},
      {LogFormat::ecs, [] {
         auto f = kEcsAlways;
         f.insert(f.end(), kEcsCounts.begin(), kEcsCounts.end());
         return f;
       }()},
      {LogFormat::ocsf, [] {
         auto f = kOcsfAlways;
         f.insert(f.end(), kOcsfCounts.begin(), kOcsfCounts.end());
         return f;
       }()},
  };
  for (const auto& c : cases) {
    const std::string line = format_record(r, "dp1", c.format);
    EXPECT_TRUE(doc.count(line)) << "docs/operations.md lacks the " << log_format_name(c.format)
                                 << " example line; the code prints:\n" << line;
    const auto j = nlohmann::json::parse(line);
    expect_fields(j, c.fields, log_format_name(c.format));
  }
}

TEST(SiemFormats, TheFlowLogWritesTheChosenFormatOneObjectPerLine) {
  test::TempDir dir;
  FlowLogOptions opt;
  opt.format = LogFormat::ecs;
  std::string error;
  auto log = FlowLog::open(dir.file("flows.jsonl"), opt, error);
  ASSERT_TRUE(log) << error;
  std::vector<pb::FlowRecord> batch = {sample(pb::FlowRecord::START, pb::FlowRecord::ALLOWED),
                                       sample(pb::FlowRecord::END, pb::FlowRecord::ALLOWED)};
  log->write(batch, "dp1", 1000, 1'790'000'000'000);
  std::ifstream in(dir.file("flows.jsonl"));
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    expect_fields(j, kEcsAlways, "flow log line");
    ++n;
  }
  EXPECT_EQ(n, 2);
}

}  // namespace
}  // namespace bulkhead::controlplane::flows
