// The dataplane's lists of control planes and its kept leader term: what
// the options may list, and a term file that reads back, refuses what is
// not a term and is never written onto anything but a regular file.
#include "dataplane/controlplanes.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/common/temp_dir.h"

namespace bulkhead::dataplane {
namespace {

std::vector<std::string> list(const std::string& text, bool endpoints = true, std::string* error = nullptr) {
  std::vector<std::string> out;
  std::string why;
  if (!parse_list(text, "--controlplane", endpoints, out, why)) out = {"error: " + why};
  if (error) *error = why;
  return out;
}

TEST(ControlPlanes, ListsSplitAtCommas) {
  EXPECT_EQ(list("tcp://10.0.0.1:7300"), std::vector<std::string>{"tcp://10.0.0.1:7300"});
  EXPECT_EQ(list("tcp://a.example:7300,tcp://[2001:db8::1]:7300,ipc:///run/cp.sock"),
            (std::vector<std::string>{"tcp://a.example:7300", "tcp://[2001:db8::1]:7300", "ipc:///run/cp.sock"}));
  EXPECT_EQ(list("cp-a.pub,keys/cp b.pub", false)[0].substr(0, 6), "error:") << "a blank";
  EXPECT_EQ(list("cp-a.pub,cp-b.pub", false), (std::vector<std::string>{"cp-a.pub", "cp-b.pub"}));
}

TEST(ControlPlanes, ListsRefuseWhatCannotBeAnEndpoint) {
  std::string error;
  for (const char* bad : {"", ",", "tcp://a:7300,", "tcp://a:7300,,tcp://b:7300", "tcp://a:7300, tcp://b:7300",
                          "tcp://a", "tcp://a:0", "tcp://a:65536", "tcp://:7300", "tcp://a:73x0", "udp://a:7300",
                          "ipc://", "tcp://2001:db8::1:7300", "tcp://[2001:db8::1:7300", "tcp://[]:7300",
                          "tcp://a;b:7300"}) {
    list(bad, true, &error);
    EXPECT_NE(error, "") << bad;
    EXPECT_EQ(error.find('\n'), std::string::npos) << bad;
  }
  list("tcp://a:7300,tcp://a:7300", true, &error);
  EXPECT_NE(error.find("listed twice"), std::string::npos) << error;
  std::string many;
  for (size_t k = 0; k <= kMaxControlPlanes; ++k) many += (k ? ",tcp://a:" : "tcp://a:") + std::to_string(7300 + k);
  list(many, true, &error);
  EXPECT_NE(error.find("more than 16"), std::string::npos) << error;
}

TEST(ControlPlanes, LeaderTermText) {
  uint64_t t = 9;
  EXPECT_TRUE(parse_leader_term("0\n", t) && t == 0);
  EXPECT_TRUE(parse_leader_term("42", t) && t == 42);
  EXPECT_TRUE(parse_leader_term(format_leader_term(UINT64_MAX), t) && t == UINT64_MAX);
  for (const char* bad : {"", "\n", "18446744073709551616", "4 2", "-1", "42\n\n", "0x10", "+3", "3\r\n"})
    EXPECT_FALSE(parse_leader_term(bad, t)) << bad;
}

TEST(ControlPlanes, LeaderTermFile) {
  test::TempDir dir;
  const std::string path = leader_term_path(dir.path());
  uint64_t t = 9;
  std::string error;
  EXPECT_TRUE(read_leader_term(path, t, error) && t == 0) << "no file: no term yet";
  ASSERT_TRUE(write_leader_term(path, 7, error)) << error;
  EXPECT_TRUE(read_leader_term(path, t, error) && t == 7);
  ASSERT_TRUE(write_leader_term(path, 12, error)) << error;
  EXPECT_TRUE(read_leader_term(path, t, error) && t == 12);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1) << "no temporary file left";

  std::ofstream(path) << "twelve\n";
  EXPECT_FALSE(read_leader_term(path, t, error));
  EXPECT_NE(error.find("damaged"), std::string::npos) << error;
  EXPECT_EQ(t, 0u);

  // Never renamed onto something that is not a regular file.
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_FALSE(write_leader_term(fifo, 3, error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
  EXPECT_FALSE(read_leader_term(fifo, t, error));
  std::filesystem::create_directory(dir.path() + "/sub");
  EXPECT_FALSE(write_leader_term(dir.path() + "/sub", 3, error));
  struct stat st{};
  ASSERT_EQ(stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

}  // namespace
}  // namespace bulkhead::dataplane
