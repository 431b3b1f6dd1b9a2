// Reading the server name a TLS client asks for: the ClientHello's
// server_name (SNI), whether it carries an encrypted_client_hello (ECH)
// extension, and the versions it offers.
//
// Two ways in:
//  - parse_client_hello(): one bare handshake message, as QUIC's CRYPTO
//    stream carries it (dataplane/names/quic.h feeds it);
//  - ClientHelloAssembler: the client's TCP payload, TLS records and all,
//    fed segment by segment at their offsets; it joins the ClientHello
//    across segments and records within a fixed buffer.
//
// Pure: no DPDK, no allocation, no logging; every length field is checked
// against the bytes it must lie in, and the cost is linear in the input.
// A ClientHello result and an assembler belong to one connection's reader;
// nothing here is shared, so any thread may use its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/names/stream_prefix.h"

namespace bulkhead::dataplane::names {

// What became of a ClientHello (or of the bytes that should have held one).
enum class HelloStatus : uint8_t {
  complete,   // read: sni()/has_sni/ech are valid
  need_more,  // nothing wrong so far; more bytes are needed
  not_tls,    // the bytes are not a TLS handshake (or, for QUIC, not a client
              // Initial of a version read here): no name will come
  malformed,  // TLS (or QUIC) that breaks its own rules: no name is trusted
  too_large,  // the ClientHello does not fit the reader's capacity: no name
};

// Why, as a counter label. TLS reasons first, then QUIC's.
#define BULKHEAD_HELLO_REASONS(X)                                                              \
  X(ok, "a ClientHello was read")                                                              \
  X(truncated, "the bytes so far end inside the ClientHello")                                  \
  X(not_handshake, "the stream does not start with a TLS handshake record (content type 22)")  \
  X(bad_record_version, "a record's version is not 3.x")                                       \
  X(empty_record, "a handshake record of length 0")                                            \
  X(record_too_long, "a record longer than 2^14 bytes")                                        \
  X(interleaved_record, "another record type inside the ClientHello")                          \
  X(not_client_hello, "the first handshake message is not a ClientHello")                      \
  X(hello_too_large, "the ClientHello (with its record headers) exceeds the reader's capacity") \
  X(hello_too_short, "a ClientHello shorter than its version and random")                      \
  X(bad_session_id, "session id longer than 32 bytes or past the message")                     \
  X(bad_cipher_suites, "cipher suites empty, odd or past the message")                         \
  X(bad_compression, "compression methods empty or past the message")                          \
  X(bad_extensions, "the extensions block is past the message or ends inside an extension")    \
  X(trailing_bytes, "bytes after the extensions")                                              \
  X(duplicate_extension, "server_name, supported_versions or ECH given twice")                 \
  X(bad_server_name, "server_name is not exactly one host_name entry")                         \
  X(bad_host_name, "host_name empty, too long, or not a DNS name in ASCII")                    \
  X(bad_supported_versions, "supported_versions list empty, odd or past its extension")        \
  X(quic_short_header, "QUIC: not a long-header packet")                                       \
  X(quic_unknown_version, "QUIC: a version other than 1 and 2")                                \
  X(quic_not_initial, "QUIC: a long-header packet that is not an Initial")                     \
  X(quic_fixed_bit, "QUIC: the fixed bit is 0")                                                \
  X(quic_datagram_too_small, "QUIC: an Initial in a datagram under 1200 bytes")                \
  X(quic_truncated, "QUIC: a header field or the packet length past the datagram")             \
  X(quic_bad_cid, "QUIC: a connection id longer than 20 bytes")                                \
  X(quic_bad_tag, "QUIC: the Initial's authentication tag does not verify")                    \
  X(quic_reserved_bits, "QUIC: reserved header bits not 0")                                    \
  X(quic_bad_frame, "QUIC: a frame not allowed in an Initial, or cut short")                   \
  X(quic_bad_crypto_frame, "QUIC: a CRYPTO frame past the stream's 2^62 bytes")                \
  X(quic_crypto_failed, "QUIC: the crypto library failed (not the packet's fault)")

enum class HelloReason : uint8_t {
#define BULKHEAD_X(name, desc) name,
  BULKHEAD_HELLO_REASONS(BULKHEAD_X)
#undef BULKHEAD_X
      count
};

inline constexpr unsigned kHelloReasonCount = static_cast<unsigned>(HelloReason::count);

const char* hello_reason_name(HelloReason r) noexcept;
const char* hello_reason_description(HelloReason r) noexcept;
const char* hello_status_name(HelloStatus s) noexcept;

inline constexpr size_t kMaxHostName = 255;
inline constexpr uint16_t kExtServerName = 0x0000;
inline constexpr uint16_t kExtSupportedVersions = 0x002b;
inline constexpr uint16_t kExtEncryptedClientHello = 0xfe0d;

// What a ClientHello says. With ECH the name is the outer ClientHello's
// (the public name of the client-facing server), and ech is true.
struct ClientHello {
  HelloStatus status = HelloStatus::need_more;
  HelloReason reason = HelloReason::truncated;
  bool has_sni = false;             // a host_name was given
  bool ech = false;                 // an encrypted_client_hello extension is present
  uint16_t legacy_version = 0;      // ClientHello.legacy_version (0x0303 for TLS 1.2 and 1.3)
  uint16_t supported_version = 0;   // highest non-GREASE in supported_versions; 0 without it
  uint8_t sni_len = 0;
  // The host_name in lower case without a trailing dot; not NUL-terminated.
  char sni_buf[kMaxHostName];

  std::string_view sni() const noexcept { return {sni_buf, sni_len}; }
  bool decided() const noexcept { return status != HelloStatus::need_more; }
};

// Reads one handshake message that should be a ClientHello: `len` bytes
// starting at its 4-byte handshake header. Bytes past the message are not
// looked at. need_more (truncated) while the message is incomplete.
void parse_client_hello(const uint8_t* msg, size_t len, ClientHello& out) noexcept;

// The ClientHello of a TCP connection, from the client's payload bytes.
//
// Holds the first kClientHelloCapacity (16 KiB) bytes of the client's
// stream: the ClientHello and every record header before its last byte must
// lie within them. RFC 8446 caps a record at 2^14 bytes, and real
// ClientHellos (post-quantum key shares included) are 0.5 to 2 KiB, so a
// larger one is decided as too_large (no name) rather than held longer.
//
// About 18 KiB; one per connection under inspection, reused with reset().
class ClientHelloAssembler {
 public:
  static constexpr size_t kClientHelloCapacity = 16384;

  // Feeds payload bytes of the client's direction. `offset` is relative to
  // the first payload byte (the caller subtracts the initial sequence number
  // + 1, or the SYN's sequence number for TCP Fast Open data). Bytes already
  // held are ignored (the first copy counts); bytes after a gap are kept
  // until the gap is filled. Once decided, further feeds change nothing.
  // Returns the status after this feed.
  HelloStatus feed(uint64_t offset, const uint8_t* data, size_t len) noexcept;

  const ClientHello& hello() const noexcept { return hello_; }
  void reset() noexcept;

 private:
  void advance() noexcept;
  void decide(HelloStatus s, HelloReason r) noexcept {
    hello_.status = s;
    hello_.reason = r;
  }

  StreamPrefix<kClientHelloCapacity> stream_;
  // The records' handshake bytes are moved down to the start of the buffer
  // as they are read (hs_len_ <= read_): read_ is the next stream byte not
  // yet read, record_left_ what remains of the current record's body.
  size_t read_ = 0;
  size_t hs_len_ = 0;
  size_t record_left_ = 0;
  size_t message_len_ = 0;  // 4 + the ClientHello's length, once known
  bool first_record_ = true;
  ClientHello hello_;
};

}  // namespace bulkhead::dataplane::names
