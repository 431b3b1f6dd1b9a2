// Writing the files Bulkhead produces: the daemons' state (generations,
// flow store, the dataplane's last good rule set) and every `-o` of the CLI.
//
// A regular file (or a path that does not exist yet) is replaced atomically:
// a temporary file beside it, fsync, rename, fsync of the directory, so a
// reader or a crash sees the old content or the whole new one. A symbolic
// link is followed and the file it names is replaced; the link stays.
// A character device or a FIFO (`/dev/null`, `/dev/stdout`, a pipe) is
// written in place, never replaced. "-" is standard output. Anything else
// (a directory, a socket, a block device, a link to nothing) is refused.
//
// Safe to call from any thread; it touches nothing but `path` and its
// temporary file.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace bulkhead::common {

// The mode a new file gets (the umask still applies).
inline constexpr mode_t kDefaultFileMode = 0640;

// An output being written: open() picks where the bytes go (a temporary
// file, the device itself, or standard output), commit() puts them in
// place. Destroyed uncommitted, it removes its temporary file and the
// destination stays as it was. Move-only; one thread at a time.
class OutputFile {
 public:
  // False with `error` ("cannot write PATH: why").
  bool open(const std::string& path, std::string& error, mode_t mode = kDefaultFileMode);
  // The descriptor to write to while open.
  int fd() const { return fd_; }
  // Flushes, syncs and renames into place; false with `error`.
  bool commit(std::string& error);

  OutputFile() = default;
  OutputFile(OutputFile&& o) noexcept;
  OutputFile& operator=(OutputFile&&) = delete;
  OutputFile(const OutputFile&) = delete;
  ~OutputFile();

 private:
  std::string shown_;   // the path as the caller named it, for errors
  std::string target_;  // where a committed temporary file goes
  std::string tmp_;     // empty when writing in place
  int fd_ = -1;
  bool owns_fd_ = false;  // false for standard output
};

// The whole of `content` to `path` through an OutputFile.
bool write_file(const std::string& path, std::string_view content, std::string& error,
                mode_t mode = kDefaultFileMode);

}  // namespace bulkhead::common
