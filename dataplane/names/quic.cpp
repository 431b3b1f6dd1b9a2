#include "dataplane/names/quic.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>

#include "dataplane/wire.h"

namespace bulkhead::dataplane::names {

namespace {

// RFC 9001 5.2 and RFC 9369 3.3.1.
constexpr uint8_t kSaltV1[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
constexpr uint8_t kSaltV2[20] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};
constexpr size_t kSecretLen = 32;  // SHA-256
constexpr size_t kTagLen = 16;
constexpr size_t kSampleLen = 16;
constexpr uint64_t kMaxStreamOffset = (uint64_t{1} << 62) - 1;

// Frame types an Initial packet may carry (RFC 9000 12.4, table 3).
constexpr uint64_t kFramePadding = 0x00;
constexpr uint64_t kFramePing = 0x01;
constexpr uint64_t kFrameAck = 0x02;
constexpr uint64_t kFrameAckEcn = 0x03;
constexpr uint64_t kFrameCrypto = 0x06;
constexpr uint64_t kFrameConnectionClose = 0x1c;


// RFC 9000 16: a variable-length integer at p[i], within n bytes.
bool varint(const uint8_t* p, size_t n, size_t& i, uint64_t& v) {
  if (i >= n) return false;
  const size_t len = size_t{1} << (p[i] >> 6);
  if (n - i < len) return false;
  v = p[i] & 0x3f;
  for (size_t k = 1; k < len; ++k) v = v << 8 | p[i + k];
  i += len;
  return true;
}

bool known_version(uint32_t v) { return v == kQuicV1 || v == kQuicV2; }

// Long header packet types differ between the versions (RFC 9369 3.2).
bool is_initial(uint32_t version, uint8_t first) {
  const unsigned type = (first >> 4) & 3;
  return version == kQuicV1 ? type == 0 : type == 1;
}
bool is_retry(uint32_t version, uint8_t first) {
  const unsigned type = (first >> 4) & 3;
  return version == kQuicV1 ? type == 3 : type == 0;
}

HelloStatus status_of(HelloReason r) {
  switch (r) {
    case HelloReason::quic_short_header:
    case HelloReason::quic_unknown_version:
    case HelloReason::quic_not_initial:
    case HelloReason::quic_fixed_bit:
    case HelloReason::quic_datagram_too_small:
      return HelloStatus::not_tls;
    default:
      return HelloStatus::malformed;
  }
}

// RFC 9000 A.3: the full packet number nearest the one expected next.
uint64_t decode_packet_number(int64_t largest, uint64_t truncated, unsigned bits) {
  const uint64_t expected = static_cast<uint64_t>(largest + 1);
  const uint64_t win = uint64_t{1} << bits;
  const uint64_t hwin = win / 2;
  const uint64_t candidate = (expected & ~(win - 1)) | truncated;
  if (candidate + hwin <= expected && candidate < (uint64_t{1} << 62) - win) return candidate + win;
  if (candidate > expected + hwin && candidate >= win) return candidate - win;
  return candidate;
}

// The part of a long header read before any decryption.
struct LongHeader {
  uint32_t version = 0;
  const uint8_t* dcid = nullptr;
  uint8_t dcid_len = 0;
  bool initial = false;
  size_t pn_offset = 0;  // from the packet's first byte
  size_t end = 0;        // one past the packet, from its first byte
};

// RFC 9000 17.2. Reads the header of the packet at p (n bytes left in the
// datagram).
HelloReason read_long_header(const uint8_t* p, size_t n, LongHeader& h) {
  if (n < 1 || (p[0] & 0x80) == 0) return HelloReason::quic_short_header;
  if (n < 6) return HelloReason::quic_truncated;
  h.version = wire::be32(p + 1);
  if (!known_version(h.version)) return HelloReason::quic_unknown_version;
  if ((p[0] & 0x40) == 0) return HelloReason::quic_fixed_bit;
  if (is_retry(h.version, p[0])) return HelloReason::quic_not_initial;  // no Length field: a server's packet
  size_t i = 5;
  h.dcid_len = p[i++];
  if (h.dcid_len > kQuicMaxCid) return HelloReason::quic_bad_cid;
  if (n - i < h.dcid_len + 1u) return HelloReason::quic_truncated;
  h.dcid = p + i;
  i += h.dcid_len;
  const size_t scid_len = p[i++];
  if (scid_len > kQuicMaxCid) return HelloReason::quic_bad_cid;
  if (n - i < scid_len) return HelloReason::quic_truncated;
  i += scid_len;
  h.initial = is_initial(h.version, p[0]);
  uint64_t v = 0;
  if (h.initial) {
    if (!varint(p, n, i, v) || n - i < v) return HelloReason::quic_truncated;
    i += static_cast<size_t>(v);
  }
  if (!varint(p, n, i, v) || n - i < v) return HelloReason::quic_truncated;
  h.pn_offset = i;
  h.end = i + static_cast<size_t>(v);
  return HelloReason::ok;
}

}  // namespace

void QuicHelloAssembler::reset() noexcept {
  crypto_.reset();
  hello_ = ClientHello{};
  have_keys_ = false;
  key_version_ = 0;
  key_cid_len_ = 0;
  largest_pn_ = -1;
}

// Reads the ClientHello once the CRYPTO stream holds all of it; O(1) until
// then, so that a ClientHello spread over many packets is read once.
void QuicHelloAssembler::check_hello() noexcept {
  const uint8_t* b = crypto_.data();
  const size_t avail = crypto_.contiguous();
  if (avail < 4) {
    if (avail >= 1 && b[0] != 1) parse_client_hello(b, avail, hello_);  // not a ClientHello: malformed
    return;
  }
  const size_t len = 4 + wire::be24(b + 1);
  if (len > kCryptoCapacity) return decide(HelloStatus::too_large, HelloReason::hello_too_large);
  if (avail >= len || b[0] != 1) parse_client_hello(b, std::min(avail, len), hello_);
}

QuicInitialReader::QuicInitialReader() noexcept {
  kdf_ = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  kdf_ctx_ = kdf_ ? EVP_KDF_CTX_new(kdf_) : nullptr;
  // The digest is set once: naming it with every derivation fetches it
  // again each time, a quarter of the cost of deriving a connection's keys
  // (about 7 us against 5 us here).
  char digest[] = "SHA256";
  const OSSL_PARAM set_digest[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  const bool have_digest = kdf_ctx_ && EVP_KDF_CTX_set_params(kdf_ctx_, set_digest) == 1;
  gcm_ = EVP_CIPHER_CTX_new();
  ecb_ = EVP_CIPHER_CTX_new();
  // The ciphers are chosen once here; each packet only sets a key and a
  // nonce (a NULL cipher keeps the chosen one, with no new fetch).
  ok_ = have_digest && gcm_ && ecb_ && EVP_DecryptInit_ex(gcm_, EVP_aes_128_gcm(), nullptr, nullptr, nullptr) == 1 &&
        EVP_EncryptInit_ex(ecb_, EVP_aes_128_ecb(), nullptr, nullptr, nullptr) == 1;
}

QuicInitialReader::~QuicInitialReader() {
  EVP_CIPHER_CTX_free(ecb_);
  EVP_CIPHER_CTX_free(gcm_);
  EVP_KDF_CTX_free(kdf_ctx_);
  EVP_KDF_free(kdf_);
}

// RFC 8446 7.1: HKDF-Expand-Label(secret, label, "", out_len) with SHA-256.
bool QuicInitialReader::expand_label(const uint8_t* secret, const char* label, uint8_t* out,
                                     size_t out_len) noexcept {
  uint8_t info[2 + 1 + 255 + 1];
  const size_t label_len = std::strlen(label);
  constexpr char kPrefix[] = "tls13 ";
  constexpr size_t kPrefixLen = sizeof kPrefix - 1;
  if (kPrefixLen + label_len > 255) return false;
  size_t i = 0;
  info[i++] = static_cast<uint8_t>(out_len >> 8);
  info[i++] = static_cast<uint8_t>(out_len);
  info[i++] = static_cast<uint8_t>(kPrefixLen + label_len);
  std::memcpy(info + i, kPrefix, kPrefixLen);
  i += kPrefixLen;
  std::memcpy(info + i, label, label_len);
  i += label_len;
  info[i++] = 0;  // empty context
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(secret), kSecretLen),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, i),
      OSSL_PARAM_construct_end(),
  };
  return EVP_KDF_derive(kdf_ctx_, out, out_len, params) == 1;
}

bool QuicInitialReader::derive_keys(uint32_t version, const uint8_t* dcid, size_t dcid_len, bool server,
                                    QuicInitialKeys& out) noexcept {
  if (!ok_ || !known_version(version) || dcid_len > kQuicMaxCid) return false;
  // HKDF-Extract(salt, cid). OpenSSL wants a key even when the connection
  // id is empty (a server may choose one after a Retry): point it at the
  // salt with a length of 0.
  int mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
  const uint8_t* salt = version == kQuicV1 ? kSaltV1 : kSaltV2;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(dcid_len ? dcid : salt), dcid_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt), sizeof kSaltV1),
      OSSL_PARAM_construct_end(),
  };
  uint8_t initial[kSecretLen], secret[kSecretLen];
  if (EVP_KDF_derive(kdf_ctx_, initial, sizeof initial, params) != 1) return false;
  if (!expand_label(initial, server ? "server in" : "client in", secret, sizeof secret)) return false;
  const bool v2 = version == kQuicV2;
  return expand_label(secret, v2 ? "quicv2 key" : "quic key", out.key, sizeof out.key) &&
         expand_label(secret, v2 ? "quicv2 iv" : "quic iv", out.iv, sizeof out.iv) &&
         expand_label(secret, v2 ? "quicv2 hp" : "quic hp", out.hp, sizeof out.hp);
}

bool QuicInitialReader::header_mask(const uint8_t hp[16], const uint8_t sample[16], uint8_t mask[16]) noexcept {
  int len = 0;
  return EVP_EncryptInit_ex(ecb_, nullptr, nullptr, hp, nullptr) == 1 && EVP_CIPHER_CTX_set_padding(ecb_, 0) == 1 &&
         EVP_EncryptUpdate(ecb_, mask, &len, sample, kSampleLen) == 1 && len == kSampleLen;
}

// RFC 9001 5.3 and 5.4: removes header protection and decrypts the packet
// [0, end) into plain_. The datagram itself is not modified: the unmasked
// first byte and packet number are given to the AEAD as they are computed.
HelloReason QuicInitialReader::open_initial(const uint8_t* p, size_t pn_offset, size_t end, QuicHelloAssembler& conn,
                                            size_t& plain_len) noexcept {
  // The sample starts 4 bytes after the packet number's start, whatever
  // its length, and a tag follows the payload.
  if (end - pn_offset < 4 + kSampleLen) return HelloReason::quic_truncated;
  uint8_t mask[16];
  if (!header_mask(conn.keys_.hp, p + pn_offset + 4, mask)) return HelloReason::quic_crypto_failed;
  const uint8_t first = static_cast<uint8_t>(p[0] ^ (mask[0] & 0x0f));
  const size_t pn_len = (first & 3) + 1;
  uint8_t pn_bytes[4];
  uint64_t truncated = 0;
  for (size_t k = 0; k < pn_len; ++k) {
    pn_bytes[k] = static_cast<uint8_t>(p[pn_offset + k] ^ mask[1 + k]);
    truncated = truncated << 8 | pn_bytes[k];
  }
  const uint64_t pn = decode_packet_number(conn.largest_pn_, truncated, static_cast<unsigned>(pn_len * 8));
  uint8_t nonce[12];
  std::memcpy(nonce, conn.keys_.iv, sizeof nonce);
  for (size_t k = 0; k < 8; ++k) nonce[4 + k] ^= static_cast<uint8_t>(pn >> (56 - 8 * k));

  const uint8_t* ct = p + pn_offset + pn_len;
  const size_t ct_len = end - pn_offset - pn_len - kTagLen;
  int len = 0, total = 0;
  if (EVP_DecryptInit_ex(gcm_, nullptr, nullptr, conn.keys_.key, nonce) != 1 ||
      EVP_DecryptUpdate(gcm_, nullptr, &len, &first, 1) != 1 ||
      EVP_DecryptUpdate(gcm_, nullptr, &len, p + 1, static_cast<int>(pn_offset - 1)) != 1 ||
      EVP_DecryptUpdate(gcm_, nullptr, &len, pn_bytes, static_cast<int>(pn_len)) != 1)
    return HelloReason::quic_crypto_failed;
  if (EVP_DecryptUpdate(gcm_, plain_, &len, ct, static_cast<int>(ct_len)) != 1) return HelloReason::quic_crypto_failed;
  total = len;
  if (EVP_CIPHER_CTX_ctrl(gcm_, EVP_CTRL_GCM_SET_TAG, kTagLen, const_cast<uint8_t*>(ct + ct_len)) != 1)
    return HelloReason::quic_crypto_failed;
  if (EVP_DecryptFinal_ex(gcm_, plain_ + total, &len) != 1) return HelloReason::quic_bad_tag;
  // RFC 9000 17.2: reserved bits are checked only once the packet is known
  // to be genuine.
  if ((first & 0x0c) != 0) return HelloReason::quic_reserved_bits;
  conn.largest_pn_ = std::max(conn.largest_pn_, static_cast<int64_t>(pn));
  plain_len = static_cast<size_t>(total + len);
  return HelloReason::ok;
}

// RFC 9000 19: the frames of an Initial packet. CRYPTO data goes to the
// assembler; PADDING, PING, ACK and CONNECTION_CLOSE are stepped over;
// anything else is not allowed in an Initial.
HelloReason QuicInitialReader::read_frames(const uint8_t* p, size_t n, QuicHelloAssembler& conn) noexcept {
  if (n == 0) return HelloReason::quic_bad_frame;  // a packet carries at least one frame
  size_t i = 0;
  uint64_t v = 0;
  while (i < n) {
    uint64_t type = 0;
    if (!varint(p, n, i, type)) return HelloReason::quic_bad_frame;
    switch (type) {
      case kFramePadding:
        while (i < n && p[i] == 0) ++i;
        break;
      case kFramePing:
        break;
      case kFrameAck:
      case kFrameAckEcn: {
        uint64_t ranges = 0;
        if (!varint(p, n, i, v) || !varint(p, n, i, v) || !varint(p, n, i, ranges) || !varint(p, n, i, v))
          return HelloReason::quic_bad_frame;
        // Each range takes at least two bytes, so this ends within n.
        for (uint64_t r = 0; r < ranges; ++r)
          if (!varint(p, n, i, v) || !varint(p, n, i, v)) return HelloReason::quic_bad_frame;
        if (type == kFrameAckEcn && (!varint(p, n, i, v) || !varint(p, n, i, v) || !varint(p, n, i, v)))
          return HelloReason::quic_bad_frame;
        break;
      }
      case kFrameCrypto: {
        uint64_t offset = 0, len = 0;
        if (!varint(p, n, i, offset) || !varint(p, n, i, len) || n - i < len) return HelloReason::quic_bad_frame;
        if (offset + len > kMaxStreamOffset) return HelloReason::quic_bad_crypto_frame;
        conn.crypto_.write(offset, p + i, static_cast<size_t>(len));
        i += static_cast<size_t>(len);
        break;
      }
      case kFrameConnectionClose: {
        uint64_t reason_len = 0;
        if (!varint(p, n, i, v) || !varint(p, n, i, v) || !varint(p, n, i, reason_len) || n - i < reason_len)
          return HelloReason::quic_bad_frame;
        i += static_cast<size_t>(reason_len);
        break;
      }
      default:
        return HelloReason::quic_bad_frame;
    }
  }
  return HelloReason::ok;
}

QuicRead QuicInitialReader::read(const uint8_t* d, size_t n, QuicHelloAssembler& conn) noexcept {
  QuicRead out;
  n = std::min(n, kQuicMaxDatagram);
  const auto refuse = [&out](HelloReason r) {
    out.status = status_of(r);
    out.reason = r;
    return out;
  };
  const auto connection = [&out, &conn] {
    out.status = conn.hello_.status;
    out.reason = conn.hello_.reason;
    return out;
  };
  size_t pos = 0;
  LongHeader first;
  for (unsigned k = 0; k < kQuicMaxPacketsPerDatagram && (k == 0 || pos < n); ++k) {
    LongHeader h;
    const HelloReason r = read_long_header(d + pos, n - pos, h);
    if (k == 0) {
      if (r != HelloReason::ok) return refuse(r);
      out.version = h.version;
      if (!h.initial) return refuse(HelloReason::quic_not_initial);
      if (n < kQuicMinInitialDatagram) return refuse(HelloReason::quic_datagram_too_small);
      if (!ok_) return refuse(HelloReason::quic_crypto_failed);
      if (conn.hello_.decided()) return connection();
      first = h;
    } else if (r != HelloReason::ok || h.version != first.version || h.dcid_len != first.dcid_len ||
               std::memcmp(h.dcid, first.dcid, h.dcid_len) != 0) {
      break;  // a short-header packet, padding, or a packet the server would ignore
    }
    const uint8_t* packet = d + pos;
    pos += h.end;
    if (!h.initial) continue;  // 0-RTT or Handshake: not ours to read

    if (!conn.have_keys_ || conn.key_version_ != h.version || conn.key_cid_len_ != h.dcid_len ||
        std::memcmp(conn.key_cid_, h.dcid, h.dcid_len) != 0) {
      QuicInitialKeys keys;
      if (!derive_keys(h.version, h.dcid, h.dcid_len, false, keys)) return refuse(HelloReason::quic_crypto_failed);
      conn.keys_ = keys;
      conn.have_keys_ = true;
      conn.key_version_ = h.version;
      conn.key_cid_len_ = h.dcid_len;
      std::memcpy(conn.key_cid_, h.dcid, h.dcid_len);
    }
    size_t plain_len = 0;
    HelloReason opened = open_initial(packet, h.pn_offset, h.end, conn, plain_len);
    if (opened != HelloReason::ok) {
      if (k == 0) return refuse(opened);
      break;
    }
    ++out.initials;
    const HelloReason framed = read_frames(plain_, plain_len, conn);
    if (framed != HelloReason::ok) {
      // A genuine Initial that breaks the rules: the server would close
      // the connection, so no name from it is trusted.
      conn.decide(status_of(framed), framed);
      return connection();
    }
    conn.check_hello();
    if (conn.hello_.decided()) break;
  }
  return connection();
}

}  // namespace bulkhead::dataplane::names
