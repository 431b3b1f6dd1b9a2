// The packet parser on arbitrary frames: it must never read outside the
// frame (AddressSanitizer sees every byte it touches: the input is copied
// into an allocation of exactly its size) and what it reports must be
// consistent with the frame it read.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "dataplane/connection.h"
#include "dataplane/packet.h"

using namespace bulkhead::dataplane;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65535) return -1;
  const auto len = static_cast<uint32_t>(size);
  std::unique_ptr<uint8_t[]> frame(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(frame.get(), data, size);
  PacketMeta m;
  parse_packet(frame.get(), len, m);
  if (m.kind == PacketKind::ip) {
    if (m.l3_offset >= len || m.l4_offset > len) std::abort();
    if (m.tuple.family != 4 && m.tuple.family != 6) std::abort();
    if (m.is_fragment && !m.first_fragment && (m.tuple.sport | m.tuple.dport) != 0) std::abort();
    const FlowTuple t = connection_tuple(m, frame.get(), len);
    ConnKey k;
    const uint8_t dir = make_conn_key(t, k);
    FlowTuple back;
    tuple_from_key(k, dir, back);
    if (std::memcmp(back.src, t.src, 16) != 0 || back.sport != t.sport) std::abort();
  } else if (m.kind == PacketKind::drop) {
    if (m.drop_reason >= DropReason::count) std::abort();
  }
  return 0;
}
