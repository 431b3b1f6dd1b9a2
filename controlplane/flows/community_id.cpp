#include "controlplane/flows/community_id.h"

#include <openssl/evp.h>

#include <cstring>
#include <utility>

#include "common/protocols.h"

namespace bulkhead::controlplane::flows {
namespace {

// The counterpart of an ICMP request or reply type, or -1 (the spec's table).
int icmp_counterpart(uint8_t protocol, uint16_t type) {
  static constexpr std::pair<uint8_t, uint8_t> kV4[] = {{8, 0}, {13, 14}, {15, 16}, {10, 9}, {17, 18}};
  static constexpr std::pair<uint8_t, uint8_t> kV6[] = {{128, 129}, {133, 134}, {135, 136},
                                                        {130, 131}, {139, 140}, {144, 145}};
  const auto find = [type](const auto& table) {
    for (const auto& [a, b] : table) {
      if (type == a) return static_cast<int>(b);
      if (type == b) return static_cast<int>(a);
    }
    return -1;
  };
  return protocol == common::kProtoIcmp ? find(kV4) : find(kV6);
}

void put16(unsigned char*& p, uint16_t v) {
  *p++ = static_cast<unsigned char>(v >> 8);
  *p++ = static_cast<unsigned char>(v);
}

}  // namespace

std::string community_id(const std::string& src, const std::string& dst, uint8_t protocol, uint16_t src_port,
                         uint16_t dst_port, uint16_t seed) {
  if (src.size() != dst.size() || (src.size() != 4 && src.size() != 16)) return "";
  const bool ports = common::has_ports(protocol) || common::is_icmp(protocol);
  std::string a = src, b = dst;
  uint16_t pa = src_port, pb = dst_port;
  bool one_way = false;
  if (common::is_icmp(protocol)) {
    const int other = icmp_counterpart(protocol, src_port);
    if (other >= 0) pb = static_cast<uint16_t>(other);
    else one_way = true;  // type and code as they are
  }
  // Both directions hash alike: the smaller endpoint (address, then port) first.
  const int order = std::memcmp(a.data(), b.data(), a.size());
  if (!one_way && (order > 0 || (order == 0 && ports && pa > pb))) {
    std::swap(a, b);
    std::swap(pa, pb);
  }
  unsigned char buf[2 + 16 + 16 + 2 + 4];
  unsigned char* p = buf;
  put16(p, seed);
  std::memcpy(p, a.data(), a.size());
  p += a.size();
  std::memcpy(p, b.data(), b.size());
  p += b.size();
  *p++ = protocol;
  *p++ = 0;  // padding
  if (ports) {
    put16(p, pa);
    put16(p, pb);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(buf, static_cast<size_t>(p - buf), digest, &len, EVP_sha1(), nullptr) != 1) return "";
  unsigned char text[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(text, digest, static_cast<int>(len));
  return "1:" + std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(n));
}

}  // namespace bulkhead::controlplane::flows
