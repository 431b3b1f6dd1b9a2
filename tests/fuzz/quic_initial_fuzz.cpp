// The QUIC Initial reader on arbitrary datagrams, and on arbitrary frames
// inside genuine Initials: random bytes almost never pass the AEAD tag, so
// the second mode protects the input as a client would, to reach the frame
// reader, the CRYPTO stream and the ClientHello behind them.
//
// Input: one mode byte, then
//   even: a datagram, read as it is;
//   odd:  a version bit (mode & 2) and the rest cut into up to three
//         Initial packets' frames (at the next two 0xff 0xfe pairs), sent
//         in separate datagrams, the second one first.
// Nothing may crash or read outside the input; a name read is a DNS name;
// a refused datagram leaves the connection as it was.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/names/quic.h"
#include "tests/common/hello_builder.h"

using namespace bulkhead::dataplane::names;
using bulkhead::test::Bytes;

namespace {

void check(const QuicRead& r, const QuicHelloAssembler& conn, HelloStatus before) {
  if (static_cast<unsigned>(r.reason) >= kHelloReasonCount) std::abort();
  const ClientHello& h = conn.hello();
  if (r.initials == 0 && h.status != before) std::abort();  // nothing decrypted, nothing changed
  if (h.status != HelloStatus::complete && (h.has_sni || h.sni_len)) std::abort();
  for (char c : h.sni())
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto reader = std::make_unique<QuicInitialReader>();
  static auto conn = std::make_unique<QuicHelloAssembler>();
  if (!reader->ok()) std::abort();
  if (size < 1 || size > kQuicMaxDatagram) return -1;
  conn->reset();
  const uint8_t mode = data[0];
  ++data;
  --size;
  if (mode % 2 == 0) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
    if (size) std::memcpy(copy.get(), data, size);
    const HelloStatus before = conn->hello().status;
    check(reader->read(copy.get(), size, *conn), *conn, before);
    return 0;
  }
  std::vector<Bytes> frames(1);
  for (size_t i = 0; i < size; ++i) {
    if (i + 1 < size && data[i] == 0xff && data[i + 1] == 0xfe && frames.size() < 3) {
      frames.emplace_back();
      ++i;
      continue;
    }
    frames.back().push_back(data[i]);
  }
  if (frames.size() > 1) std::swap(frames[0], frames[1]);
  uint32_t pn = 0;
  for (const Bytes& f : frames) {
    if (f.size() > 4000) return 0;
    const Bytes d = bulkhead::test::protect_initial(
        {.version = mode & 2 ? kQuicV2 : kQuicV1, .packet_number = pn++, .frames = f});
    const HelloStatus before = conn->hello().status;
    const QuicRead r = reader->read(d.data(), d.size(), *conn);
    check(r, *conn, before);
    if (!conn->hello().decided() && r.initials != 1) std::abort();  // a genuine Initial is always read
  }
  return 0;
}
