// The one-armed insertion's outer-header reader (and the health-check
// answers) on arbitrary frames, under each insertion and GENEVE profile: it must never read outside the frame
// (the input is copied into an allocation of exactly its size), a tunnel's
// inner packet must lie inside the frame and parse without reading past it,
// and an echo read back with the addresses the other way round must carry
// the same tunnel header and options (VXLAN: the other tunnel's VNI). The
// reading at once of AWS's usual frame must agree with the general reader.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "dataplane/insertion/encap.h"
#include "dataplane/insertion/health.h"
#include "dataplane/packet.h"

using namespace bulkhead::dataplane;
using namespace bulkhead::dataplane::insertion;

namespace {

void check(const uint8_t* data, uint32_t len, const OuterConfig& cfg) {
  std::unique_ptr<uint8_t[]> frame(new uint8_t[len ? len : 1]);
  if (len) std::memcpy(frame.get(), data, len);
  Encap e;
  read_outer(frame.get(), len, cfg, e);
  if (e.kind == Outer::drop && e.drop_reason >= DropReason::count) std::abort();
  // The reading at once of AWS's frame takes only what the general reader
  // reads as a tunnel, and reads it alike.
  Encap general;
  read_any_outer(frame.get(), len, cfg, general);
  if (general.kind != e.kind || (e.kind == Outer::tunnel && !(general == e))) std::abort();
  if (e.kind == Outer::health) {
    // The answer is written in place, in an allocation of exactly the
    // capacity it is given.
    const uint32_t capacity = len + 128;
    std::unique_ptr<uint8_t[]> room(new uint8_t[capacity]);
    std::memcpy(room.get(), frame.get(), len);
    uint32_t answer_len = len;
    if (answer_health(room.get(), answer_len, capacity, e, cfg, true) == HealthAnswer::answered &&
        (answer_len > capacity || answer_len < 60))
      std::abort();
    return;
  }
  if (e.kind != Outer::tunnel) return;
  if (uint32_t{e.inner_offset} + e.inner_length > len) std::abort();
  if (e.unknown_options > e.options) std::abort();
  if (cfg.insertion == Insertion::vxlan) {
    PacketMeta m;
    parse_packet(frame.get() + e.inner_offset, e.inner_length, m);
  }
  // The echo, read as the load balancer would send it back again.
  echo(frame.get(), e, cfg);
  OuterConfig back = cfg;
  std::memcpy(back.address, frame.get() + e.outer_l3 + 16, 4);
  if (cfg.insertion == Insertion::vxlan) std::swap(back.vxlan[0], back.vxlan[1]);
  Encap again;
  read_outer(frame.get(), len, back, again);
  const uint32_t vni = cfg.insertion == Insertion::vxlan ? cfg.vxlan[e.tunnel ^ 1].vni : e.vni;
  if (again.kind != Outer::tunnel || again.inner_offset != e.inner_offset || again.vni != vni ||
      again.options != e.options || again.cookie != e.cookie || again.endpoint_id != e.endpoint_id)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65535) return -1;
  OuterConfig cfg;
  const uint8_t address[4] = {10, 100, 0, 5};
  std::memcpy(cfg.address, address, 4);
  for (auto profile : {GeneveProfile::aws, GeneveProfile::gcp, GeneveProfile::generic}) {
    cfg.profile = profile;
    check(data, static_cast<uint32_t>(size), cfg);
  }
  cfg.insertion = Insertion::vxlan;
  check(data, static_cast<uint32_t>(size), cfg);
  return 0;
}
