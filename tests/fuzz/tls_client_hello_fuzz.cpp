// The ClientHello reader on arbitrary client streams: it never reads
// outside what it is given, a name it reports is a lower-case DNS name, and
// the stream fed in pieces (of a size and in an order taken from the input)
// is decided exactly as the stream fed whole: segmentation, reordering and
// duplicates cannot change what the reader sees.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/names/tls.h"

using namespace bulkhead::dataplane::names;

namespace {

void check_name(const ClientHello& h) {
  if (h.status != HelloStatus::complete) {
    if (h.has_sni || h.ech || h.sni_len != 0) std::abort();
    return;
  }
  if (h.has_sni != (h.sni_len > 0)) std::abort();
  const std::string_view n = h.sni();
  if (n.size() > 253 || (!n.empty() && (n.front() == '.' || n.back() == '.'))) std::abort();
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) std::abort();
}

bool same(const ClientHello& a, const ClientHello& b) {
  return a.status == b.status && a.reason == b.reason && a.has_sni == b.has_sni && a.ech == b.ech &&
         a.sni() == b.sni() && a.supported_version == b.supported_version && a.legacy_version == b.legacy_version;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Exactly-sized copies, so that AddressSanitizer sees a read past the end.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(copy.get(), data, size);

  // The input as a bare handshake message (QUIC's way).
  ClientHello bare;
  parse_client_hello(copy.get(), size, bare);
  check_name(bare);

  // As a TCP stream, whole.
  static auto whole = std::make_unique<ClientHelloAssembler>();
  whole->reset();
  whole->feed(0, copy.get(), size);
  check_name(whole->hello());

  // In pieces: sizes from the first byte, every other piece sent twice,
  // the pieces in reverse order when the length is odd.
  static auto pieces = std::make_unique<ClientHelloAssembler>();
  pieces->reset();
  const size_t step = size ? 1 + data[0] % 37 : 1;
  std::vector<size_t> starts;
  for (size_t i = 0; i < size; i += step) starts.push_back(i);
  if (size % 2) std::reverse(starts.begin(), starts.end());
  for (size_t k = 0; k < starts.size(); ++k) {
    const size_t n = std::min(step, size - starts[k]);
    pieces->feed(starts[k], copy.get() + starts[k], n);
    if (k % 2) pieces->feed(starts[k], copy.get() + starts[k], n);
  }
  if (!same(whole->hello(), pieces->hello())) std::abort();
  return 0;
}
