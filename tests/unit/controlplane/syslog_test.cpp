// The flow records' syslog sink: targets and facilities as the option reads
// them, RFC 5424 messages field by field, and the sink on loopback sockets
// of the test's own: one datagram a message over UDP, octet-counted frames
// over TCP, a bounded queue that loses (and counts) what a missing
// collector cannot take without ever blocking the caller, and a reconnect
// when the collector comes up; and the flow log and the sink sharing one
// formatting of each record (RecordLines), byte for byte. The real
// receiver (rsyslog) is in tests/integration/syslog_test.cpp.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "controlplane/flows/flow_log.h"
#include "controlplane/flows/record.h"
#include "controlplane/flows/syslog_sink.h"
#include "tests/common/free_ports.h"
#include "tests/common/temp_dir.h"

namespace bulkhead::controlplane::flows {
namespace {

using namespace std::chrono_literals;
constexpr int64_t kT0 = 1'790'000'000'123;  // 2026-09-21T14:13:20.123Z

pb::FlowRecord record(uint32_t sport, pb::FlowRecord::Kind kind = pb::FlowRecord::START) {
  pb::FlowRecord r;
  r.set_kind(kind);
  r.set_time_ms(kT0);
  r.set_start_ms(kT0);
  std::string s, d;
  parse_address("10.0.1.5", s);
  parse_address("10.0.2.9", d);
  r.set_src(s);
  r.set_dst(d);
  r.set_protocol(6);
  r.set_src_port(sport);
  r.set_dst_port(5432);
  r.set_verdict(kind == pb::FlowRecord::DENIED ? pb::FlowRecord::DENY : pb::FlowRecord::ALLOWED);
  r.set_rule_id("web-to-db");
  r.set_mode("enforce");
  r.set_opener_known(true);
  return r;
}

std::vector<pb::FlowRecord> records(uint32_t n, uint32_t first_port = 40000) {
  std::vector<pb::FlowRecord> out;
  for (uint32_t i = 0; i < n; ++i) out.push_back(record(first_port + i));
  return out;
}

// A socket of the test on 127.0.0.1:`port` (UDP bound, or TCP listening).
int loopback_socket(int type, uint16_t port) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(::listen(fd, 4), 0);
  }
  return fd;
}

bool readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

// Waits (5 s at most) until `done` holds.
template <class F>
bool eventually(F done) {
  for (int i = 0; i < 250 && !done(); ++i) std::this_thread::sleep_for(20ms);
  return done();
}

TEST(SyslogTarget, ReadsUdpAndTcpWithHostsPortsAndIpv6) {
  SyslogTarget t;
  std::string why;
  ASSERT_TRUE(parse_syslog_target("udp://127.0.0.1:5514", t, why)) << why;
  EXPECT_EQ(t.transport, SyslogTarget::Transport::udp);
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, 5514);
  ASSERT_TRUE(parse_syslog_target("tcp://siem.example.net", t, why)) << why;
  EXPECT_EQ(t.transport, SyslogTarget::Transport::tcp);
  EXPECT_EQ(t.host, "siem.example.net");
  EXPECT_EQ(t.port, 514) << "514 when left out";
  ASSERT_TRUE(parse_syslog_target("tcp://[2001:db8::7]:6000", t, why)) << why;
  EXPECT_EQ(t.host, "2001:db8::7");
  EXPECT_EQ(t.port, 6000);
  EXPECT_EQ(to_string(t), "tcp://[2001:db8::7]:6000");
  for (const char* bad : {"127.0.0.1:514", "http://h:1", "udp://", "udp://:514", "udp://h:0", "udp://h:65536",
                          "udp://h:", "udp://h:5x", "udp://2001:db8::1:514", "udp://[2001:db8::1", "udp://[::1]x",
                          "udp://h/x:1", "tcp://a b:1"}) {
    why.clear();
    EXPECT_FALSE(parse_syslog_target(bad, t, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(SyslogTarget, FacilitiesByName) {
  uint8_t f = 0;
  EXPECT_TRUE(parse_syslog_facility("local0", f));
  EXPECT_EQ(f, 16);
  EXPECT_TRUE(parse_syslog_facility("local7", f));
  EXPECT_EQ(f, 23);
  EXPECT_TRUE(parse_syslog_facility("authpriv", f));
  EXPECT_EQ(f, 10);
  EXPECT_FALSE(parse_syslog_facility("local8", f));
  EXPECT_FALSE(parse_syslog_facility("kern", f));
  SyslogOptions o;
  EXPECT_EQ(check(o), "");
  o.queue = 0;
  EXPECT_NE(check(o).find("--flow-syslog-queue"), std::string::npos);
  o = {};
  o.hostname = "has space";
  EXPECT_NE(check(o).find("--flow-syslog-hostname"), std::string::npos);
}

TEST(SyslogMessage, IsRfc5424WithTheRecordAsJsonPayload) {
  SyslogOptions o;
  const pb::FlowRecord start = record(41000);
  const std::string m = syslog_message(start, format_record(start, "dp1", LogFormat::ecs), o, "cp1.example", 4242, 7);
  // HEADER: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
  std::smatch f;
  ASSERT_TRUE(std::regex_match(m, f, std::regex(R"(<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[[^\]]*\]) (\{.*\}))")))
      << m;
  EXPECT_EQ(f[1], "134") << "local0 (16) x 8 + info (6)";
  EXPECT_EQ(f[2], "2026-09-21T14:13:20.123Z");
  EXPECT_EQ(f[3], "cp1.example");
  EXPECT_EQ(f[4], "bulkhead");
  EXPECT_EQ(f[5], "4242");
  EXPECT_EQ(f[6], "start");
  EXPECT_EQ(f[7], "[meta sequenceId=\"7\"]");
  const auto j = nlohmann::json::parse(f[8].str());
  EXPECT_EQ(j["source"]["ip"], "10.0.1.5");
  EXPECT_EQ(j["network"]["community_id"].get<std::string>().substr(0, 2), "1:");
  EXPECT_EQ(j["observer"]["name"], "dp1");

  // Denied: severity notice; a facility of choice; no usable host name: "-".
  o.facility = 4;  // auth
  const pb::FlowRecord denied = record(41000, pb::FlowRecord::DENIED);
  const std::string d = syslog_message(denied, format_record(denied, "dp1", LogFormat::native), o, "bad host", 1, 1);
  EXPECT_EQ(d.substr(0, 8), "<37>1 20") << d;
  EXPECT_NE(d.find(".123Z - bulkhead 1 denied [meta sequenceId=\"1\"] {\"time_ms\":"), std::string::npos) << d;
}

TEST(SyslogSink, UdpSendsOneDatagramAMessageInOrder) {
  const uint16_t port = test::free_tcp_ports(1)[0];
  const int rx = loopback_socket(SOCK_DGRAM, port);
  SyslogTarget t;
  std::string why;
  ASSERT_TRUE(parse_syslog_target("udp://127.0.0.1:" + std::to_string(port), t, why)) << why;
  SyslogOptions o;
  o.hostname = "cp-test";
  auto sink = SyslogSink::open(t, o, why);
  ASSERT_TRUE(sink) << why;
  sink->send(records(20), "dp1");
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(readable(rx, 5000)) << "datagram " << i;
    char buf[4096];
    const ssize_t n = ::recv(rx, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    const std::string m(buf, static_cast<size_t>(n));
    EXPECT_NE(m.find(" cp-test bulkhead "), std::string::npos) << m;
    EXPECT_NE(m.find("[meta sequenceId=\"" + std::to_string(i) + "\"]"), std::string::npos) << m;
    EXPECT_NE(m.find("\"src_port\":" + std::to_string(40000 + i - 1)), std::string::npos) << m;
    EXPECT_EQ(m.back(), '}') << "no trailer after the JSON";
  }
  EXPECT_TRUE(eventually([&] { return sink->info().messages() == 20; }));
  const auto i = sink->info();
  EXPECT_EQ(i.dropped_queue() + i.dropped_errors(), 0u);
  EXPECT_TRUE(i.connected());
  EXPECT_EQ(i.target(), "udp://127.0.0.1:" + std::to_string(port));
  ::close(rx);
}

// Reads octet-counted frames ("LEN SP MSG") from a TCP stream until
// `count` messages or 5 s.
std::vector<std::string> read_frames(int fd, size_t count) {
  std::vector<std::string> out;
  std::string buf;
  while (out.size() < count && readable(fd, 5000)) {
    char chunk[65536];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    for (;;) {
      const size_t sp = buf.find(' ');
      if (sp == std::string::npos) break;
      const size_t len = std::stoul(buf.substr(0, sp));
      if (buf.size() < sp + 1 + len) break;
      out.push_back(buf.substr(sp + 1, len));
      buf.erase(0, sp + 1 + len);
    }
  }
  EXPECT_TRUE(buf.empty()) << "a frame cut short: " << buf.substr(0, 80);
  return out;
}

TEST(SyslogSink, TcpQueueIsBoundedLosesCountedAndDeliversOnceTheCollectorIsUp) {
  const uint16_t port = test::free_tcp_ports(1)[0];
  SyslogTarget t;
  std::string why;
  ASSERT_TRUE(parse_syslog_target("tcp://127.0.0.1:" + std::to_string(port), t, why)) << why;
  SyslogOptions o;
  o.queue = 100;
  auto sink = SyslogSink::open(t, o, why);
  ASSERT_TRUE(sink) << why << ": a collector that is not up yet is not an error";
  // No collector: the queue fills, what does not fit is counted, and the
  // caller is never held.
  const auto before = std::chrono::steady_clock::now();
  sink->send(records(300), "dp1");
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
  EXPECT_TRUE(eventually([&] { return !sink->info().last_error().empty(); }));
  auto i = sink->info();
  EXPECT_EQ(i.dropped_queue(), 200u);
  EXPECT_EQ(i.queued(), 100u);
  EXPECT_FALSE(i.connected());
  EXPECT_EQ(i.messages(), 0u);
  EXPECT_NE(i.last_error().find("connect"), std::string::npos) << i.last_error();

  // The collector comes up: the queued hundred arrive, framed, in order,
  // their sequence ids 1..100 (the lost ones were 101..300).
  const int listener = loopback_socket(SOCK_STREAM, port);
  ASSERT_TRUE(readable(listener, 10000)) << "the sink reconnects";
  const int conn = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  const auto frames = read_frames(conn, 100);
  ASSERT_EQ(frames.size(), 100u);
  for (size_t k = 0; k < frames.size(); ++k) {
    EXPECT_EQ(frames[k].substr(0, 6), "<134>1") << frames[k];
    EXPECT_NE(frames[k].find("[meta sequenceId=\"" + std::to_string(k + 1) + "\"]"), std::string::npos) << frames[k];
  }
  sink->send(records(1, 50000), "dp1");
  const auto more = read_frames(conn, 1);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_NE(more[0].find("sequenceId=\"301\""), std::string::npos) << "a gap the collector can see: " << more[0];
  EXPECT_TRUE(eventually([&] { return sink->info().messages() == 101; }));
  i = sink->info();
  EXPECT_TRUE(i.connected());
  EXPECT_EQ(i.connects(), 1u);
  EXPECT_EQ(i.queued(), 0u);
  EXPECT_EQ(i.dropped_errors(), 0u);

  // The collector goes away and comes back: the sink notices, reconnects,
  // and the next records arrive on the new connection.
  ::close(conn);
  ASSERT_TRUE(readable(listener, 10000));
  const int again = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(again, 0);
  EXPECT_TRUE(eventually([&] { return sink->info().connects() == 2; }));
  sink->send(records(5, 51000), "dp1");
  EXPECT_EQ(read_frames(again, 5).size(), 5u);
  EXPECT_EQ(sink->info().dropped_errors(), 0u) << "nothing was in flight when the collector left";
  ::close(again);
  ::close(listener);
}

// The `count` datagrams that arrive on `fd` (5 s at most for each).
std::vector<std::string> datagrams(int fd, size_t count) {
  std::vector<std::string> out;
  while (out.size() < count && readable(fd, 5000)) {
    char buf[8192];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.emplace_back(buf, static_cast<size_t>(n));
  }
  return out;
}

// A message's payload: what follows its structured data.
std::string payload(const std::string& message) {
  const size_t sd = message.find("\"] ");
  return sd == std::string::npos ? std::string() : message.substr(sd + 3);
}

std::vector<std::string> file_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The flow log and the syslog sink in one format, given one batch's
// RecordLines as the collector gives them: every record is formatted once,
// and the two sinks carry the same bytes.
TEST(SharedLines, OneFormattingServesTheFlowLogAndTheSyslogSinkByteForByte) {
  for (const LogFormat format : {LogFormat::native, LogFormat::ecs, LogFormat::ocsf}) {
    SCOPED_TRACE(log_format_name(format));
    test::TempDir dir;
    FlowLogOptions lo;
    lo.format = format;
    std::string why;
    auto log = FlowLog::open(dir.file("flows.jsonl"), lo, why);
    ASSERT_TRUE(log) << why;
    const uint16_t port = test::free_tcp_ports(1)[0];
    const int rx = loopback_socket(SOCK_DGRAM, port);
    SyslogTarget t{SyslogTarget::Transport::udp, "127.0.0.1", port};
    SyslogOptions so;
    so.format = format;
    auto sink = SyslogSink::open(t, so, why);
    ASSERT_TRUE(sink) << why;

    const auto batch = records(20);
    RecordLines lines(batch, "dp1", format);
    log->write(lines, 1000, kT0);
    EXPECT_EQ(lines.made(), 20u) << "the log formatted each record";
    sink->send(lines);
    EXPECT_EQ(lines.made(), 20u) << "the syslog sink formatted nothing again";

    const auto logged = file_lines(dir.file("flows.jsonl"));
    const auto sent = datagrams(rx, 20);
    ASSERT_EQ(logged.size(), 20u);
    ASSERT_EQ(sent.size(), 20u);
    for (size_t i = 0; i < 20; ++i) {
      EXPECT_EQ(payload(sent[i]), logged[i]) << "record " << i;
      EXPECT_EQ(logged[i], format_record(batch[i], "dp1", format)) << "record " << i;
    }
    ::close(rx);
  }
}

// A record the log's rate keeps out is not formatted for the log; the
// syslog sink, which takes it, makes its line then. Sinks of different
// formats each get their own shape.
TEST(SharedLines, WhatASinkRefusesIsNotFormattedAndDifferentFormatsStayApart) {
  test::TempDir dir;
  FlowLogOptions lo;
  lo.rate = 1;  // one connection record a second
  lo.format = LogFormat::ecs;
  std::string why;
  auto log = FlowLog::open(dir.file("flows.jsonl"), lo, why);
  ASSERT_TRUE(log) << why;
  const uint16_t port = test::free_tcp_ports(1)[0];
  const int rx = loopback_socket(SOCK_DGRAM, port);
  SyslogOptions so;
  so.format = LogFormat::ecs;
  auto sink = SyslogSink::open({SyslogTarget::Transport::udp, "127.0.0.1", port}, so, why);
  ASSERT_TRUE(sink) << why;

  const auto batch = records(5);
  RecordLines lines(batch, "dp1", LogFormat::ecs);
  log->write(lines, 1000, kT0);
  EXPECT_EQ(log->info().dropped_rate(), 4u);
  EXPECT_EQ(lines.made(), 1u) << "the four records over the rate were not formatted";
  sink->send(lines);
  EXPECT_EQ(lines.made(), 5u);
  const auto sent = datagrams(rx, 5);
  ASSERT_EQ(sent.size(), 5u);
  const auto logged = file_lines(dir.file("flows.jsonl"));
  ASSERT_EQ(logged.size(), 2u) << "the record the rate let through, and the line telling of the four";
  EXPECT_EQ(payload(sent[0]), logged[0]);
  EXPECT_NE(logged[1].find("\"event\":\"dropped\""), std::string::npos) << logged[1];

  // A syslog sink in another format makes its own lines, in its format,
  // and leaves the batch's alone.
  SyslogOptions native;
  native.format = LogFormat::native;
  auto other = SyslogSink::open({SyslogTarget::Transport::udp, "127.0.0.1", port}, native, why);
  ASSERT_TRUE(other) << why;
  RecordLines ecs_lines(batch, "dp1", LogFormat::ecs);
  other->send(ecs_lines);
  EXPECT_EQ(ecs_lines.made(), 0u);
  const auto own = datagrams(rx, 5);
  ASSERT_EQ(own.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(payload(own[i]), format_record(batch[i], "dp1", LogFormat::native));
  ::close(rx);

  // What the full queue loses is not formatted either: no collector is up
  // on this TCP port, so nothing leaves the queue of three.
  SyslogOptions small;
  small.queue = 3;
  auto stuck = SyslogSink::open({SyslogTarget::Transport::tcp, "127.0.0.1", test::free_tcp_ports(1)[0]}, small, why);
  ASSERT_TRUE(stuck) << why;
  RecordLines queued(batch, "dp1", LogFormat::native);
  stuck->send(queued);
  EXPECT_EQ(stuck->info().dropped_queue(), 2u);
  EXPECT_EQ(queued.made(), 3u);
}

}  // namespace
}  // namespace bulkhead::controlplane::flows
