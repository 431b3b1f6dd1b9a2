// A temporary directory for one test, removed with everything in it when
// the test ends.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace bulkhead::test {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bh_test_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // The path of `name` inside; writes `content` there when it is not empty.
  std::string file(const std::string& name, const std::string& content = {}) const {
    const std::string p = path_ + "/" + name;
    if (!content.empty()) std::ofstream(p) << content;
    return p;
  }

 private:
  std::string path_;
};

}  // namespace bulkhead::test
