// DNS messages from a resolver the policy trusts, and TCP streams of them:
// whatever the bytes, the reader stays inside the message, and an address it
// reports belongs to a name of the question's chain.
#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/names/dns.h"

using namespace bulkhead::dataplane::names;

namespace {

void check(std::span<const uint8_t> bytes) {
  static DnsMessage msg;
  DnsError e = parse_dns(bytes, msg);
  (void)dns_error_name(e);
  if (e != DnsError::none) return;
  if (msg.chain_len == 0 || msg.chain_len > kMaxChain || msg.address_count > kMaxAddresses) __builtin_trap();
  for (const DnsAddress& a : msg.address_list()) {
    if (a.owner >= msg.chain_len || a.ttl > kMaxTtl || (a.family != 4 && a.family != 6)) __builtin_trap();
  }
  for (unsigned i = 0; i < msg.chain_len; ++i) {
    if (msg.chain[i].len > kMaxNameText) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  check(bytes);
  // The same bytes as a TCP stream, cut where the first byte says.
  static DnsStream stream;
  stream = DnsStream{};
  std::size_t cut = size ? 1 + data[0] % 64 : 1;
  for (std::size_t at = 0; at < size; at += cut) {
    stream.feed(bytes.subspan(at, std::min(cut, size - at)), [](std::span<const uint8_t> m) { check(m); });
  }
  return 0;
}
