// CurveZMQ key files, shared by the dataplane, the control plane and the CLI.
//
//   NAME.key   public = <40 Z85 chars>      (mode 0600)
//              secret = <40 Z85 chars>
//   NAME.pub   public = <40 Z85 chars>
#pragma once

#include <string>

namespace bulkhead::common {

struct CurveKeys {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters; empty in a .pub file
};

// Reads a key file; false with `error` when it is missing or malformed.
// `need_secret` demands the secret half.
bool read_curve_keys(const std::string& path, bool need_secret, CurveKeys& keys, std::string& error);

}  // namespace bulkhead::common
