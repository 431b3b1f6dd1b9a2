// Crafts what a TLS client sends first, for the name readers' tests and
// fuzz seeds: a ClientHello handshake message and TLS records around it.
//
//   auto hello = build_client_hello({.sni = "example.com", .ech = true});
//   auto stream = tls_records(hello, 100);   // records of at most 100 bytes
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bulkhead::test {

using Bytes = std::vector<uint8_t>;

struct HelloSpec {
  std::optional<std::string> sni = "example.com";  // nullopt: no server_name extension
  bool ech = false;                                // an encrypted_client_hello extension
  std::vector<uint16_t> versions = {0x0304, 0x0303};  // supported_versions; empty: none
  size_t padding = 0;  // a padding extension (21) of this many zero bytes
  std::vector<std::pair<uint16_t, Bytes>> extra = {};  // more extensions, after the others
  bool no_extensions = false;  // end after the compression methods (TLS 1.2 and before)
};

// The ClientHello handshake message: type, 24-bit length, body.
Bytes build_client_hello(const HelloSpec& spec);

// `message` in handshake records of at most `fragment` bytes each.
Bytes tls_records(const Bytes& message, size_t fragment = 16384);

}  // namespace bulkhead::test
