#include "tests/common/hello_builder.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <stdexcept>

namespace bulkhead::test {

namespace {

void put16(Bytes& b, size_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put24(Bytes& b, size_t v) {
  b.push_back(static_cast<uint8_t>(v >> 16));
  put16(b, v);
}
void put_varint(Bytes& b, uint64_t v) {
  if (v < 64) {
    b.push_back(static_cast<uint8_t>(v));
  } else if (v < 16384) {
    put16(b, 0x4000 | v);
  } else if (v < (uint64_t{1} << 30)) {
    put16(b, 0x8000 | (v >> 16));
    put16(b, v & 0xffff);
  } else {
    for (int s = 56; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>((s == 56 ? 0xc0 : 0) | (v >> s)));
  }
}
void extension(Bytes& b, uint16_t type, const Bytes& data) {
  put16(b, type);
  put16(b, data.size());
  b.insert(b.end(), data.begin(), data.end());
}

}  // namespace

Bytes build_client_hello(const HelloSpec& spec) {
  Bytes body;
  put16(body, 0x0303);
  for (int i = 0; i < 32; ++i) body.push_back(static_cast<uint8_t>(i * 7));  // random
  body.push_back(32);
  for (int i = 0; i < 32; ++i) body.push_back(static_cast<uint8_t>(0xa0 + i));  // session id
  const uint16_t suites[] = {0x1301, 0x1302, 0x1303, 0xc02b};
  put16(body, sizeof suites);
  for (uint16_t s : suites) put16(body, s);
  body.push_back(1);
  body.push_back(0);
  if (!spec.no_extensions) {
    Bytes ext;
    if (spec.sni) {
      Bytes sn;
      put16(sn, spec.sni->size() + 3);
      sn.push_back(0);
      put16(sn, spec.sni->size());
      sn.insert(sn.end(), spec.sni->begin(), spec.sni->end());
      extension(ext, 0x0000, sn);
    }
    extension(ext, 0x000a, {0x00, 0x04, 0x00, 0x1d, 0x00, 0x17});  // supported_groups
    if (!spec.versions.empty()) {
      Bytes v;
      v.push_back(static_cast<uint8_t>(spec.versions.size() * 2));
      for (uint16_t x : spec.versions) put16(v, x);
      extension(ext, 0x002b, v);
    }
    if (spec.ech) extension(ext, 0xfe0d, Bytes(90, 0x5a));
    if (spec.padding) extension(ext, 0x0015, Bytes(spec.padding, 0));
    for (const auto& [type, data] : spec.extra) extension(ext, type, data);
    put16(body, ext.size());
    body.insert(body.end(), ext.begin(), ext.end());
  }
  Bytes msg = {1};
  put24(msg, body.size());
  msg.insert(msg.end(), body.begin(), body.end());
  return msg;
}

Bytes tls_records(const Bytes& message, size_t fragment) {
  Bytes out;
  for (size_t i = 0; i < message.size(); i += fragment) {
    const size_t n = std::min(fragment, message.size() - i);
    out.insert(out.end(), {22, 3, 1});
    put16(out, n);
    out.insert(out.end(), message.begin() + static_cast<long>(i), message.begin() + static_cast<long>(i + n));
  }
  return out;
}

Bytes crypto_frame(const Bytes& data, size_t from, size_t len) {
  len = std::min(len, data.size() - from);
  Bytes f = {0x06};
  put_varint(f, from);
  put_varint(f, len);
  f.insert(f.end(), data.begin() + static_cast<long>(from), data.begin() + static_cast<long>(from + len));
  return f;
}

Bytes protect_initial(const InitialSpec& spec) {
  using namespace dataplane::names;
  static const auto reader = std::make_unique<QuicInitialReader>();
  QuicInitialKeys keys;
  if (!reader->derive_keys(spec.version, spec.dcid.data(), spec.dcid.size(), false, keys))
    throw std::runtime_error("no Initial keys");
  const bool v1 = spec.version == kQuicV1;
  const unsigned type = spec.zero_rtt ? (v1 ? 1 : 2) : (v1 ? 0 : 1);
  Bytes h = {static_cast<uint8_t>(0xc0 | type << 4 | 3)};  // 4-byte packet number
  for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<uint8_t>(spec.version >> s));
  h.push_back(static_cast<uint8_t>(spec.dcid.size()));
  h.insert(h.end(), spec.dcid.begin(), spec.dcid.end());
  h.push_back(static_cast<uint8_t>(spec.scid.size()));
  h.insert(h.end(), spec.scid.begin(), spec.scid.end());
  if (!spec.zero_rtt) h.push_back(0);  // no token
  Bytes payload = spec.frames;
  // Header, 2-byte Length, 4-byte packet number, payload, 16-byte tag.
  const size_t fixed = h.size() + 2 + 4 + 16;
  if (fixed + payload.size() < spec.pad_to) payload.resize(spec.pad_to - fixed, 0);
  put16(h, 0x4000 | (4 + payload.size() + 16));
  const size_t pn_offset = h.size();
  for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<uint8_t>(spec.packet_number >> s));

  uint8_t nonce[12];
  std::copy(keys.iv, keys.iv + 12, nonce);
  for (int k = 0; k < 4; ++k) nonce[8 + k] ^= static_cast<uint8_t>(spec.packet_number >> (24 - 8 * k));
  Bytes out = h;
  out.resize(h.size() + payload.size() + 16);
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, keys.key, nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, h.data(), static_cast<int>(h.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data() + h.size(), &len, payload.data(), static_cast<int>(payload.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + h.size() + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, out.data() + h.size() + payload.size()) != 1)
    throw std::runtime_error("AES-GCM failed");
  uint8_t mask[16];
  if (!reader->header_mask(keys.hp, out.data() + pn_offset + 4, mask)) throw std::runtime_error("AES-ECB failed");
  out[0] ^= mask[0] & 0x0f;
  for (int k = 0; k < 4; ++k) out[pn_offset + k] ^= mask[1 + k];
  return out;
}

Bytes hex_bytes(const std::string& hex) {
  Bytes out;
  int hi = -1;
  for (char c : hex) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    const int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

}  // namespace bulkhead::test
