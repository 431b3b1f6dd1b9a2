// Reading the ClientHello a QUIC client sends in its Initial packets
// (QUIC version 1, RFC 9000/9001, and version 2, RFC 9369), to hand it to
// the TLS reader (dataplane/names/tls.h).
//
// Initial packets are encrypted with keys anyone can derive from the
// packet's Destination Connection ID and the version's salt: the reader
// derives them (HKDF), removes header protection (AES-128-ECB on a sample)
// and decrypts the payload (AES-128-GCM), all with OpenSSL's libcrypto. It
// then collects the CRYPTO frames' bytes, in any order and across several
// Initials, and reads the ClientHello once it is whole.
//
// Two objects:
//  - QuicInitialReader: one per thread. It owns the OpenSSL contexts and a
//    64 KiB buffer for one packet's plaintext; not thread-safe.
//  - QuicHelloAssembler: one per QUIC connection under inspection (the
//    caller keys it, by addresses and ports or by the client's first
//    Destination Connection ID). It holds the first 16 KiB of the CRYPTO
//    stream and the keys derived for it; about 18 KiB.
//
// Bounds: a datagram is read up to kQuicMaxDatagram bytes and at most
// kQuicMaxPacketsPerDatagram coalesced packets; packets after the first
// with another version or Destination Connection ID are ignored (RFC 9000
// 12.2). The work per datagram is linear in its size, and key derivation
// happens once per connection (again only when the client's Destination
// Connection ID changes, after a Retry). Crypto bytes at stream offsets
// past the capacity are not kept: a ClientHello that does not fit is
// decided too_large. No allocation here; OpenSSL allocates when the keys
// of a new connection are derived.
#pragma once

#include <cstddef>
#include <cstdint>

#include <openssl/types.h>

#include "dataplane/names/stream_prefix.h"
#include "dataplane/names/tls.h"

namespace bulkhead::dataplane::names {

inline constexpr uint32_t kQuicV1 = 0x00000001;
inline constexpr uint32_t kQuicV2 = 0x6b3343cf;
inline constexpr size_t kQuicMaxCid = 20;
// RFC 9000 14.1: a server drops a client's Initial in a smaller datagram.
inline constexpr size_t kQuicMinInitialDatagram = 1200;
inline constexpr size_t kQuicMaxDatagram = 65535;
inline constexpr unsigned kQuicMaxPacketsPerDatagram = 8;

// The keys that protect one side's Initial packets.
struct QuicInitialKeys {
  uint8_t key[16];
  uint8_t iv[12];
  uint8_t hp[16];
};

// The outcome of one datagram. When the datagram could not be read (not
// QUIC, another version, not an Initial, a bad tag: status not_tls or
// malformed with a quic_* reason), the connection's assembler is unchanged
// and its own hello() still says where the connection stands. Otherwise
// status and reason are the connection's after this datagram.
struct QuicRead {
  HelloStatus status = HelloStatus::not_tls;
  HelloReason reason = HelloReason::quic_short_header;
  uint32_t version = 0;        // of the first packet, when it had a long header
  uint8_t initials = 0;        // Initial packets decrypted from this datagram
};

class QuicHelloAssembler {
 public:
  static constexpr size_t kCryptoCapacity = 16384;

  // The connection's ClientHello so far; decided() once read or refused.
  const ClientHello& hello() const noexcept { return hello_; }
  void reset() noexcept;

 private:
  friend class QuicInitialReader;
  void decide(HelloStatus s, HelloReason r) noexcept {
    hello_.status = s;
    hello_.reason = r;
  }
  void check_hello() noexcept;

  StreamPrefix<kCryptoCapacity> crypto_;
  ClientHello hello_;
  // Keys for the client's packets under this version and Destination
  // Connection ID, derived once.
  bool have_keys_ = false;
  uint32_t key_version_ = 0;
  uint8_t key_cid_len_ = 0;
  uint8_t key_cid_[kQuicMaxCid] = {};
  QuicInitialKeys keys_{};
  int64_t largest_pn_ = -1;  // largest packet number decrypted, for decoding the next
};

class QuicInitialReader {
 public:
  QuicInitialReader() noexcept;
  ~QuicInitialReader();
  QuicInitialReader(const QuicInitialReader&) = delete;
  QuicInitialReader& operator=(const QuicInitialReader&) = delete;

  // False when OpenSSL could not provide HKDF, AES-128-ECB or AES-128-GCM.
  bool ok() const noexcept { return ok_; }

  // Reads one UDP datagram the client sent (its payload) into the
  // connection's assembler.
  QuicRead read(const uint8_t* datagram, size_t len, QuicHelloAssembler& conn) noexcept;

  // The Initial keys of the client (or the server) for a Destination
  // Connection ID of at most 20 bytes. False for an unknown version or when
  // OpenSSL fails.
  bool derive_keys(uint32_t version, const uint8_t* dcid, size_t dcid_len, bool server,
                   QuicInitialKeys& out) noexcept;

  // AES-128-ECB of one 16-byte sample under a header protection key.
  bool header_mask(const uint8_t hp[16], const uint8_t sample[16], uint8_t mask[16]) noexcept;

 private:
  bool expand_label(const uint8_t* secret, const char* label, uint8_t* out, size_t out_len) noexcept;
  HelloReason open_initial(const uint8_t* packet, size_t pn_offset, size_t end, QuicHelloAssembler& conn,
                           size_t& plain_len) noexcept;
  HelloReason read_frames(const uint8_t* p, size_t n, QuicHelloAssembler& conn) noexcept;

  bool ok_ = false;
  EVP_KDF* kdf_ = nullptr;
  EVP_KDF_CTX* kdf_ctx_ = nullptr;
  EVP_CIPHER_CTX* gcm_ = nullptr;
  EVP_CIPHER_CTX* ecb_ = nullptr;
  uint8_t plain_[kQuicMaxDatagram];
};

}  // namespace bulkhead::dataplane::names
