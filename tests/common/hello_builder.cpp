#include "tests/common/hello_builder.h"

#include <algorithm>

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

}  // namespace bulkhead::test
