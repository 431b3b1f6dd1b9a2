// The EAL runtime directory's removal: what DPDK leaves (files, sockets)
// goes with the directory; anything else keeps it, and nothing outside it
// is touched through a link; at exit, when asked.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "dataplane/eal_runtime.h"
#include "tests/common/temp_dir.h"

namespace bulkhead::dataplane {
namespace {

namespace fs = std::filesystem;

// A listening Unix socket at `path`, as DPDK's mp and telemetry sockets are.
void make_socket(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);
}

// A runtime directory as a --no-huge primary leaves it.
std::string make_runtime(const test::TempDir& t) {
  const std::string dir = t.path() + "/dpdk-prefix";
  fs::create_directory(dir);
  t.file("dpdk-prefix/config", "c");
  t.file("dpdk-prefix/fbarray_memzone", "m");
  t.file("dpdk-prefix/fbarray_nohugemem", "n");
  make_socket(dir + "/mp_socket");
  make_socket(dir + "/dpdk_telemetry.v2");
  return dir;
}

TEST(EalRuntime, DirIsDpdksChoice) {
  if (getuid() == 0) {
    EXPECT_EQ(eal_runtime_dir("bhx"), "/var/run/dpdk/bhx");
    return;
  }
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(eal_runtime_dir("bhx"), std::string(xdg != nullptr ? xdg : "/tmp") + "/dpdk/bhx");
}

TEST(EalRuntime, RemovesWhatDpdkLeaves) {
  test::TempDir t;
  const std::string dir = make_runtime(t);
  EXPECT_TRUE(remove_eal_runtime_dir(dir));
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(remove_eal_runtime_dir(dir)) << "already gone is done";
}

TEST(EalRuntime, LeavesWhatItDidNotExpect) {
  test::TempDir t;
  const std::string dir = make_runtime(t);
  // A directory inside, and a link to a file outside: neither is DPDK's.
  const std::string outside = t.file("outside", "keep me");
  fs::create_directory(dir + "/sub");
  t.file("dpdk-prefix/sub/file", "keep me too");
  fs::create_symlink(outside, dir + "/link");
  EXPECT_FALSE(remove_eal_runtime_dir(dir));
  EXPECT_TRUE(fs::exists(dir + "/sub/file"));
  EXPECT_TRUE(fs::is_symlink(dir + "/link"));
  EXPECT_TRUE(fs::exists(outside));
  EXPECT_FALSE(fs::exists(dir + "/config")) << "DPDK's own files go all the same";
}

TEST(EalRuntime, NeverFollowsALinkOrTouchesAFile) {
  test::TempDir t;
  const std::string real = make_runtime(t);
  const std::string link = t.path() + "/linked";
  fs::create_directory_symlink(real, link);
  EXPECT_FALSE(remove_eal_runtime_dir(link));
  EXPECT_TRUE(fs::exists(real + "/config"));
  const std::string file = t.file("plain", "x");
  EXPECT_FALSE(remove_eal_runtime_dir(file));
  EXPECT_TRUE(fs::exists(file));
}

TEST(EalRuntime, GoesWhenTheProcessExits) {
  test::TempDir t;
  const std::string dir = make_runtime(t);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    remove_eal_runtime_dir_at_exit(dir);
    remove_eal_runtime_dir_at_exit(t.path());  // once per process: ignored
    std::exit(fs::exists(dir) ? 0 : 1);        // still there until the exit
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(fs::exists(t.path()));
}

}  // namespace
}  // namespace bulkhead::dataplane
