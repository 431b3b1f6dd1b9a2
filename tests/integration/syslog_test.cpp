// Flow records to a real syslog collector: Debian's rsyslogd, started by
// the test in its temporary directory with UDP and TCP inputs on loopback
// ports of its own and every message written to a file there, field by
// field as rsyslog parsed it. A control plane (Server, in this process)
// with --flow-syslog receives flow batches from a dataplane's socket and
// sends them on: rsyslog must read each as RFC 5424 (version 1, the
// priority, time, host, app, msgid and the sequence id the sink gave it)
// with the record's JSON as the message, over UDP and over TCP with
// octet-counted frames. With TCP the collector starts late, stops and comes
// back: the bounded queue loses (and counts) what does not fit, the rest
// arrives in order, and a collector that went away is reconnected to. With
// a flow log in the same format, rsyslog gets the log's very lines.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <zmq.hpp>

#include "common/time.h"
#include "controlplane/flows/record.h"
#include "controlplane/flows/syslog_sink.h"
#include "proto/bulkhead.pb.h"
#include "tests/integration/server_fixture.h"

extern char** environ;

namespace bulkhead::test {
namespace {

using namespace std::chrono_literals;

std::string rsyslogd_path() {
  for (const char* p : {"/usr/sbin/rsyslogd", "/sbin/rsyslogd"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

// True when 127.0.0.1:`port` of `type` is taken (by the collector).
bool port_taken(int type, uint16_t port) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool taken = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == EADDRINUSE;
  ::close(fd);
  return taken;
}

// rsyslogd in the foreground, its configuration, work directory, pid file
// and output in `dir`; every message one JSON line of the fields rsyslog
// parsed from it.
class Rsyslog {
 public:
  Rsyslog(const std::string& dir, uint16_t udp_port, uint16_t tcp_port)
      : dir_(dir), out_(dir + "/received.jsonl"), udp_port_(udp_port), tcp_port_(tcp_port) {
    std::filesystem::create_directories(dir_ + "/work");
    std::ofstream(dir_ + "/rsyslog.conf") << R"(global(workDirectory=")" << dir_ << R"(/work" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port=")" << udp_port_ << R"(")
input(type="imtcp" address="127.0.0.1" port=")" << tcp_port_ << R"(")
template(name="fields" type="list") {
  constant(value="{")
  property(name="protocol-version" format="jsonf") constant(value=",")
  property(name="pri" format="jsonf") constant(value=",")
  property(name="timereported" dateFormat="rfc3339" format="jsonf") constant(value=",")
  property(name="hostname" format="jsonf") constant(value=",")
  property(name="app-name" format="jsonf") constant(value=",")
  property(name="procid" format="jsonf") constant(value=",")
  property(name="msgid" format="jsonf") constant(value=",")
  property(name="structured-data" format="jsonf") constant(value=",")
  property(name="inputname" format="jsonf") constant(value=",")
  property(name="msg" format="jsonf")
  constant(value="}\n")
}
action(type="omfile" file=")" << out_ << R"(" template="fields")
)";
  }
  ~Rsyslog() { stop(); }

  // Starts it and waits (10 s) until both inputs are bound.
  bool start() {
    const std::string bin = rsyslogd_path(), conf = dir_ + "/rsyslog.conf", pid = dir_ + "/rsyslogd.pid",
                      log = dir_ + "/rsyslogd.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const char* argv[] = {bin.c_str(), "-n", "-f", conf.c_str(), "-i", pid.c_str(), nullptr};
    const int rc = posix_spawn(&pid_, bin.c_str(), &fa, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    for (int i = 0; i < 200; ++i) {
      if (port_taken(SOCK_DGRAM, udp_port_) && port_taken(SOCK_STREAM, tcp_port_)) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // The messages received so far, parsed.
  std::vector<nlohmann::json> received() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(out_);
    std::string line;
    while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line, nullptr, false));
    return out;
  }
  // Waits (10 s) until `n` messages have been received; returns them.
  std::vector<nlohmann::json> wait_for(size_t n) const {
    for (int i = 0; i < 200 && received().size() < n; ++i) std::this_thread::sleep_for(50ms);
    return received();
  }
  std::string log() const {
    std::ifstream in(dir_ + "/rsyslogd.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string dir_, out_;
  uint16_t udp_port_, tcp_port_;
  pid_t pid_ = -1;
};

pb::FlowRecord record(uint32_t sport, int64_t time_ms) {
  pb::FlowRecord r;
  r.set_kind(pb::FlowRecord::START);
  r.set_time_ms(time_ms);
  std::string s, d;
  controlplane::flows::parse_address("10.0.1.5", s);
  controlplane::flows::parse_address("10.0.2.9", d);
  r.set_src(s);
  r.set_dst(d);
  r.set_protocol(6);
  r.set_src_port(sport);
  r.set_dst_port(5432);
  r.set_verdict(pb::FlowRecord::ALLOWED);
  r.set_rule_id("web-to-db");
  r.set_mode("enforce");
  r.set_opener_known(true);
  return r;
}

class SyslogCollector : public ServerTest {
 protected:
  void SetUp() override {
    if (rsyslogd_path().empty()) GTEST_SKIP() << "rsyslogd not installed (tools/setup installs it)";
    ServerTest::SetUp();
    const auto ports = free_tcp_ports(2);
    rsyslog_ = std::make_unique<Rsyslog>(dir_.path() + "/rsyslog", ports[0], ports[1]);
    udp_ = "udp://127.0.0.1:" + std::to_string(ports[0]);
    tcp_ = "tcp://127.0.0.1:" + std::to_string(ports[1]);
  }
  // Restarts the control plane sending flow records to `target`.
  void restart_with(const std::string& target, controlplane::flows::LogFormat format, uint32_t queue = 10'000) {
    stop();
    controlplane::flows::SyslogTarget t;
    std::string why;
    ASSERT_TRUE(controlplane::flows::parse_syslog_target(target, t, why)) << why;
    cfg_.flow_syslog = t;
    cfg_.flow_syslog_options.format = format;
    cfg_.flow_syslog_options.hostname = "cp-test";
    cfg_.flow_syslog_options.queue = queue;
    start();
  }
  // Sends `n` records from dataplane dp1 in batches of 100, ports from
  // `first_port`; waits until the store has them all.
  void send(uint32_t n, uint32_t first_port) {
    if (!push_) push_ = client(zmq::socket_type::push, dp_keys_, cfg_.flow_listen);
    const uint64_t before = status().records();
    for (uint32_t done = 0; done < n; done += 100) {
      pb::FlowBatch b;
      b.set_version(1);
      b.set_dataplane_id("dp1");
      b.set_sequence(++sequence_);
      for (uint32_t i = done; i < std::min(n, done + 100); ++i) *b.add_records() = record(first_port + i, now_ms_ + i);
      push_->send(zmq::buffer(b.SerializeAsString()));
    }
    for (int i = 0; i < 200 && status().records() < before + n; ++i) std::this_thread::sleep_for(25ms);
    ASSERT_EQ(status().records(), before + n);
  }
  pb::FlowStoreInfo status() {
    pb::CliRequest q;
    q.mutable_status();
    return ask(q).flow_store();
  }
  // Waits (10 s) until the sink's counters satisfy `done`.
  template <class F>
  bool wait_sink(F done) {
    for (int i = 0; i < 200 && !done(status().syslog()); ++i) std::this_thread::sleep_for(50ms);
    return done(status().syslog());
  }
  void TearDown() override {
    push_.reset();
    ServerTest::TearDown();
    if (rsyslog_ && HasFailure()) std::cerr << "--- rsyslogd.log\n" << rsyslog_->log();
    rsyslog_.reset();
  }

  std::unique_ptr<Rsyslog> rsyslog_;
  std::string udp_, tcp_;
  std::unique_ptr<zmq::socket_t> push_;
  uint64_t sequence_ = 0;
  const int64_t now_ms_ = common::now_unix_ms() / 1000 * 1000 + 250;  // within retention
};

TEST_F(SyslogCollector, UdpEcsRecordsArriveAsRfc5424Messages) {
  ASSERT_TRUE(rsyslog_->start()) << rsyslog_->log();
  restart_with(udp_, controlplane::flows::LogFormat::ecs);
  send(50, 41000);
  const auto got = rsyslog_->wait_for(50);
  ASSERT_EQ(got.size(), 50u);
  for (size_t k = 0; k < got.size(); ++k) {
    const auto& m = got[k];
    ASSERT_FALSE(m.is_discarded());
    EXPECT_EQ(m["protocol-version"], "1") << "read as RFC 5424: " << m;
    EXPECT_EQ(m["pri"], "134") << "local0.info";
    EXPECT_EQ(m["hostname"], "cp-test");
    EXPECT_EQ(m["app-name"], "bulkhead");
    EXPECT_EQ(m["procid"], std::to_string(::getpid()));
    EXPECT_EQ(m["msgid"], "start");
    EXPECT_EQ(m["structured-data"], "[meta sequenceId=\"" + std::to_string(k + 1) + "\"]");
    EXPECT_EQ(m["inputname"], "imudp");
    // The record's own time, to the millisecond.
    EXPECT_EQ(m["timereported"].get<std::string>().substr(0, 23),
              common::format_iso8601_ms(now_ms_ + static_cast<int64_t>(k)).substr(0, 23));
    const auto ecs = nlohmann::json::parse(m["msg"].get<std::string>(), nullptr, false);
    ASSERT_FALSE(ecs.is_discarded()) << m["msg"];
    EXPECT_EQ(ecs["source"]["ip"], "10.0.1.5");
    EXPECT_EQ(ecs["source"]["port"], 41000 + k);
    EXPECT_EQ(ecs["destination"]["port"], 5432);
    EXPECT_EQ(ecs["network"]["transport"], "tcp");
    EXPECT_EQ(ecs["observer"]["name"], "dp1");
    EXPECT_EQ(ecs["rule"]["id"], "web-to-db");
    EXPECT_EQ(ecs["network"]["community_id"].get<std::string>().substr(0, 2), "1:");
  }
  ASSERT_TRUE(wait_sink([](const pb::FlowSyslogInfo& s) { return s.messages() == 50; }));
  const auto s = status().syslog();
  EXPECT_EQ(s.target(), udp_);
  EXPECT_EQ(s.dropped_queue() + s.dropped_errors(), 0u);
}

// With a flow log in the same format, one line a record serves both
// sinks: what rsyslog receives is, byte for byte, what the log holds.
TEST_F(SyslogCollector, WithTheFlowLogInTheSameFormatBothCarryTheSameBytes) {
  ASSERT_TRUE(rsyslog_->start()) << rsyslog_->log();
  const std::string path = dir_.path() + "/flows.jsonl";
  cfg_.flow_log = path;
  cfg_.flow_log_limits.format = controlplane::flows::LogFormat::ocsf;
  restart_with(udp_, controlplane::flows::LogFormat::ocsf);
  send(30, 44000);
  const auto got = rsyslog_->wait_for(30);
  ASSERT_EQ(got.size(), 30u);
  std::vector<std::string> logged;
  for (int i = 0; i < 200 && logged.size() < 30; ++i) {
    if (i > 0) std::this_thread::sleep_for(25ms);
    logged.clear();
    std::ifstream in(path);
    for (std::string l; std::getline(in, l);) logged.push_back(l);
  }
  ASSERT_EQ(logged.size(), 30u);
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k]["msg"].get<std::string>(), logged[k]) << "record " << k;
    EXPECT_EQ(nlohmann::json::parse(logged[k])["class_uid"], 4001);
  }
}

TEST_F(SyslogCollector, TcpFramesQueueAndReconnectWithACollectorThatComesAndGoes) {
  restart_with(tcp_, controlplane::flows::LogFormat::native, 100);
  // No collector yet: a hundred wait, two hundred are lost and counted.
  send(300, 42000);
  ASSERT_TRUE(wait_sink([](const pb::FlowSyslogInfo& s) { return !s.last_error().empty(); }));
  auto s = status().syslog();
  EXPECT_EQ(s.dropped_queue(), 200u);
  EXPECT_EQ(s.queued(), 100u);
  EXPECT_FALSE(s.connected());

  // It comes up: the hundred arrive, one message a frame, in order.
  ASSERT_TRUE(rsyslog_->start()) << rsyslog_->log();
  auto got = rsyslog_->wait_for(100);
  ASSERT_EQ(got.size(), 100u);
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k]["protocol-version"], "1") << got[k];
    EXPECT_EQ(got[k]["inputname"], "imtcp");
    EXPECT_EQ(got[k]["structured-data"], "[meta sequenceId=\"" + std::to_string(k + 1) + "\"]");
    const auto native = nlohmann::json::parse(got[k]["msg"].get<std::string>(), nullptr, false);
    ASSERT_FALSE(native.is_discarded()) << got[k]["msg"];
    EXPECT_EQ(native["event"], "start");
    EXPECT_EQ(native["src_port"], 42000 + k);
    EXPECT_EQ(native["dataplane"], "dp1");
  }
  ASSERT_TRUE(wait_sink([](const pb::FlowSyslogInfo& s) { return s.messages() == 100 && s.connected(); }));

  // It stops: the sink notices and waits for it; it comes back: the sink
  // reconnects and the next records arrive, their sequence ids after the
  // gap of the lost ones.
  rsyslog_->stop();
  ASSERT_TRUE(wait_sink([](const pb::FlowSyslogInfo& s) { return !s.connected(); }));
  ASSERT_TRUE(rsyslog_->start()) << rsyslog_->log();
  ASSERT_TRUE(wait_sink([](const pb::FlowSyslogInfo& s) { return s.connected() && s.connects() == 2; }));
  send(10, 43000);
  got = rsyslog_->wait_for(110);
  ASSERT_EQ(got.size(), 110u);
  EXPECT_EQ(got[100]["structured-data"], "[meta sequenceId=\"301\"]");
  EXPECT_EQ(got[109]["structured-data"], "[meta sequenceId=\"310\"]");
  ASSERT_TRUE(wait_sink([](const pb::FlowSyslogInfo& s) { return s.messages() == 110; }));
  s = status().syslog();
  EXPECT_EQ(s.dropped_errors(), 0u);
  EXPECT_EQ(s.dropped_queue(), 200u);
}

}  // namespace
}  // namespace bulkhead::test
