#include "dataplane/eal_runtime.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

namespace bulkhead::dataplane {

std::string eal_runtime_dir(std::string_view prefix) {
  // As DPDK's eal_create_runtime_dir() chooses it.
  std::string base = "/var/run";
  if (getuid() != 0) {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    base = xdg != nullptr ? xdg : "/tmp";
  }
  return base + "/dpdk/" + std::string(prefix);
}

bool remove_eal_runtime_dir(const std::string& dir) noexcept {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return false;
  }
  // Entries are removed relative to the directory opened: a path swapped
  // meanwhile cannot point the removal elsewhere.
  while (const dirent* e = readdir(d)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode)) unlinkat(fd, e->d_name, 0);
  }
  closedir(d);
  return rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

void remove_eal_runtime_dir_at_exit(std::string dir) {
  static std::string at_exit;
  if (!at_exit.empty()) return;
  at_exit = std::move(dir);
  std::atexit([] { remove_eal_runtime_dir(at_exit); });
}

}  // namespace bulkhead::dataplane
