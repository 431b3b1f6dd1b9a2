#include "controlplane/flows/flow_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/time.h"
#include "controlplane/flows/record.h"

namespace bulkhead::controlplane::flows {
namespace {

constexpr mode_t kMode = 0640;
constexpr int64_t kTellEveryMs = 1000;
constexpr uint64_t kMinFileBytes = 1ull << 20;
constexpr uint64_t kMaxFileBytes = 1ull << 40;
constexpr uint32_t kMaxKeep = 1000;
constexpr uint32_t kMaxRate = 10'000'000;
constexpr int64_t kMinRotateEvery = 60;

const char* class_name(int c) { return c == 0 ? "connections" : "denied"; }

}  // namespace

std::string check(const FlowLogOptions& o) {
  if (o.max_file_bytes < kMinFileBytes || o.max_file_bytes > kMaxFileBytes)
    return "--flow-log-size: between 1 and " + std::to_string(kMaxFileBytes >> 20) + " MiB";
  if (o.keep_files > kMaxKeep) return "--flow-log-files: at most " + std::to_string(kMaxKeep);
  if (o.rotate_every_s != 0 && (o.rotate_every_s < kMinRotateEvery || o.rotate_every_s > common::kMaxDurationSeconds))
    return "--flow-log-rotate: at least " + std::to_string(kMinRotateEvery) + "s (or 0: by size only)";
  if (o.rate == 0 || o.rate > kMaxRate) return "--flow-log-rate: between 1 and " + std::to_string(kMaxRate) + " records a second";
  return {};
}

FlowLog::FlowLog(std::string path, const FlowLogOptions& options) : path_(std::move(path)), opt_(options) {
  info_.set_path(path_);
  info_.set_max_file_bytes(opt_.max_file_bytes);
  info_.set_keep_files(opt_.keep_files);
  info_.set_rate(opt_.rate);
  for (Bucket& b : buckets_) b.milli_tokens = int64_t{opt_.rate} * 1000;
}

FlowLog::~FlowLog() {
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<FlowLog> FlowLog::open(const std::string& path, const FlowLogOptions& options, std::string& error) {
  if (std::string why = check(options); !why.empty()) {
    error = why;
    return nullptr;
  }
  std::unique_ptr<FlowLog> log(new FlowLog(path, options));
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
    error = "flow log " + path + ": not a regular file, FIFO or character device";
    return nullptr;
  }
  const bool fifo = ::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
  if (!log->reopen(error) && !(fifo && log->fd_ < 0)) {
    error = "cannot open " + path + " for the flow log: " + error;
    return nullptr;
  }
  return log;
}

bool FlowLog::reopen(std::string& error) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  // Non-blocking: a FIFO without a reader, or whose reader is slow, loses
  // lines rather than stopping the collector.
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, kMode);
  if (fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))) {
    ::close(fd);
    error = "not a regular file, FIFO or character device";
    return false;
  }
  regular_ = S_ISREG(st.st_mode);
  if (regular_ && (st.st_mode & 0007) != 0) (void)::fchmod(fd, st.st_mode & 0770);
  fd_ = fd;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  return true;
}

void FlowLog::begin(int64_t now_ms, int64_t unix_ms) {
  unix_ms_ = unix_ms;
  if (refilled_ms_ < 0) refilled_ms_ = now_ms;
  const int64_t elapsed = now_ms - refilled_ms_;
  if (elapsed <= 0) return;
  refilled_ms_ = now_ms;
  const int64_t full = int64_t{opt_.rate} * 1000;
  for (Bucket& b : buckets_) b.milli_tokens = std::min(full, b.milli_tokens + std::min(elapsed, int64_t{1000}) * opt_.rate);
}

void FlowLog::write(RecordLines& lines, int64_t now_ms, int64_t unix_ms) {
  begin(now_ms, unix_ms);
  for (size_t i = 0; i < lines.size(); ++i) add(lines, i);
  markers(now_ms, unix_ms);
  emit();
}

void FlowLog::add(RecordLines& lines, size_t i) {
  const pb::FlowRecord& r = lines.record(i);
  Bucket& b = buckets_[r.kind() == pb::FlowRecord::DENIED ? denied : connections];
  if (b.milli_tokens < 1000) {
    if (b.missing++ == 0) b.missing_since = unix_ms_;
    info_.set_dropped_rate(info_.dropped_rate() + 1);
    return;
  }
  b.milli_tokens -= 1000;
  if (lines.format() == opt_.format)
    line(lines.line(i));
  else
    line(format_record(r, lines.dataplane(), opt_.format));
}

void FlowLog::markers(int64_t now_ms, int64_t unix_ms) {
  for (int c = 0; c < 2; ++c) {
    Bucket& b = buckets_[c];
    if (b.missing == 0 || now_ms - b.told_ms < kTellEveryMs) continue;
    nlohmann::ordered_json j;
    j["time_ms"] = unix_ms;
    j["event"] = "dropped";
    j["class"] = class_name(c);
    j["records"] = b.missing;
    j["since_ms"] = b.missing_since;
    j["reason"] = "rate";
    line(dump(j));
    b.missing = 0;
    b.told_ms = now_ms;
  }
}

void FlowLog::tick(int64_t now_ms, int64_t unix_ms) {
  begin(now_ms, unix_ms);
  markers(now_ms, unix_ms);
  emit();
}

void FlowLog::line(std::string_view text) {
  buf_ += text;
  buf_ += '\n';
  ends_.push_back(buf_.size());
}

void FlowLog::fail(const std::string& what, int err) {
  info_.set_last_error(what + ": " + std::strerror(err));
}

void FlowLog::rotate_on_time() {
  if (opt_.rotate_every_s <= 0 || !regular_ || fd_ < 0) return;
  const int64_t span = opt_.rotate_every_s * 1000;
  auto period_of = [span](int64_t ms) { return ms >= 0 ? ms / span : (ms - span + 1) / span; };
  const int64_t period = period_of(unix_ms_);
  if (period == period_) return;
  struct stat st;
  if (::fstat(fd_, &st) != 0 || st.st_size == 0) {
    period_ = period;  // nothing to turn over
    return;
  }
  // A file found at start (or reopened) belongs to the period it was last
  // written in: yesterday's log turns over on today's first line.
  if (period_ < 0) period_ = period_of(int64_t{st.st_mtim.tv_sec} * 1000 + st.st_mtim.tv_nsec / 1'000'000);
  if (period == period_) return;
  // A failed rotation is in last_error; the lines go on into the file as
  // they can, and the next period tries again.
  (void)rotate();
  period_ = period;
}

void FlowLog::emit() {
  // With time rotation an idle file turns over too: the tick comes here.
  if (ends_.empty() && opt_.rotate_every_s <= 0) return;
  // Moved away or removed since the last write (logrotate): a new file at
  // the path.
  struct stat st;
  if (fd_ < 0 || (regular_ && (::stat(path_.c_str(), &st) != 0 || st.st_dev != dev_ || st.st_ino != ino_))) {
    std::string error;
    if (!reopen(error)) info_.set_last_error("cannot open " + path_ + ": " + error);
    period_ = -1;
  }
  rotate_on_time();
  if (ends_.empty()) return;
  size_t first = 0;  // the first line not yet written
  while (first < ends_.size()) {
    if (fd_ < 0) {
      info_.set_dropped_errors(info_.dropped_errors() + (ends_.size() - first));
      break;
    }
    const size_t from = first == 0 ? 0 : ends_[first - 1];
    size_t last = ends_.size();  // one past the last line of this piece
    if (regular_) {
      if (::fstat(fd_, &st) != 0) {
        fail("fstat " + path_, errno);
        info_.set_dropped_errors(info_.dropped_errors() + (ends_.size() - first));
        break;
      }
      const uint64_t size = static_cast<uint64_t>(st.st_size);
      const uint64_t room = size >= opt_.max_file_bytes ? 0 : opt_.max_file_bytes - size;
      // The lines that fit; a line longer than a whole file goes alone
      // into a fresh one.
      last = static_cast<size_t>(std::upper_bound(ends_.begin() + static_cast<ptrdiff_t>(first), ends_.end(), from + room) -
                                 ends_.begin());
      if (last == first) {
        if (size > 0) {
          if (!rotate()) {
            info_.set_dropped_errors(info_.dropped_errors() + (ends_.size() - first));
            break;
          }
          continue;
        }
        last = first + 1;
      }
    }
    put(from, ends_[last - 1], last - first);
    first = last;
  }
  buf_.clear();
  ends_.clear();
}

bool FlowLog::put(size_t from, size_t to, size_t lines) {
  size_t done = from;
  while (done < to) {
    const ssize_t n = ::write(fd_, buf_.data() + done, to - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fail("write " + path_, n < 0 ? errno : EIO);
      // The lines that did not go whole are lost; a partial one is ended
      // so the next line starts on its own.
      const auto whole = static_cast<size_t>(
          std::upper_bound(ends_.begin(), ends_.end(), done) - std::lower_bound(ends_.begin(), ends_.end(), from + 1));
      if (done > from && buf_[done - 1] != '\n') (void)!::write(fd_, "\n", 1);
      info_.set_dropped_errors(info_.dropped_errors() + (lines - whole));
      info_.set_records(info_.records() + whole);
      info_.set_bytes(info_.bytes() + (done - from));
      return false;
    }
    done += static_cast<size_t>(n);
  }
  info_.set_records(info_.records() + lines);
  info_.set_bytes(info_.bytes() + (to - from));
  return true;
}

bool FlowLog::rotate() {
  ::close(fd_);
  fd_ = -1;
  auto name = [&](uint32_t i) { return i == 0 ? path_ : path_ + "." + std::to_string(i); };
  if (opt_.keep_files == 0) {
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) fail("remove " + path_, errno);
  } else {
    for (uint32_t i = opt_.keep_files; i >= 1; --i) {
      if (::rename(name(i - 1).c_str(), name(i).c_str()) != 0 && errno != ENOENT) {
        fail("rotate " + name(i - 1), errno);
        break;
      }
    }
  }
  std::string error;
  if (!reopen(error)) {
    info_.set_last_error("cannot open " + path_ + ": " + error);
    return false;
  }
  // The path still holds the old file when a rename was refused: writing
  // on would pass the cap.
  struct stat st;
  if (::fstat(fd_, &st) != 0 || st.st_size > 0) return false;
  info_.set_rotations(info_.rotations() + 1);
  period_ = -1;
  return true;
}

}  // namespace bulkhead::controlplane::flows
