// common::write_file: regular files replaced atomically, devices and FIFOs
// written in place, everything else refused and left as it was.
#include "common/file_write.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/common/temp_dir.h"

namespace bulkhead::common {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(FileWrite, CreatesANewFileWithTheGivenMode) {
  test::TempDir dir;
  const std::string p = dir.file("new.txt");
  std::string error;
  ASSERT_TRUE(write_file(p, "hello\n", error, 0600)) << error;
  EXPECT_EQ(read(p), "hello\n");
  struct stat st{};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(FileWrite, ReplacesARegularFileAndLeavesNoTemporaryFile) {
  test::TempDir dir;
  const std::string p = dir.file("f.txt", "old content that is longer\n");
  std::string error;
  ASSERT_TRUE(write_file(p, "new\n", error)) << error;
  EXPECT_EQ(read(p), "new\n");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(FileWrite, WritesACharacterDeviceInPlace) {
  // /dev/null is the device every machine has; it must stay a device.
  std::string error;
  ASSERT_TRUE(write_file("/dev/null", "discarded\n", error)) << error;
  struct stat st{};
  ASSERT_EQ(::lstat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST(FileWrite, WritesThroughAFifo) {
  test::TempDir dir;
  const std::string p = dir.file("fifo");
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = read(p); });
  std::string error;
  EXPECT_TRUE(write_file(p, "through the pipe\n", error)) << error;
  reader.join();
  EXPECT_EQ(got, "through the pipe\n");
  struct stat st{};
  ASSERT_EQ(::lstat(p.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST(FileWrite, FollowsASymlinkAndKeepsIt) {
  test::TempDir dir;
  const std::string target = dir.file("target", "old\n");
  const std::string link = dir.file("link");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  std::string error;
  ASSERT_TRUE(write_file(link, "new\n", error)) << error;
  struct stat st{};
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(read(target), "new\n");
}

TEST(FileWrite, RefusesADirectoryASocketAndALinkToNothing) {
  test::TempDir dir;
  std::string error;
  EXPECT_FALSE(write_file(dir.path(), "x", error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
  EXPECT_TRUE(std::filesystem::is_directory(dir.path()));

  const std::string dangling = dir.file("dangling");
  ASSERT_EQ(::symlink((dir.path() + "/none").c_str(), dangling.c_str()), 0);
  EXPECT_FALSE(write_file(dangling, "x", error));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/none"));
}

TEST(FileWrite, AMissingDirectoryIsAClearError) {
  test::TempDir dir;
  std::string error;
  EXPECT_FALSE(write_file(dir.path() + "/no/such/dir/f", "x", error));
  EXPECT_NE(error.find("cannot write"), std::string::npos) << error;
}

}  // namespace
}  // namespace bulkhead::common
