#include "common/file_write.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace bulkhead::common {
namespace {

bool write_all(int fd, std::string_view content) {
  size_t off = 0;
  while (off < content.size()) {
    const ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool fail(const std::string& path, const std::string& why, std::string& error) {
  error = "cannot write " + path + ": " + why;
  return false;
}

bool fail_errno(const std::string& path, std::string& error) { return fail(path, std::strerror(errno), error); }

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

OutputFile::OutputFile(OutputFile&& o) noexcept
    : shown_(std::move(o.shown_)),
      target_(std::move(o.target_)),
      tmp_(std::move(o.tmp_)),
      fd_(std::exchange(o.fd_, -1)),
      owns_fd_(std::exchange(o.owns_fd_, false)) {}

OutputFile::~OutputFile() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

bool OutputFile::open(const std::string& path, std::string& error, mode_t mode) {
  shown_ = path;
  if (path == "-") {
    fd_ = STDOUT_FILENO;
    owns_fd_ = false;
    return true;
  }
  if (path.empty()) return fail("\"\"", "empty path", error);

  struct stat st{};
  target_ = path;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return fail_errno(path, error);
    st.st_mode = S_IFREG;  // nothing there yet: created like a regular file
  } else if (S_ISLNK(st.st_mode)) {
    if (::stat(path.c_str(), &st) != 0) return fail(path, "a symbolic link to nothing", error);
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved) == nullptr) return fail_errno(path, error);
    target_ = resolved;
  }
  if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
    // A device or FIFO: opened as it is, never created, truncated or replaced.
    fd_ = ::open(target_.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd_ < 0) return fail_errno(path, error);
    owns_fd_ = true;
    return true;
  }
  if (!S_ISREG(st.st_mode)) return fail(path, "not a regular file, character device or FIFO", error);

  std::string tmp = directory_of(target_) + "/." + base_of(target_) + ".tmp.XXXXXX";
  fd_ = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd_ < 0) return fail_errno(path, error);
  owns_fd_ = true;
  tmp_ = tmp;
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd_, mode & ~mask) != 0) return fail_errno(path, error);
  return true;
}

bool OutputFile::commit(std::string& error) {
  if (fd_ < 0) return fail(shown_, "not open", error);
  if (tmp_.empty()) {
    // In place: nothing to sync for a pipe or a device, nothing to rename.
    if (owns_fd_) ::close(fd_);
    fd_ = -1;
    return true;
  }
  bool ok = ::fsync(fd_) == 0;
  int saved = errno;
  ok = (::close(fd_) == 0) && ok;
  fd_ = -1;
  if (!ok) {
    errno = saved;
    return fail_errno(shown_, error);
  }
  // Checked again just before the rename: a path that became something
  // other than a regular file in the meantime is still never replaced.
  struct stat st{};
  if (::lstat(target_.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return fail(shown_, "it is no longer a regular file", error);
  if (::rename(tmp_.c_str(), target_.c_str()) != 0) return fail_errno(shown_, error);
  tmp_.clear();
  const int dfd = ::open(directory_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

bool write_file(const std::string& path, std::string_view content, std::string& error, mode_t mode) {
  OutputFile out;
  if (!out.open(path, error, mode)) return false;
  if (!write_all(out.fd(), content)) return fail_errno(path == "-" ? "standard output" : path, error);
  return out.commit(error);
}

}  // namespace bulkhead::common
