// Crafts what a TLS or QUIC client sends first, for the name readers' tests
// and fuzz seeds: a ClientHello handshake message, TLS records around it,
// and protected QUIC Initial packets carrying CRYPTO frames.
//
//   auto hello = build_client_hello({.sni = "example.com", .ech = true});
//   auto stream = tls_records(hello, 100);   // records of at most 100 bytes
//   auto datagram = protect_initial({.frames = crypto_frame(0, hello)});
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/names/quic.h"

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

// One CRYPTO frame with data[from, from + len) of `data` at stream offset `from`.
Bytes crypto_frame(const Bytes& data, size_t from = 0, size_t len = SIZE_MAX);

struct InitialSpec {
  uint32_t version = dataplane::names::kQuicV1;
  Bytes dcid = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
  Bytes scid = {};
  uint32_t packet_number = 0;  // sent in 4 bytes
  Bytes frames = {};
  // PADDING frames are added until the packet is this long (a client pads
  // its Initial datagrams to 1200 bytes).
  size_t pad_to = 1200;
  bool zero_rtt = false;  // a 0-RTT packet instead of an Initial (same keys: only its header is read)
};

// A client Initial packet protected as RFC 9001 5 says.
Bytes protect_initial(const InitialSpec& spec);

Bytes hex_bytes(const std::string& hex);  // whitespace ignored

}  // namespace bulkhead::test
