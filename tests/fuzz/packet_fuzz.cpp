// The packet parser on arbitrary frames: it must never read outside the
// frame (AddressSanitizer sees every byte it touches: the input is copied
// into an allocation of exactly its size) and what it reports must be
// consistent with the frame it read; the fast reading of the common packet
// must give what the general parser gives.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "dataplane/connection.h"
#include "dataplane/packet.h"
#include "dataplane/wire.h"

using namespace bulkhead::dataplane;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65535) return -1;
  const auto len = static_cast<uint32_t>(size);
  std::unique_ptr<uint8_t[]> frame(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(frame.get(), data, size);
  PacketMeta m{}, general{};
  parse_packet(frame.get(), len, m);
  // The fast reading of the common packet is the general parser's, read as
  // a frame and as a tunnel's IPv4 packet.
  parse_any_packet(frame.get(), len, general);
  if (!(m == general)) std::abort();
  PacketMeta ip{}, ip_general{};
  parse_ip_packet(frame.get(), len, wire::kEthIpv4, ip);
  parse_any_ip_packet(frame.get(), len, wire::kEthIpv4, ip_general);
  if (!(ip == ip_general)) std::abort();
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
