#include "common/keys.h"

#include <fstream>

namespace bulkhead::common {
namespace {

bool z85_key(const std::string& s) {
  static const std::string alphabet =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  return s.size() == 40 && s.find_first_not_of(alphabet) == std::string::npos;
}

}  // namespace

bool read_curve_keys(const std::string& path, bool need_secret, CurveKeys& keys, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = path + ": cannot read the key file";
    return false;
  }
  keys = {};
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      error = path + ":" + std::to_string(line_no) + ": expected 'public = KEY' or 'secret = KEY'";
      return false;
    }
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    const std::string name = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (!z85_key(value)) {
      error = path + ":" + std::to_string(line_no) + ": not a 40-character Z85 CurveZMQ key";
      return false;
    }
    if (name == "public") keys.public_key = value;
    else if (name == "secret") keys.secret_key = value;
    else {
      error = path + ":" + std::to_string(line_no) + ": unknown entry '" + name + "'";
      return false;
    }
  }
  if (keys.public_key.empty() || (need_secret && keys.secret_key.empty())) {
    error = path + (need_secret ? ": needs both 'public' and 'secret' keys" : ": has no 'public' key");
    return false;
  }
  return true;
}

}  // namespace bulkhead::common
