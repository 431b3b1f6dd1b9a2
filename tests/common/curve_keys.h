// CurveZMQ key pairs and key files for tests of the control and flow
// channels (the files in the format of common/keys.h).
#pragma once

#include <zmq.h>

#include <string>

#include "tests/common/temp_dir.h"

namespace bulkhead::test {

struct KeyPair {
  std::string pub, sec;  // Z85
};

inline KeyPair keypair() {
  char p[41] = {}, s[41] = {};
  zmq_curve_keypair(p, s);
  return {p, s};
}

// Writes a key file in `dir` (with the secret half when `secret`) and
// returns its path.
inline std::string key_file(const TempDir& dir, const std::string& name, const KeyPair& k, bool secret) {
  return dir.file(name, "public = " + k.pub + "\n" + (secret ? "secret = " + k.sec + "\n" : ""));
}

}  // namespace bulkhead::test
