// The flow log's second sink (`bulkhead-controlplane --flow-syslog
// udp://HOST:PORT|tcp://HOST:PORT`): every flow record as one RFC 5424
// syslog message to a collector (rsyslog, syslog-ng, a SIEM's own
// receiver), its payload the record's JSON in the flow log's format.
//
//   <PRI>1 TIMESTAMP HOSTNAME bulkhead PROCID MSGID [meta sequenceId="N"] JSON
//
// PRI is the facility (local0 unless chosen) with severity notice for denied
// records and info for the rest; TIMESTAMP the record's time (UTC, ms);
// MSGID the record's kind (start, update, end, denied); sequenceId counts
// every record given to the sink from 1, so a collector sees a gap wherever
// one was lost. UDP sends one message a datagram (RFC 5426); TCP frames
// each with octet counting, "LEN SP MSG" (RFC 6587), and reconnects after
// a failure, waiting 0.1 s doubling up to 30 s.
//
// Never blocks collection: send() formats and queues (taking each record's
// JSON from the RecordLines it is given when they are in the sink's format,
// so that a flow log of the same format and the sink format it once); a
// thread of the sink does the network I/O. The queue holds at most `queue` messages: what does
// not fit, and what the network refuses, is counted (info()) and lost, as
// the flow log counts its own losses. On destruction, what is queued gets
// one second to go.
//
// Thread-safety: send() and info() from any thread (the collector calls
// send() under its lock); the RecordLines given to send() are used only
// within that call, on the caller's thread.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "controlplane/flows/siem.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane::flows {

struct SyslogTarget {
  enum class Transport : uint8_t { udp, tcp };
  Transport transport = Transport::udp;
  std::string host;  // a name or an address (IPv6 without its brackets)
  uint16_t port = 514;
};

// "udp://HOST[:PORT]" or "tcp://HOST[:PORT]"; an IPv6 address in brackets
// ("udp://[2001:db8::1]:514"); the port is 514 when left out. False with
// `why` otherwise.
bool parse_syslog_target(std::string_view text, SyslogTarget& out, std::string& why);
std::string to_string(const SyslogTarget& t);

// "user", "daemon", "auth", "authpriv", "local0" ... "local7"; false for
// anything else.
bool parse_syslog_facility(std::string_view text, uint8_t& facility);

struct SyslogOptions {
  LogFormat format = LogFormat::native;  // the payload's shape
  uint8_t facility = 16;                 // local0
  uint32_t queue = 10'000;               // messages waiting, at most
  std::string hostname;                  // HOSTNAME field ("": this machine's name)
};

// "" when the options are usable; otherwise what is wrong, naming the
// option of bulkhead-controlplane.
std::string check(const SyslogOptions& options);

// One RFC 5424 message (no framing, no newline) for `r`, its payload `json`
// (the record's line, format_record's). `hostname` is written as given
// when it is a valid HOSTNAME field, else "-".
std::string syslog_message(const pb::FlowRecord& r, std::string_view json, const SyslogOptions& options,
                           std::string_view hostname, uint32_t procid, uint32_t sequence);

class SyslogSink {
 public:
  // Resolves the target and starts the sending thread; nullptr with
  // `error` when the target does not resolve or the options are not usable.
  // A TCP collector that is not up yet is not an error: the sink connects
  // when it is.
  static std::unique_ptr<SyslogSink> open(const SyslogTarget& target, const SyslogOptions& options,
                                          std::string& error);
  ~SyslogSink();
  SyslogSink(const SyslogSink&) = delete;
  SyslogSink& operator=(const SyslogSink&) = delete;

  // Queues one message a record, in order, as sent by `dataplane`.
  template <class Records>
  void send(const Records& records, const std::string& dataplane) {
    RecordLines lines(records, dataplane, opt_.format);
    send(lines);
  }
  // The same for a batch whose lines another sink may share: each queued
  // message takes its JSON from `lines` when they are in this sink's format
  // (making it there if no sink has yet), else has it made for the sink
  // alone; a record the full queue loses is not formatted.
  void send(RecordLines& lines);

  pb::FlowSyslogInfo info() const;
  LogFormat format() const noexcept { return opt_.format; }

 private:
  SyslogSink(const SyslogTarget& target, const SyslogOptions& options);
  void enqueue(RecordLines& lines, size_t i);  // under mu_
  void loop();
  // The sending thread's socket: connected (UDP: to the address, so ICMP
  // errors come back); -1 when it could not be, with `error`.
  bool connect(std::string& error);
  // The peer closed the TCP connection (the collector never sends).
  bool peer_closed() const;
  // Sends one queued message (framed for TCP); false with `error`.
  bool put(const std::string& message, std::string& error);
  void disconnect();

  const SyslogTarget target_;
  const SyslogOptions opt_;
  const std::string hostname_;
  const uint32_t procid_;
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;  // guarded by mu_
  uint32_t sequence_ = 0;          // guarded by mu_: the last sequenceId given
  bool stop_ = false;              // guarded by mu_
  pb::FlowSyslogInfo info_;        // guarded by mu_

  int fd_ = -1;  // the sending thread's
  std::thread thread_;
};

}  // namespace bulkhead::controlplane::flows
