// Flow records and the flow store: validation of what arrives, orientation
// of records whose opener was not seen, aggregation, queries, the memory
// bound, persistence; the flow log's caps; and flows assembled from real
// capture files the way the dataplane tracks them.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "common/protocols.h"
#include "controlplane/flows/flow_log.h"
#include "controlplane/flows/flow_store.h"
#include "controlplane/flows/pcap_flows.h"
#include "controlplane/flows/record.h"
#include "tests/common/packet_builder.h"
#include "tests/common/pcap_io.h"
#include "tests/common/temp_dir.h"

namespace bulkhead::controlplane::flows {
namespace {

constexpr int64_t kT0 = 1'790'000'000'000;  // 2026

std::string addr(const char* text) {
  std::string b;
  EXPECT_TRUE(parse_address(text, b)) << text;
  return b;
}

pb::FlowRecord record(const char* src, const char* dst, uint32_t proto, uint32_t sport, uint32_t dport,
                      pb::FlowRecord::Kind kind = pb::FlowRecord::START, int64_t t = kT0) {
  pb::FlowRecord r;
  r.set_kind(kind);
  r.set_time_ms(t);
  r.set_start_ms(t);
  r.set_src(addr(src));
  r.set_dst(addr(dst));
  r.set_protocol(proto);
  r.set_src_port(sport);
  r.set_dst_port(dport);
  r.set_verdict(pb::FlowRecord::ALLOWED);
  r.set_mode("enforce");
  r.set_opener_known(true);
  return r;
}

TEST(FlowRecord, ValidRecordPasses) {
  std::string why;
  EXPECT_TRUE(validate(record("10.0.0.1", "10.0.0.2", 6, 40000, 443), why)) << why;
  EXPECT_TRUE(validate(record("fd00::1", "fd00::2", 17, 40000, 53), why)) << why;
}

TEST(FlowRecord, MalformedRecordsAreRefusedWithAReason) {
  std::string why;
  auto r = record("10.0.0.1", "10.0.0.2", 6, 40000, 443);
  auto mixed = r;
  mixed.set_dst(addr("fd00::2"));
  EXPECT_FALSE(validate(mixed, why));
  EXPECT_NE(why.find("bytes"), std::string::npos);
  auto proto = r;
  proto.set_protocol(300);
  EXPECT_FALSE(validate(proto, why));
  auto port = r;
  port.set_dst_port(70000);
  EXPECT_FALSE(validate(port, why));
  auto kind = r;
  kind.set_kind(static_cast<pb::FlowRecord::Kind>(9));
  EXPECT_FALSE(validate(kind, why));
  auto mode = r;
  mode.set_mode("chaos");
  EXPECT_FALSE(validate(mode, why));
  auto old = r;
  old.set_time_ms(1000);
  EXPECT_FALSE(validate(old, why));
  auto backwards = r;
  backwards.set_start_ms(r.time_ms() + 1);
  EXPECT_FALSE(validate(backwards, why));
  auto empty = pb::FlowRecord();
  EXPECT_FALSE(validate(empty, why));
  auto named = r;
  named.set_dns_name("api.example.com");
  named.set_sni("api.example.com");
  EXPECT_TRUE(validate(named, why)) << why;
  auto spaced = r;
  spaced.set_dns_name("api example.com");
  EXPECT_FALSE(validate(spaced, why));
  auto long_name = r;
  long_name.set_sni(std::string(254, 'a'));
  EXPECT_FALSE(validate(long_name, why));
  auto control = r;
  control.set_dns_name(std::string("a\x01b", 3));
  EXPECT_FALSE(validate(control, why));
}

TEST(FlowRecord, OrientPutsTheServiceOnTheDestinationSide) {
  std::vector<pb::FlowRecord> v;
  // A DNS reply seen first: the well-known port is the service.
  v.push_back(record("10.0.0.53", "10.0.0.9", 17, 53, 41000));
  v.back().set_opener_known(false);
  // High port against an ephemeral one.
  v.push_back(record("10.0.0.7", "10.0.0.9", 17, 8125, 50000));
  v.back().set_opener_known(false);
  // A TCP connection whose SYN was seen is never turned round.
  v.push_back(record("10.0.0.1", "10.0.0.2", 6, 22, 40000));
  EXPECT_EQ(orient(v), 2u);
  EXPECT_EQ(format_address(v[0].src()), "10.0.0.9");
  EXPECT_EQ(v[0].dst_port(), 53u);
  EXPECT_EQ(v[1].dst_port(), 8125u);
  EXPECT_EQ(v[2].dst_port(), 40000u);
}

TEST(FlowRecord, OrientUsesHowManyPeersAnEndpointHas) {
  // 20000/udp answers five peers from their own 10000-range ports: neither
  // side is well-known or ephemeral, so the many peers tell the service.
  std::vector<pb::FlowRecord> v;
  for (int i = 0; i < 5; ++i) {
    v.push_back(record("10.0.0.5", ("10.0.1." + std::to_string(i + 1)).c_str(), 17, 20000, 10000 + i));
    v.back().set_opener_known(false);
  }
  EXPECT_EQ(orient(v), 5u);
  for (const auto& r : v) EXPECT_EQ(r.dst_port(), 20000u);
}

TEST(FlowRecord, JsonLineNamesEverything) {
  auto r = record("10.0.0.1", "10.0.0.2", 6, 40000, 443, pb::FlowRecord::END);
  r.set_packets_out(3);
  r.set_end_reason(pb::FlowRecord::CLOSED);
  r.set_rule_id("web \"in\"\n\x01");
  const std::string line = to_json(r, "dp\\1");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["event"], "end");
  EXPECT_EQ(j["dst"], "10.0.0.2");
  EXPECT_EQ(j["dst_port"], 443);
  EXPECT_EQ(j["proto"], "tcp");
  EXPECT_EQ(j["packets_out"], 3);
  EXPECT_EQ(j["end_reason"], "closed");
  EXPECT_EQ(j["rule"], "web \"in\"\n\x01") << "names come back exactly as they were";
  EXPECT_EQ(j["dataplane"], "dp\\1");
  EXPECT_EQ(j["community_id"], community_id(r)) << "the flow's Community ID, as ECS and OCSF carry it";
  EXPECT_EQ(j["community_id"].get<std::string>().substr(0, 2), "1:");
  EXPECT_EQ(line.rfind("{\"time_ms\":", 0), 0u) << "keys in their documented order";
}

TEST(FlowRecord, JsonLineCarriesTheNamesBehindADecision) {
  auto r = record("10.1.0.5", "203.0.113.9", 6, 40000, 443, pb::FlowRecord::START);
  EXPECT_FALSE(nlohmann::json::parse(to_json(r, "dp1")).contains("name_reason")) << "absent without names";
  r.set_dns_name("api.stripe.com");
  r.set_dns_age_s(12);
  r.set_name_reason("answered for api.stripe.com 12 s before");
  const auto j = nlohmann::json::parse(to_json(r, "dp1"));
  EXPECT_EQ(j["dns_name"], "api.stripe.com");
  EXPECT_EQ(j["dns_age_s"], 12);
  EXPECT_EQ(j["name_reason"], "answered for api.stripe.com 12 s before");
  EXPECT_FALSE(j.contains("sni"));
}

TEST(FlowRecord, DeniedRecordsCarryThePacketsTheyStandFor) {
  auto r = record("10.0.0.1", "10.0.0.2", 6, 40000, 22, pb::FlowRecord::DENIED);
  r.set_verdict(pb::FlowRecord::DENY);
  r.set_packets_out(300);
  r.set_bytes_out(18000);
  const auto j = nlohmann::json::parse(to_json(r, "dp1"));
  EXPECT_EQ(j["event"], "denied");
  EXPECT_EQ(j["verdict"], "denied");
  EXPECT_EQ(j["packets_out"], 300);
  EXPECT_EQ(j["bytes_out"], 18000);
  EXPECT_FALSE(j.contains("packets_in"));
}

TEST(FlowStore, AggregatesConnectionsByServiceWithVerdicts) {
  FlowStore s;
  for (int i = 0; i < 3; ++i) {
    s.ingest(record("10.0.0.1", "10.0.0.2", 6, 40000 + i, 443, pb::FlowRecord::START, kT0 + i));
    auto end = record("10.0.0.1", "10.0.0.2", 6, 40000 + i, 443, pb::FlowRecord::END, kT0 + 10 + i);
    end.set_packets_out(5);
    end.set_packets_in(4);
    end.set_bytes_out(500);
    end.set_bytes_in(4000);
    end.set_tcp_flags_in(0x12);
    s.ingest(end);
  }
  auto denied = record("10.0.0.1", "10.0.0.2", 6, 40100, 443, pb::FlowRecord::DENIED, kT0 + 20);
  denied.set_verdict(pb::FlowRecord::DENY);
  s.ingest(denied);
  auto audit = record("10.0.0.3", "10.0.0.2", 6, 40200, 443, pb::FlowRecord::START, kT0 + 30);
  audit.set_verdict(pb::FlowRecord::WOULD_DENY);
  audit.set_mode("audit");
  s.ingest(audit);
  ASSERT_EQ(s.size(), 2u);
  auto all = s.query({});
  const auto& a = format_address(all[0].src()) == "10.0.0.1" ? all[0] : all[1];
  EXPECT_EQ(a.flows(), 4u);
  EXPECT_EQ(a.allowed(), 3u);
  EXPECT_EQ(a.denied(), 1u);
  EXPECT_EQ(a.learnable(), 3u);
  EXPECT_EQ(a.answered(), 3u);
  EXPECT_EQ(a.packets(), 27u);
  EXPECT_EQ(a.bytes(), 13500u);
  EXPECT_EQ(a.first_ms(), kT0);
  EXPECT_EQ(a.last_ms(), kT0 + 20);
  const auto& b = &a == &all[0] ? all[1] : all[0];
  EXPECT_EQ(b.would_deny(), 1u);
  EXPECT_EQ(b.learnable(), 1u);
  EXPECT_EQ(s.info().records(), 8u);
  EXPECT_EQ(s.info().oldest_ms(), kT0);
  EXPECT_EQ(s.info().newest_ms(), kT0 + 30);
}

TEST(FlowStore, CountsConnectionsThatEndedUnanswered) {
  FlowStore s;
  for (int i = 0; i < 4; ++i) {
    s.ingest(record("10.0.0.1", "10.0.0.2", 6, 40000 + i, 22, pb::FlowRecord::START));
    auto end = record("10.0.0.1", "10.0.0.2", 6, 40000 + i, 22, pb::FlowRecord::END, kT0 + 30'000);
    end.set_packets_out(3);  // SYN, SYN, SYN: nothing back
    end.set_tcp_flags_out(common::kTcpSyn);
    s.ingest(end);
  }
  auto answered = record("10.0.0.1", "10.0.0.2", 6, 41000, 22, pb::FlowRecord::END, kT0 + 1000);
  answered.set_packets_out(5);
  answered.set_packets_in(4);
  answered.set_tcp_flags_in(common::kTcpSyn | common::kTcpAck);
  s.ingest(answered);
  const auto all = s.query({});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].unanswered(), 4u);
  EXPECT_EQ(all[0].answered(), 1u);
  test::TempDir dir;
  std::string error;
  ASSERT_TRUE(s.save(dir.file("f.pb"), kT0, error)) << error;
  FlowStore t;
  ASSERT_TRUE(t.load(dir.file("f.pb"), error)) << error;
  EXPECT_EQ(t.query({})[0].unanswered(), 4u) << "kept across a restart";
}

TEST(FlowStore, QueriesFilterByWindowVerdictHostSegmentAndPort) {
  FlowStore s;
  auto r1 = record("10.0.0.1", "10.0.0.2", 6, 40000, 443, pb::FlowRecord::START, kT0);
  r1.set_dst_segment("web");
  s.ingest(r1);
  auto r2 = record("10.0.0.1", "10.0.0.3", 6, 40000, 5432, pb::FlowRecord::START, kT0 + 3'600'000);
  r2.set_dst_segment("db");
  s.ingest(r2);
  auto r3 = record("10.0.0.9", "10.0.0.3", 6, 40000, 5432, pb::FlowRecord::DENIED, kT0 + 3'600'000);
  r3.set_verdict(pb::FlowRecord::DENY);
  r3.set_dst_segment("db");
  for (int i = 0; i < 5; ++i) s.ingest(r3);
  FlowQuery q;
  q.since_ms = kT0 + 1000;
  EXPECT_EQ(s.query(q).size(), 2u);
  q = {};
  q.denied_only = true;
  ASSERT_EQ(s.query(q).size(), 1u);
  q = {};
  q.host = addr("10.0.0.2");
  EXPECT_EQ(s.query(q).size(), 1u);
  q = {};
  q.segment = "db";
  EXPECT_EQ(s.query(q).size(), 2u);
  q.segment = "nosuch";
  EXPECT_EQ(s.query(q).size(), 0u);
  q = {};
  q.port = 443;
  EXPECT_EQ(s.query(q).size(), 1u);
  q = {};
  q.top = 1;
  auto top = s.query(q);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].flows(), 5u);
}

TEST(FlowStore, StaysWithinCapacityKeepingTheMostRecent) {
  FlowStoreOptions opt;
  opt.capacity = 64;
  FlowStore s(opt);
  for (int i = 0; i < 1000; ++i)
    s.ingest(record("10.0.0.1", ("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250)).c_str(), 6,
                    40000, 443, pb::FlowRecord::START, kT0 + i));
  EXPECT_LE(s.size(), 64u);
  EXPECT_GE(s.info().evicted(), 1000u - 64u);
  FlowQuery q;
  q.host = addr("10.1.3.249");  // the last one
  EXPECT_EQ(s.query(q).size(), 1u);
  q.host = addr("10.1.0.0");  // the first one
  EXPECT_EQ(s.query(q).size(), 0u);
}

TEST(FlowStore, ExpiresWhatRetentionNoLongerCovers) {
  FlowStoreOptions opt;
  opt.retention_ms = 1000;
  FlowStore s(opt);
  s.ingest(record("10.0.0.1", "10.0.0.2", 6, 40000, 443, pb::FlowRecord::START, kT0));
  s.ingest(record("10.0.0.1", "10.0.0.3", 6, 40000, 443, pb::FlowRecord::START, kT0 + 5000));
  EXPECT_EQ(s.info().oldest_ms(), kT0);
  s.expire(kT0 + 5500);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.info().oldest_ms(), kT0 + 5000) << "the span follows what is left";
}

// And, likewise, the server names of its connections' ClientHellos.
TEST(FlowStore, KeepsTheLatestNamesBehindADestination) {
  FlowStore s;
  const char* names[] = {"a.example.com", "b.example.com", "a.example.com", "c.example.com", "d.example.com",
                         "e.example.com"};
  int64_t t = kT0;
  for (const char* n : names) {
    auto r = record("10.0.0.1", "198.51.100.7", 6, 40000, 443, pb::FlowRecord::START, t += 1000);
    r.set_dns_name(n);
    r.set_sni(std::string("tls.") + n);
    s.ingest(r);
  }
  s.ingest(record("10.0.0.1", "198.51.100.7", 6, 40001, 443, pb::FlowRecord::END, t += 1000));  // no name: kept
  auto all = s.query({});
  ASSERT_EQ(all.size(), 1u);
  // a.example.com came again before c, so b is the one that went.
  EXPECT_EQ(std::vector<std::string>(all[0].dns_names().begin(), all[0].dns_names().end()),
            (std::vector<std::string>{"a.example.com", "c.example.com", "d.example.com", "e.example.com"}));
  EXPECT_EQ(std::vector<std::string>(all[0].server_names().begin(), all[0].server_names().end()),
            (std::vector<std::string>{"tls.a.example.com", "tls.c.example.com", "tls.d.example.com",
                                      "tls.e.example.com"}));
  EXPECT_EQ(s.info().dns_names(), 10u);  // both kinds, kept once each

  test::TempDir dir;
  std::string error;
  ASSERT_TRUE(s.save(dir.file("flows.pb"), t, error)) << error;
  FlowStore back;
  ASSERT_TRUE(back.load(dir.file("flows.pb"), error)) << error;
  EXPECT_EQ(back.query({})[0].dns_names_size(), 4);
  EXPECT_EQ(back.query({})[0].dns_names(3), "e.example.com");
  ASSERT_EQ(back.query({})[0].server_names_size(), 4);
  EXPECT_EQ(back.query({})[0].server_names(3), "tls.e.example.com");

  auto snap = s.snapshot(t);
  snap.mutable_aggregates(0)->add_dns_names("x.example.com");  // five: more than any store keeps
  FlowStore refused;
  EXPECT_FALSE(refused.restore(snap, error));
  snap.mutable_aggregates(0)->clear_dns_names();
  snap.mutable_aggregates(0)->add_dns_names("no spaces allowed");
  EXPECT_FALSE(refused.restore(snap, error));
  snap = s.snapshot(t);
  snap.mutable_aggregates(0)->add_server_names("x.example.com");
  EXPECT_FALSE(refused.restore(snap, error));
  snap.mutable_aggregates(0)->clear_server_names();
  snap.mutable_aggregates(0)->add_server_names("no spaces allowed");
  EXPECT_FALSE(refused.restore(snap, error));
  snap.mutable_aggregates(0)->clear_server_names();
  EXPECT_TRUE(refused.restore(snap, error)) << error;
}

TEST(FlowStore, SurvivesARestartAndRefusesDamagedFiles) {
  test::TempDir dir;
  const std::string path = dir.file("flows.pb");
  FlowStore s;
  auto r = record("10.0.0.1", "10.0.0.2", 6, 40000, 443);
  r.set_src_segment("web");
  s.ingest(r);
  s.ingest(record("fd00::1", "fd00::2", 17, 40000, 53));
  std::string error;
  ASSERT_TRUE(s.save(path, kT0, error)) << error;
  FlowStore t;
  ASSERT_TRUE(t.load(path, error)) << error;
  EXPECT_EQ(t.size(), 2u);
  FlowQuery q;
  q.segment = "web";
  EXPECT_EQ(t.query(q).size(), 1u);

  FlowStore missing;
  EXPECT_TRUE(missing.load(dir.file("absent.pb"), error));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "\x0a\xff\xff garbage";
  FlowStore damaged;
  EXPECT_FALSE(damaged.load(path, error));
  EXPECT_NE(error.find("flows.pb"), std::string::npos);

  pb::FlowSnapshot bad;
  bad.set_version(1);
  auto* a = bad.add_aggregates();
  a->set_src("abc");  // 3 bytes
  a->set_dst("abc");
  EXPECT_FALSE(t.restore(bad, error));
  EXPECT_EQ(t.size(), 2u);  // untouched
}

// --- the flow log -----------------------------------------------------------

std::vector<pb::FlowRecord> connections(int n, int64_t t = kT0) {
  std::vector<pb::FlowRecord> v;
  for (int i = 0; i < n; ++i)
    v.push_back(record("10.0.0.1", "10.0.0.2", 6, static_cast<uint32_t>(40000 + i % 20000), 443, pb::FlowRecord::START, t));
  return v;
}

std::vector<pb::FlowRecord> denied(int n) {
  std::vector<pb::FlowRecord> v;
  for (int i = 0; i < n; ++i) {
    auto r = record(("10.9." + std::to_string(i / 250 % 250) + "." + std::to_string(i % 250)).c_str(), "10.0.0.2", 6,
                    40000, 22, pb::FlowRecord::DENIED);
    r.set_verdict(pb::FlowRecord::DENY);
    v.push_back(r);
  }
  return v;
}

// Every line of a file, parsed; a line that is not JSON fails the test.
std::vector<nlohmann::json> lines_of(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    EXPECT_NO_THROW(out.push_back(nlohmann::json::parse(line))) << path << ": " << line;
  }
  return out;
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

TEST(FlowLog, StaysUnderItsSizeCapByRotatingAndKeepsNFiles) {
  test::TempDir dir;
  const std::string path = dir.file("flows.jsonl");
  FlowLogOptions opt;
  opt.max_file_bytes = 1 << 20;
  opt.keep_files = 2;
  opt.rate = 1'000'000;
  std::string error;
  auto log = FlowLog::open(path, opt, error);
  ASSERT_TRUE(log) << error;
  // About 12 MB of lines, in batches as the collector writes them.
  int64_t now = 1000;
  for (int b = 0; b < 40; ++b) log->write(connections(1024), "dp1", now += 1000, kT0);
  const auto& i = log->info();
  EXPECT_EQ(i.records(), 40u * 1024);
  EXPECT_EQ(i.dropped_rate() + i.dropped_errors(), 0u);
  EXPECT_GE(i.rotations(), 5u);
  for (const std::string& f : {path, path + ".1", path + ".2"}) {
    ASSERT_TRUE(std::filesystem::exists(f)) << f;
    EXPECT_LE(file_size(f), opt.max_file_bytes) << f;
    // The rotated files are full; the current one holds what came after.
    EXPECT_GT(lines_of(f).size(), f == path ? 0u : 1000u) << f << ": whole lines, each a JSON object";
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".3")) << "only keep_files rotated files stay";
  uint64_t disk = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) disk += e.file_size();
  EXPECT_LE(disk, (opt.keep_files + 1) * opt.max_file_bytes);
}

// Every line of FILE.N ... FILE.1, FILE, oldest first.
std::vector<std::vector<nlohmann::json>> rotated_files(const std::string& path, uint32_t keep) {
  std::vector<std::vector<nlohmann::json>> out;
  for (uint32_t i = keep; i >= 1; --i)
    if (std::filesystem::exists(path + "." + std::to_string(i))) out.push_back(lines_of(path + "." + std::to_string(i)));
  out.push_back(lines_of(path));
  return out;
}

TEST(FlowLog, RotatesBySizeAndTimeWithoutLosingOrSplittingARecord) {
  test::TempDir dir;
  const std::string path = dir.file("flows.jsonl");
  FlowLogOptions opt;
  opt.max_file_bytes = 1 << 20;
  opt.keep_files = 100;
  opt.rate = 1'000'000;
  opt.rotate_every_s = 3600;
  std::string error;
  auto log = FlowLog::open(path, opt, error);
  ASSERT_TRUE(log) << error;
  // Three hours (from 10:00 UTC) of 100 batches of 300 records, every
  // record told apart by its time: several MB an hour, so each hour's
  // file also turns over by size.
  const int64_t hour0 = kT0 / 3'600'000 * 3'600'000 + 10 * 3'600'000;
  int64_t id = 0;
  for (int h = 0; h < 3; ++h) {
    for (int b = 0; b < 100; ++b) {
      const int64_t unix_ms = hour0 + h * 3'600'000 + b * 30'000;
      std::vector<pb::FlowRecord> batch = connections(300, unix_ms);
      for (auto& r : batch) r.set_time_ms(hour0 + id++);
      log->write(batch, "dp1", unix_ms, unix_ms);
    }
  }
  EXPECT_EQ(log->info().records(), static_cast<uint64_t>(id));
  const uint64_t rotations = log->info().rotations();
  EXPECT_GE(rotations, 8u) << "two size rotations an hour, and one for each new hour";
  // A quiet minute into the fourth hour: the tick turns the third hour's
  // file over though no record came.
  log->tick(0, hour0 + 3 * 3'600'000 + 60'000);
  EXPECT_EQ(log->info().rotations(), rotations + 1);
  EXPECT_EQ(file_size(path), 0u);

  const auto files = rotated_files(path, opt.keep_files);
  EXPECT_EQ(files.size(), rotations + 2);
  int64_t next = 0;
  std::set<int64_t> hours_seen;
  for (const auto& lines : files) {
    for (const auto& j : lines) {
      ASSERT_EQ(j["time_ms"].get<int64_t>(), hour0 + next) << "every record once, in order";
      ++next;
    }
    if (!lines.empty()) {
      // A file holds one hour: the record ids of a file's first and last
      // lines were written in the same hour (300 x 100 records an hour).
      const int64_t first = lines.front()["time_ms"].get<int64_t>() - hour0;
      const int64_t last = lines.back()["time_ms"].get<int64_t>() - hour0;
      EXPECT_EQ(first / 30'000, last / 30'000) << "a file spans two hours";
      hours_seen.insert(first / 30'000);
    }
  }
  EXPECT_EQ(next, id) << "no record lost";
  EXPECT_EQ(hours_seen.size(), 3u);
}

TEST(FlowLog, ALogFoundFromAnEarlierPeriodTurnsOverOnTheFirstWrite) {
  test::TempDir dir;
  const std::string path = dir.file("flows.jsonl", "{\"event\":\"yesterday\"}\n");
  // Last written a day before the records that come now.
  const timespec times[2] = {{(kT0 - 86'400'000) / 1000, 0}, {(kT0 - 86'400'000) / 1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  FlowLogOptions opt;
  opt.rotate_every_s = 86400;
  std::string error;
  auto log = FlowLog::open(path, opt, error);
  ASSERT_TRUE(log) << error;
  log->write(connections(3), "dp1", 1000, kT0);
  ASSERT_EQ(lines_of(path + ".1").size(), 1u);
  EXPECT_EQ(lines_of(path + ".1")[0]["event"], "yesterday");
  EXPECT_EQ(lines_of(path).size(), 3u);
  // The same day again: no rotation.
  log->write(connections(2), "dp1", 2000, kT0 + 1000);
  EXPECT_EQ(lines_of(path).size(), 5u);
  EXPECT_EQ(log->info().rotations(), 1u);
  FlowLogOptions bad;
  bad.rotate_every_s = 10;
  EXPECT_NE(check(bad).find("--flow-log-rotate"), std::string::npos);
}

TEST(FlowLog, RateCapDropsWhatIsOverItCountsItAndSaysWhereTheGapIs) {
  test::TempDir dir;
  const std::string path = dir.file("flows.jsonl");
  FlowLogOptions opt;
  opt.rate = 100;
  std::string error;
  auto log = FlowLog::open(path, opt, error);
  ASSERT_TRUE(log) << error;
  // A flood of denied records does not take the connections' share.
  log->write(denied(5000), "dp1", 10'000, kT0);
  log->write(connections(60), "dp1", 10'000, kT0);
  EXPECT_EQ(log->info().records(), 100u + 60u + 1u) << "100 denied, 60 connections, one line telling the gap";
  EXPECT_EQ(log->info().dropped_rate(), 4900u);
  // Half a second later: 50 more tokens, and the gap is told again only a
  // second after the last time.
  log->write(denied(5000), "dp1", 10'500, kT0 + 500);
  EXPECT_EQ(log->info().dropped_rate(), 4900u + 4950u);
  log->tick(11'000, kT0 + 1000);
  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 100u + 60u + 50u + 2u);
  uint64_t told = 0, denied_lines = 0, gaps = 0;
  for (const auto& j : lines) {
    if (j["event"] == "dropped") {
      ++gaps;
      EXPECT_EQ(j["class"], "denied");
      EXPECT_EQ(j["reason"], "rate");
      told += j["records"].get<uint64_t>();
    } else if (j["event"] == "denied") {
      ++denied_lines;
    }
  }
  EXPECT_EQ(gaps, 2u);
  EXPECT_EQ(told, 4900u + 4950u) << "every record kept out is told";
  EXPECT_EQ(denied_lines, 150u);
}

TEST(FlowLog, IsNotForEveryLocalUser) {
  test::TempDir dir;
  std::string error;
  auto fresh = FlowLog::open(dir.file("new.jsonl"), {}, error);
  ASSERT_TRUE(fresh) << error;
  struct stat st;
  ASSERT_EQ(::stat(dir.file("new.jsonl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0007, 0u);
  const std::string old = dir.file("old.jsonl", "{}\n");
  ::chmod(old.c_str(), 0644);
  auto reopened = FlowLog::open(old, {}, error);
  ASSERT_TRUE(reopened) << error;
  ASSERT_EQ(::stat(old.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(FlowLog, AFileMovedAwayIsReopenedAtItsPath) {
  test::TempDir dir;
  const std::string path = dir.file("flows.jsonl");
  std::string error;
  auto log = FlowLog::open(path, {}, error);
  ASSERT_TRUE(log) << error;
  log->write(connections(3), "dp1", 1000, kT0);
  std::filesystem::rename(path, path + ".old");  // logrotate without copytruncate
  log->write(connections(2), "dp1", 2000, kT0);
  EXPECT_EQ(lines_of(path + ".old").size(), 3u);
  EXPECT_EQ(lines_of(path).size(), 2u);
}

TEST(FlowLog, AFifoIsWrittenInPlaceAndNeverBlocks) {
  test::TempDir dir;
  const std::string path = dir.file("siem.fifo");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  std::string error;
  // No reader yet: the log opens, and what it cannot write is counted.
  auto log = FlowLog::open(path, {}, error);
  ASSERT_TRUE(log) << error;
  log->write(connections(5), "dp1", 1000, kT0);
  EXPECT_EQ(log->info().dropped_errors(), 5u);
  EXPECT_FALSE(log->info().last_error().empty());
  // A reader: the lines go through it, and the FIFO stays a FIFO.
  const int reader = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  log->write(connections(4), "dp1", 2000, kT0);
  char buf[8192];
  const ssize_t n = ::read(reader, buf, sizeof(buf));
  ::close(reader);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::count(buf, buf + n, '\n'), 4);
  EXPECT_EQ(log->info().records(), 4u);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST(FlowLog, RefusesWhatCannotBeALogAndCapsThatAreNot) {
  test::TempDir dir;
  std::string error;
  EXPECT_FALSE(FlowLog::open(dir.path(), {}, error));
  EXPECT_NE(error.find(dir.path()), std::string::npos) << error;
  EXPECT_FALSE(FlowLog::open(dir.path() + "/no/such/dir/flows.jsonl", {}, error));
  FlowLogOptions o;
  o.rate = 0;
  EXPECT_NE(check(o).find("--flow-log-rate"), std::string::npos);
  o = {};
  o.max_file_bytes = 1000;
  EXPECT_NE(check(o).find("--flow-log-size"), std::string::npos);
  EXPECT_FALSE(FlowLog::open(dir.file("x.jsonl"), o, error));
  EXPECT_EQ(check({}), "");
}

// --- captures ----------------------------------------------------------------

TEST(PcapFlows, AssemblesConnectionsFromACapture) {
  using namespace bulkhead::test;
  test::TempDir dir;
  std::vector<Frame> frames;
  PacketSpec c{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000, .dport = 5432};
  for (auto& f : tcp_handshake(c)) frames.push_back(f);
  PacketSpec data = c;
  data.tcp_flags = common::kTcpAck | common::kTcpPsh;
  data.payload_len = 100;
  frames.push_back(build_packet(data));
  PacketSpec fin = c;
  fin.tcp_flags = common::kTcpFin | common::kTcpAck;
  frames.push_back(build_packet(fin));
  frames.push_back(build_packet(reversed(fin)));
  PacketSpec last = c;
  last.tcp_flags = common::kTcpAck;
  frames.push_back(build_packet(last));
  // A DNS reply whose query is not in the capture: oriented by its port.
  frames.push_back(build_packet({.src = "10.0.3.53", .dst = "10.0.1.5", .proto = common::kProtoUdp, .sport = 53, .dport = 45000}));
  // Garbage and a truncated frame are counted, not fatal.
  frames.push_back(Frame(10, 0xab));
  frames.push_back(truncated(build_packet(c), 30));
  write_pcap(dir.file("a.pcap"), frames);

  std::vector<pb::FlowRecord> got;
  PcapStats stats;
  std::string error;
  ASSERT_TRUE(read_pcaps({dir.file("a.pcap")}, [&](std::vector<pb::FlowRecord>& b) { got.insert(got.end(), b.begin(), b.end()); },
                         stats, error))
      << error;
  EXPECT_EQ(stats.packets, frames.size());
  EXPECT_EQ(stats.malformed, 2u);
  EXPECT_EQ(stats.connections, 2u);
  ASSERT_EQ(got.size(), 4u);  // a start and an end per connection
  const pb::FlowRecord* tcp_end = nullptr;
  const pb::FlowRecord* dns = nullptr;
  for (const auto& r : got) {
    if (r.protocol() == 6 && r.kind() == pb::FlowRecord::END) tcp_end = &r;
    if (r.protocol() == 17) dns = &r;
  }
  ASSERT_NE(tcp_end, nullptr);
  EXPECT_EQ(format_address(tcp_end->src()), "10.0.1.5");
  EXPECT_EQ(tcp_end->dst_port(), 5432u);
  EXPECT_TRUE(tcp_end->opener_known());
  EXPECT_EQ(tcp_end->packets_out(), 5u);
  EXPECT_EQ(tcp_end->packets_in(), 2u);
  EXPECT_EQ(tcp_end->end_reason(), pb::FlowRecord::CLOSED);
  ASSERT_NE(dns, nullptr);
  EXPECT_EQ(format_address(dns->src()), "10.0.1.5");
  EXPECT_EQ(dns->dst_port(), 53u);
}

TEST(PcapFlows, FilesThatAreNotCapturesAreErrorsNamingTheFile) {
  test::TempDir dir;
  std::vector<pb::FlowRecord> got;
  PcapStats stats;
  std::string error;
  auto sink = [&](std::vector<pb::FlowRecord>& b) { got.insert(got.end(), b.begin(), b.end()); };
  EXPECT_FALSE(read_pcaps({dir.file("text.pcap", "hello, not a capture\n")}, sink, stats, error));
  EXPECT_NE(error.find("text.pcap"), std::string::npos);
  EXPECT_FALSE(read_pcaps({dir.file("absent.pcap")}, sink, stats, error));
  // A capture cut in the middle of a record.
  test::write_pcap(dir.file("cut.pcap"), {test::build_packet({}), test::build_packet({.payload_len = 200})});
  std::ifstream in(dir.file("cut.pcap"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir.file("cut.pcap"), std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 50);
  EXPECT_FALSE(read_pcaps({dir.file("cut.pcap")}, sink, stats, error));
  EXPECT_NE(error.find("cut.pcap"), std::string::npos);
}

TEST(PcapFlows, EveryLinkTypeAndGzipMakeTheEthernetCapturesRecords) {
  using namespace bulkhead::test;
  test::TempDir dir;
  PacketSpec c{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000, .dport = 5432};
  std::vector<Frame> frames = tcp_handshake(c);
  PacketSpec data = c;
  data.tcp_flags = common::kTcpAck | common::kTcpPsh;
  data.payload_len = 300;
  frames.push_back(build_packet(data));
  PacketSpec tagged = reversed(data);
  tagged.vlans = {100};
  frames.push_back(build_packet(tagged));
  auto records_of = [&](const std::string& path) {
    std::vector<pb::FlowRecord> got;
    PcapStats stats;
    std::string error;
    EXPECT_TRUE(read_pcaps({path}, [&](std::vector<pb::FlowRecord>& b) { got.insert(got.end(), b.begin(), b.end()); },
                           stats, error))
        << error;
    EXPECT_EQ(stats.packets, frames.size());
    EXPECT_EQ(stats.connections, 1u);
    return got;
  };
  write_pcap(dir.file("eth.pcap"), frames);
  const auto want = records_of(dir.file("eth.pcap"));
  ASSERT_EQ(want.size(), 2u);
  EXPECT_EQ(want[1].bytes_in(), frames[1].size() + build_packet(tagged).size()) << "the tag's bytes counted";
  for (int link : {DLT_RAW, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP}) {
    SCOPED_TRACE(link);
    std::vector<Frame> records;
    for (const Frame& f : frames) records.push_back(as_link(link, f));
    const std::string path = dir.file("l" + std::to_string(link) + ".pcap");
    write_pcap(path, records, link);
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(path + ".gz", std::ios::binary) << gzip(bytes);
    for (const std::string& file : {path, path + ".gz"}) {
      const auto got = records_of(file);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].packets_out(), want[i].packets_out());
        EXPECT_EQ(got[i].tcp_flags_out(), want[i].tcp_flags_out());
        // Counted as the Ethernet frame it would be: the tag where the link
        // type keeps it.
        const bool tags = link == DLT_LINUX_SLL || link == DLT_LINUX_SLL2;
        EXPECT_EQ(got[i].bytes_in() + (tags ? 0 : 4 * (i == 1)), want[i].bytes_in());
        EXPECT_EQ(got[i].bytes_out(), want[i].bytes_out());
      }
    }
  }
}

// A frame of a capture: when it was seen, and how much of it was kept.
struct Captured {
  test::Frame frame;
  int64_t ms = kT0;
  uint32_t caplen = 0;  // 0: all of it
};

// Writes a classic pcap with libpcap itself, timestamps and snapshot
// lengths as given.
void write_capture(const std::string& path, const std::vector<Captured>& frames, int snaplen = 65535) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, snaplen);
  ASSERT_NE(dead, nullptr);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  ASSERT_NE(d, nullptr) << pcap_geterr(dead);
  for (const auto& c : frames) {
    pcap_pkthdr h{};
    h.ts.tv_sec = c.ms / 1000;
    h.ts.tv_usec = static_cast<suseconds_t>(c.ms % 1000 * 1000);
    h.len = static_cast<bpf_u_int32>(c.frame.size());
    h.caplen = c.caplen == 0 ? h.len : std::min<bpf_u_int32>(c.caplen, h.len);
    pcap_dump(reinterpret_cast<u_char*>(d), &h, c.frame.data());
  }
  pcap_dump_close(d);
  pcap_close(dead);
}

struct Read {
  std::vector<pb::FlowRecord> records;
  PcapStats stats;
  std::vector<const pb::FlowRecord*> of(pb::FlowRecord::Kind kind) const {
    std::vector<const pb::FlowRecord*> v;
    for (const auto& r : records)
      if (r.kind() == kind) v.push_back(&r);
    return v;
  }
};

Read read_capture(const std::vector<Captured>& frames) {
  test::TempDir dir;
  write_capture(dir.file("c.pcap"), frames);
  Read out;
  std::string error;
  EXPECT_TRUE(read_pcaps({dir.file("c.pcap")},
                         [&](std::vector<pb::FlowRecord>& b) { out.records.insert(out.records.end(), b.begin(), b.end()); },
                         out.stats, error))
      << error;
  return out;
}

TEST(PcapFlows, SnaplenCutCapturesAreJudgedOnTheHeadersTheyHold) {
  using namespace bulkhead::test;
  PacketSpec c{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000, .dport = 5432};
  std::vector<Captured> frames;
  int64_t t = kT0;
  for (auto& f : tcp_handshake(c)) frames.push_back({f, t += 10, 54});
  PacketSpec data = c;
  data.tcp_flags = common::kTcpAck | common::kTcpPsh;
  data.payload_len = 1400;
  for (int i = 0; i < 100; ++i) frames.push_back({build_packet(data), t += 10, 54});  // Ethernet, IPv4, TCP: all of it
  PacketSpec reply = reversed(data);
  for (int i = 0; i < 20; ++i) frames.push_back({build_packet(reply), t += 10, 50});  // TCP cut after its flags
  frames.push_back({build_packet(data), t += 10, 40});  // cut before the flags: its connection's state is unknown
  PacketSpec dns{.src = "fd00:1::5", .dst = "fd00:2::53", .proto = common::kProtoUdp, .sport = 5353, .dport = 53,
                 .payload_len = 300};
  frames.push_back({build_packet(dns), t += 10, 14 + 40 + 8});
  PacketSpec bad = data;
  frames.push_back({truncated(build_packet(bad), 30), t += 10, 0});  // whole as captured, and too short: malformed
  const Read r = read_capture(frames);
  EXPECT_EQ(r.stats.packets, frames.size());
  EXPECT_EQ(r.stats.malformed, 1u);
  EXPECT_EQ(r.stats.headers_cut, 1u);
  EXPECT_EQ(r.stats.truncated, 3u + 100u + 20u + 1u);
  EXPECT_EQ(r.stats.connections, 2u);
  const auto ends = r.of(pb::FlowRecord::END);
  ASSERT_EQ(ends.size(), 2u);
  const pb::FlowRecord* tcp = ends[0]->protocol() == 6 ? ends[0] : ends[1];
  EXPECT_TRUE(tcp->opener_known());
  EXPECT_EQ(format_address(tcp->src()), "10.0.1.5");
  EXPECT_EQ(tcp->dst_port(), 5432u);
  EXPECT_EQ(tcp->packets_out(), 2u + 100u);
  EXPECT_EQ(tcp->packets_in(), 1u + 20u);
  const uint64_t data_len = build_packet(data).size();
  EXPECT_EQ(tcp->bytes_out(), 2 * build_packet(c).size() + 100 * data_len) << "bytes as on the wire";
  EXPECT_NE(tcp->tcp_flags_in() & common::kTcpSyn, 0u);
  const pb::FlowRecord* udp = tcp == ends[0] ? ends[1] : ends[0];
  EXPECT_EQ(udp->dst_port(), 53u);
  EXPECT_EQ(format_address(udp->dst()), "fd00:2::53");
}

TEST(PcapFlows, ConnectionsEndByTheDataplanesTimeouts) {
  using namespace bulkhead::test;
  const dataplane::Timeouts dp;  // the dataplane's defaults
  PacketSpec q{.src = "10.0.1.5", .dst = "10.0.3.53", .proto = common::kProtoUdp, .sport = 5353, .dport = 53};
  PacketSpec syn{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000, .dport = 22};
  PacketSpec ack = syn;
  ack.tcp_flags = common::kTcpAck;
  std::vector<Captured> frames;
  // UDP: a gap just inside the UDP timeout, then one just past it.
  frames.push_back({build_packet(q), kT0});
  frames.push_back({build_packet(reversed(q)), kT0 + dp.udp_ms - 1000});
  frames.push_back({build_packet(q), kT0 + 2 * dp.udp_ms + 1000});
  // TCP: established, then idle for an hour and a half, inside the
  // dataplane's established timeout (two hours): still one connection.
  int64_t t = kT0;
  for (auto& f : tcp_handshake(syn)) frames.push_back({f, t += 1});
  frames.push_back({build_packet(ack), t + dp.tcp_established_ms * 3 / 4});
  std::sort(frames.begin(), frames.end(), [](const auto& a, const auto& b) { return a.ms < b.ms; });
  const Read r = read_capture(frames);
  EXPECT_EQ(r.stats.connections, 3u);
  uint64_t udp_ends = 0, timeouts = 0;
  for (const auto* e : r.of(pb::FlowRecord::END)) {
    if (e->protocol() == 17) ++udp_ends;
    if (e->end_reason() == pb::FlowRecord::TIMEOUT) ++timeouts;
    if (e->protocol() == 6) {
      EXPECT_EQ(e->packets_out(), 3u);
      EXPECT_EQ(e->end_reason(), pb::FlowRecord::END_UNSPECIFIED) << "still open when the capture ended";
      EXPECT_EQ(e->time_ms() - e->start_ms(), static_cast<int64_t>(dp.tcp_established_ms * 3 / 4) + 2);
    }
  }
  EXPECT_EQ(udp_ends, 2u) << "the query a second past the UDP timeout is a new connection";
  EXPECT_EQ(timeouts, 2u) << "both UDP exchanges were over long before the capture ended";
}

TEST(PcapFlows, EchoRequestAndReplyMeetOnTheIdentifierAndRepliesOpenNothing) {
  using namespace bulkhead::test;
  PacketSpec req{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 8, .icmp_id = 77};
  PacketSpec rep = reversed(req);
  rep.icmp_type = 0;
  PacketSpec stray = rep;
  stray.icmp_id = 78;
  const Read r = read_capture({{build_packet(req), kT0}, {build_packet(rep), kT0 + 1}, {build_packet(stray), kT0 + 2}});
  EXPECT_EQ(r.stats.connections, 1u);
  EXPECT_EQ(r.stats.not_tracked, 1u) << "a reply with no request opens no connection, as on the wire";
  const auto ends = r.of(pb::FlowRecord::END);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0]->src_port(), 8u) << "recorded as the rules see an echo: type 8";
  EXPECT_EQ(ends[0]->packets_in(), 1u);
  EXPECT_TRUE(ends[0]->opener_known());
}

TEST(PcapFlows, RecordsAreTheDataplanesAndPassTheCollectorsChecks) {
  using namespace bulkhead::test;
  PacketSpec syn{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000, .dport = 22};
  std::vector<Captured> frames;
  for (int i = 0; i < 3; ++i) frames.push_back({build_packet(syn), kT0 + i * 1000});  // never answered
  const Read r = read_capture(frames);
  ASSERT_EQ(r.records.size(), 2u);
  std::string why;
  for (const auto& rec : r.records) {
    EXPECT_TRUE(validate(rec, why)) << why;
    EXPECT_EQ(rec.mode(), "learn");
    EXPECT_EQ(rec.verdict(), pb::FlowRecord::ALLOWED);
  }
  const auto* end = r.of(pb::FlowRecord::END)[0];
  EXPECT_EQ(end->packets_out(), 3u);
  EXPECT_EQ(end->packets_in(), 0u);
  FlowStore store;
  for (const auto& rec : r.records) store.ingest(rec);
  EXPECT_EQ(store.query({})[0].unanswered(), 1u) << "a SYN no one answered";
}

TEST(PcapFlows, ACaptureInMemoryReadsAsTheSameFile) {
  using namespace bulkhead::test;
  test::TempDir dir;
  PacketSpec c{.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000, .dport = 5432};
  std::vector<Captured> frames;
  for (auto& f : tcp_handshake(c)) frames.push_back({f, kT0});
  write_capture(dir.file("m.pcap"), frames);
  std::ifstream in(dir.file("m.pcap"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  PcapStats stats;
  std::vector<pb::FlowRecord> got;
  CaptureReader reader([&](std::vector<pb::FlowRecord>& b) { got.insert(got.end(), b.begin(), b.end()); }, stats);
  std::string error;
  ASSERT_TRUE(reader.read_bytes(bytes.data(), bytes.size(), "memory", error)) << error;
  EXPECT_FALSE(reader.read_bytes(bytes.data(), 10, "short", error));
  EXPECT_NE(error.find("short"), std::string::npos);
  EXPECT_FALSE(reader.read_bytes(bytes.data(), 0, "empty", error));
  reader.finish();
  EXPECT_EQ(stats.connections, 1u);
  EXPECT_EQ(got.size(), 2u);
}

}  // namespace
}  // namespace bulkhead::flows
