#include "dataplane/names/tls.h"

#include <algorithm>
#include <cstring>

#include "dataplane/wire.h"

namespace bulkhead::dataplane::names {

namespace {

constexpr uint8_t kContentHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
constexpr size_t kMaxRecord = 16384;  // RFC 8446 5.1: 2^14 bytes of plaintext
constexpr size_t kRandomEnd = 2 + 32;  // legacy_version, random
constexpr size_t kMaxSessionId = 32;
constexpr size_t kMaxDnsName = 253;  // 255 octets on the wire, less the root and the first length
constexpr size_t kMaxLabel = 63;

// RFC 8701: GREASE values are 0x?a?a with both bytes equal.
bool grease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

// A host_name as a policy compares it: a DNS name of letters, digits, '-'
// and '_' (underscore labels do occur), in lower case, without the trailing
// dot, no empty label, labels of at most 63 and the name of at most 253
// bytes. Anything else (an escape, a space, a '*', UTF-8) is refused rather
// than guessed at: a policy could otherwise be matched by a name no DNS
// server would answer for.
bool copy_host_name(const uint8_t* name, size_t len, ClientHello& out) {
  if (len > 0 && name[len - 1] == '.') --len;
  if (len == 0 || len > kMaxDnsName) return false;
  size_t label = 0;
  for (size_t i = 0; i < len; ++i) {
    uint8_t c = name[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else {
      if (c >= 'A' && c <= 'Z') c = static_cast<uint8_t>(c - 'A' + 'a');
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok || ++label > kMaxLabel) return false;
    }
    out.sni_buf[i] = static_cast<char>(c);
  }
  if (label == 0) return false;
  out.sni_len = static_cast<uint8_t>(len);
  return true;
}

// RFC 6066 3: a ServerNameList. Like the usual servers, exactly one entry of
// type host_name is accepted: a second name, or a name type that nobody
// defined, leaves it open which name the server would use.
HelloReason read_server_name(const uint8_t* d, size_t n, ClientHello& out) {
  if (n < 2 || wire::be16(d) != n - 2) return HelloReason::bad_server_name;
  if (n < 5 || d[2] != 0) return HelloReason::bad_server_name;
  const size_t name_len = wire::be16(d + 3);
  if (5 + name_len != n) return HelloReason::bad_server_name;
  if (!copy_host_name(d + 5, name_len, out)) return HelloReason::bad_host_name;
  out.has_sni = true;
  return HelloReason::ok;
}

// RFC 8446 4.2.1: the versions the client offers, one byte of length.
HelloReason read_supported_versions(const uint8_t* d, size_t n, ClientHello& out) {
  if (n < 1 || d[0] != n - 1 || d[0] == 0 || d[0] % 2 != 0) return HelloReason::bad_supported_versions;
  for (size_t i = 1; i < n; i += 2) {
    const uint16_t v = wire::be16(d + i);
    if (!grease(v)) out.supported_version = std::max(out.supported_version, v);
  }
  return HelloReason::ok;
}

HelloReason read_extensions(const uint8_t* p, size_t n, ClientHello& out) {
  // Two extensions of one type are refused by RFC 8446 4.2; checked for the
  // ones read here, where a parser and the server could read different ones.
  bool seen_sni = false, seen_versions = false;
  size_t i = 0;
  while (i < n) {
    if (n - i < 4) return HelloReason::bad_extensions;
    const uint16_t type = wire::be16(p + i);
    const size_t len = wire::be16(p + i + 2);
    if (n - i - 4 < len) return HelloReason::bad_extensions;
    const uint8_t* d = p + i + 4;
    HelloReason r = HelloReason::ok;
    switch (type) {
      case kExtServerName:
        if (seen_sni) return HelloReason::duplicate_extension;
        seen_sni = true;
        r = read_server_name(d, len, out);
        break;
      case kExtSupportedVersions:
        if (seen_versions) return HelloReason::duplicate_extension;
        seen_versions = true;
        r = read_supported_versions(d, len, out);
        break;
      case kExtEncryptedClientHello:
        if (out.ech) return HelloReason::duplicate_extension;
        out.ech = true;
        break;
      default:
        break;
    }
    if (r != HelloReason::ok) return r;
    i += 4 + len;
  }
  return HelloReason::ok;
}

// RFC 8446 4.1.2 (and RFC 5246 7.4.1.2, whose extensions are optional).
HelloReason read_body(const uint8_t* b, size_t n, ClientHello& out) {
  if (n < kRandomEnd) return HelloReason::hello_too_short;
  out.legacy_version = wire::be16(b);
  size_t i = kRandomEnd;
  if (n - i < 1) return HelloReason::bad_session_id;
  const size_t sid = b[i];
  if (sid > kMaxSessionId || n - i - 1 < sid) return HelloReason::bad_session_id;
  i += 1 + sid;
  if (n - i < 2) return HelloReason::bad_cipher_suites;
  const size_t suites = wire::be16(b + i);
  if (suites == 0 || suites % 2 != 0 || n - i - 2 < suites) return HelloReason::bad_cipher_suites;
  i += 2 + suites;
  if (n - i < 1) return HelloReason::bad_compression;
  const size_t methods = b[i];
  if (methods == 0 || n - i - 1 < methods) return HelloReason::bad_compression;
  i += 1 + methods;
  if (i == n) return HelloReason::ok;  // no extensions (before TLS 1.3): no name
  if (n - i < 2) return HelloReason::bad_extensions;
  const size_t ext = wire::be16(b + i);
  if (n - i - 2 < ext) return HelloReason::bad_extensions;
  if (n - i - 2 > ext) return HelloReason::trailing_bytes;
  return read_extensions(b + i + 2, ext, out);
}

}  // namespace

const char* hello_reason_name(HelloReason r) noexcept {
  static constexpr const char* kNames[] = {
#define BULKHEAD_X(name, desc) #name,
      BULKHEAD_HELLO_REASONS(BULKHEAD_X)
#undef BULKHEAD_X
  };
  const auto i = static_cast<unsigned>(r);
  return i < kHelloReasonCount ? kNames[i] : "unknown";
}

const char* hello_reason_description(HelloReason r) noexcept {
  static constexpr const char* kDescriptions[] = {
#define BULKHEAD_X(name, desc) desc,
      BULKHEAD_HELLO_REASONS(BULKHEAD_X)
#undef BULKHEAD_X
  };
  const auto i = static_cast<unsigned>(r);
  return i < kHelloReasonCount ? kDescriptions[i] : "unknown";
}

const char* hello_status_name(HelloStatus s) noexcept {
  switch (s) {
    case HelloStatus::complete: return "complete";
    case HelloStatus::need_more: return "need_more";
    case HelloStatus::not_tls: return "not_tls";
    case HelloStatus::malformed: return "malformed";
    case HelloStatus::too_large: return "too_large";
  }
  return "unknown";
}

void parse_client_hello(const uint8_t* msg, size_t len, ClientHello& out) noexcept {
  out = ClientHello{};
  if (len >= 1 && msg[0] != kHandshakeClientHello) {
    out.status = HelloStatus::malformed;
    out.reason = HelloReason::not_client_hello;
    return;
  }
  if (len < 4 || len - 4 < wire::be24(msg + 1)) return;  // need_more, truncated
  const HelloReason r = read_body(msg + 4, wire::be24(msg + 1), out);
  if (r == HelloReason::ok) {
    out.status = HelloStatus::complete;
    out.reason = HelloReason::ok;
    return;
  }
  // Nothing read from a malformed ClientHello is kept.
  out = ClientHello{};
  out.status = HelloStatus::malformed;
  out.reason = r;
}

HelloStatus ClientHelloAssembler::feed(uint64_t offset, const uint8_t* data, size_t len) noexcept {
  if (hello_.decided()) return hello_.status;
  stream_.write(offset, data, len);
  advance();
  return hello_.status;
}

// Reads the newly joined bytes: record headers are checked and dropped, the
// records' contents moved down to form the handshake message, which is read
// once whole. Every byte is read and moved at most once.
void ClientHelloAssembler::advance() noexcept {
  uint8_t* b = stream_.data();
  const size_t avail = stream_.contiguous();
  while (!hello_.decided()) {
    if (record_left_ == 0) {
      // A stream whose first byte is not a handshake record is not TLS; say
      // so at once rather than wait for a whole record header.
      if (first_record_ && read_ < avail && b[read_] != kContentHandshake)
        return decide(HelloStatus::not_tls, HelloReason::not_handshake);
      if (avail - read_ < 5) break;
      const uint8_t* h = b + read_;
      if (h[0] != kContentHandshake) return decide(HelloStatus::malformed, HelloReason::interleaved_record);
      if (h[1] != 3)
        return decide(first_record_ ? HelloStatus::not_tls : HelloStatus::malformed,
                      HelloReason::bad_record_version);
      const size_t len = wire::be16(h + 3);
      if (len == 0) return decide(HelloStatus::malformed, HelloReason::empty_record);
      if (len > kMaxRecord) return decide(HelloStatus::malformed, HelloReason::record_too_long);
      record_left_ = len;
      read_ += 5;
      first_record_ = false;
      continue;
    }
    const size_t n = std::min(record_left_, avail - read_);
    if (n == 0) break;
    std::memmove(b + hs_len_, b + read_, n);
    hs_len_ += n;
    read_ += n;
    record_left_ -= n;
    if (message_len_ == 0 && hs_len_ >= 4) {
      if (b[0] != kHandshakeClientHello) return decide(HelloStatus::malformed, HelloReason::not_client_hello);
      message_len_ = 4 + wire::be24(b + 1);
      if (message_len_ > kClientHelloCapacity) return decide(HelloStatus::too_large, HelloReason::hello_too_large);
    }
    if (message_len_ != 0 && hs_len_ >= message_len_) {
      parse_client_hello(b, message_len_, hello_);
      return;
    }
  }
  // Every held byte is read: with the buffer full, the rest can never come.
  if (!hello_.decided() && stream_.full()) decide(HelloStatus::too_large, HelloReason::hello_too_large);
}

void ClientHelloAssembler::reset() noexcept {
  stream_.reset();
  read_ = hs_len_ = record_left_ = message_len_ = 0;
  first_record_ = true;
  hello_ = ClientHello{};
}

}  // namespace bulkhead::dataplane::names
