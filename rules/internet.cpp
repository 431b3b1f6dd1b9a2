#include "rules/internet.h"

#include <array>

namespace bulkhead::rules {
namespace {

constexpr std::array kEverything = {"0.0.0.0/0", "::/0"};
constexpr std::array kNotInternet = {
    "0.0.0.0/8",          // this network (RFC 1122), the unspecified address among it
    "10.0.0.0/8",         // private (RFC 1918)
    "100.64.0.0/10",      // shared address space, carrier-grade NAT (RFC 6598)
    "127.0.0.0/8",        // loopback
    "169.254.0.0/16",     // link-local
    "172.16.0.0/12",      // private (RFC 1918)
    "192.168.0.0/16",     // private (RFC 1918)
    "224.0.0.0/4",        // multicast
    "255.255.255.255/32", // limited broadcast
    "::/128",             // unspecified
    "::1/128",            // loopback
    "fc00::/7",           // unique-local (RFC 4193)
    "fe80::/10",          // link-local
    "ff00::/8",           // multicast
};

std::vector<Prefix> prefixes(const auto& texts) {
  std::vector<Prefix> out;
  std::string error;
  for (const char* t : texts) out.push_back(*parse_prefix(t, error));
  return out;
}

}  // namespace

SegmentDef internet_segment() {
  SegmentDef s;
  s.name = std::string(kInternetSegment);
  s.cidrs = prefixes(kEverything);
  s.except = prefixes(kNotInternet);
  s.builtin = true;
  return s;
}

}  // namespace bulkhead::rules
