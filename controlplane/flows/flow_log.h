// The flow log (`bulkhead-controlplane --flow-log FILE`): every flow record
// as one JSON line for a SIEM, within caps no flood can pass.
//
//  * Size. Before a line would take the file past `max_file_bytes`, the file
//    is rotated: FILE.1 ... FILE.N-1 move up one (FILE.N, the oldest, is
//    replaced), FILE becomes FILE.1 and a new FILE starts. The log never
//    takes more than (keep_files + 1) x max_file_bytes of disk. Only a
//    regular file is rotated: a FIFO or a character device is written in
//    place, never renamed.
//  * Time. With `rotate_every_s`, a file that holds lines is also rotated
//    when the wall clock enters a new period (periods are whole multiples
//    of the interval since the epoch: an hourly log turns at hh:00 UTC), on
//    the first write or tick of the new period; a line goes whole into one
//    file, so rotation never loses or splits a record.
//  * Rate. At most `rate` records a second of each class, connection
//    records (start, update, end) and denied-packet records, so a flood of
//    denied packets never crowds the connections out. What the rate keeps
//    out is counted, and a line {"event":"dropped",...} tells the log's
//    reader, at most once a second per class, how many records are missing
//    and since when.
//  * Errors. A write that fails (disk full, a FIFO with no reader) loses the
//    lines of that write, counted, with the reason kept for `status`; the
//    log never blocks the collector.
//  * A file moved away or removed (logrotate) is reopened at the path on the
//    next write. New files get mode 0640, and an existing log loses any
//    permission for others: flow records are not for every local user.
//
// Thread-safety: none; the collector calls it under its lock.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/flows/siem.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane::flows {

struct FlowLogOptions {
  uint64_t max_file_bytes = 256ull << 20;
  uint32_t keep_files = 4;
  uint32_t rate = 5'000;  // records a second, per class
  int64_t rotate_every_s = 0;  // also rotate when a new period of this length starts (0: by size only)
  LogFormat format = LogFormat::native;  // each record's shape; "dropped" lines stay native
};

// "" when the options are usable; otherwise what is wrong, naming the
// option of bulkhead-controlplane.
std::string check(const FlowLogOptions& options);

class FlowLog {
 public:
  // Opens `path` for appending (creating it); nullptr with `error` when it
  // cannot be, or is neither a regular file, a FIFO nor a character device.
  // A FIFO with no reader yet is not an error: it is opened when it has one.
  static std::unique_ptr<FlowLog> open(const std::string& path, const FlowLogOptions& options, std::string& error);
  ~FlowLog();
  FlowLog(const FlowLog&) = delete;
  FlowLog& operator=(const FlowLog&) = delete;

  // Writes the records the caps let through, in order, as sent by
  // `dataplane`. `now_ms` is a monotonic clock (the rate), `unix_ms` the
  // time the "dropped" lines carry.
  template <class Records>
  void write(const Records& records, const std::string& dataplane, int64_t now_ms, int64_t unix_ms) {
    RecordLines lines(records, dataplane, opt_.format);
    write(lines, now_ms, unix_ms);
  }
  // The same for a batch whose lines another sink may share: a record the
  // caps let through takes its line from `lines` when they are in this
  // log's format (making it there if no sink has yet), else has one made
  // for the log alone; a record the rate keeps out is not formatted.
  void write(RecordLines& lines, int64_t now_ms, int64_t unix_ms);
  // Writes the "dropped" lines that are due; the collector calls it a few
  // times a second so that the last gap of a flood is told even when no
  // record follows it.
  void tick(int64_t now_ms, int64_t unix_ms);

  const pb::FlowLogInfo& info() const noexcept { return info_; }
  LogFormat format() const noexcept { return opt_.format; }

 private:
  enum Class : uint8_t { connections = 0, denied = 1 };  // index of buckets_
  struct Bucket {
    int64_t milli_tokens = 0;   // tokens x 1000
    uint64_t missing = 0;       // dropped since the last "dropped" line
    int64_t missing_since = 0;  // unix ms of the first of them
    int64_t told_ms = 0;        // monotonic ms of the last "dropped" line
  };

  FlowLog(std::string path, const FlowLogOptions& options);
  bool reopen(std::string& error);
  // Refills the rate's tokens; notes the time of this write.
  void begin(int64_t now_ms, int64_t unix_ms);
  void add(RecordLines& lines, size_t i);
  void markers(int64_t now_ms, int64_t unix_ms);
  void line(std::string_view text);
  void emit();
  // Writes buf_[from, to) at the end of the file; false when it failed
  // (the lines are counted lost).
  bool put(size_t from, size_t to, size_t lines);
  bool rotate();
  // Rotates a file that holds lines when the period of unix_ms_ is not the
  // one the file was started in.
  void rotate_on_time();
  void fail(const std::string& what, int err);

  std::string path_;
  FlowLogOptions opt_;
  int fd_ = -1;
  bool regular_ = true;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  Bucket buckets_[2];
  int64_t refilled_ms_ = -1;
  int64_t unix_ms_ = 0;      // of the current write, for record-less lines
  int64_t period_ = -1;      // the time period of the current file (-1: not known yet)
  std::string buf_;          // the lines of the current write
  std::vector<size_t> ends_;  // where each of them ends in buf_
  pb::FlowLogInfo info_;
};

}  // namespace bulkhead::controlplane::flows
