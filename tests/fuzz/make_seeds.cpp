// Writes the seed corpora of the fuzz targets that read frames, built with
// the same packet builder as the golden cases: one file per frame in
// OUT_DIR. usage: make_seeds packet OUT_DIR
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "tests/common/packet_builder.h"

using namespace bulkhead;
using namespace bulkhead::test;

namespace {

std::vector<Frame> packet_seeds() {
  const Frame syn = build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000,
                                  .dport = 5432});
  std::vector<Frame> v = {
      syn,
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = 5353, .dport = 53,
                    .payload_len = 32}),
      build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 1, .dport = 443,
                    .ipv6_ext = {{0, 8}, {43, 16}, {60, 8}}}),
      build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoIcmpv6, .icmp_type = 128}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 8}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoSctp, .sport = 1, .dport = 2}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .vlans = {7, 8}}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .ipv4_options_len = 8}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .payload_len = 64,
                    .more_fragments = true}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .payload_len = 64,
                    .fragment_offset = 72}),
      build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoUdp, .payload_len = 64,
                    .ipv6_ext = {{44, 8}}, .more_fragments = true}),
      build_packet({.src = "10.0.2.9", .dst = "10.0.1.5", .proto = common::kProtoIcmp, .icmp_type = 3, .icmp_code = 1,
                    .quote = &syn}),
      arp_request("10.0.1.5", "10.0.2.9"),
  };
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "packet") {
    std::fprintf(stderr, "usage: make_seeds packet OUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[2];
  ::mkdir(dir.c_str(), 0755);
  int i = 0;
  for (const Frame& f : packet_seeds()) {
    std::ofstream out(dir + "/frame" + std::to_string(i++), std::ios::binary);
    out.write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size()));
    if (!out) return 1;
  }
  return 0;
}
