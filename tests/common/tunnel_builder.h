// Crafts the frames a cloud load balancer sends to a one-armed appliance,
// and the echoes the appliance must send back: GENEVE (RFC 8926) with any
// options, as AWS Gateway Load Balancer and GCP send it, and VXLAN
// (RFC 7348), as Azure Gateway Load Balancer sends it.
//
//   auto f = geneve_frame({.options = aws_options(0x0123, 0x0456, 7)}, build_packet({...}));
//   auto back = geneve_frame({.options = aws_options(0x0123, 0x0456, 7), .echo = true}, build_packet({...}));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/common/packet_builder.h"

namespace bulkhead::test {

struct GeneveOption {
  uint16_t cls;
  uint8_t type;                // the critical bit is 0x80
  std::vector<uint8_t> data;   // a multiple of 4 bytes
};

// The three options AWS Gateway Load Balancer sends (class 0x0108).
std::vector<GeneveOption> aws_options(uint64_t endpoint_id, uint64_t attachment_id, uint32_t cookie);

struct TunnelSpec {
  std::string balancer = "10.100.0.10";  // the load balancer's address
  std::string appliance = "10.100.0.5";  // the appliance's
  std::string balancer_mac = "02:00:00:00:0a:0a";
  std::string appliance_mac = "02:00:00:00:0a:05";
  uint16_t sport = 50000;
  uint16_t dport = 6081;
  uint32_t vni = 0;
  std::vector<GeneveOption> options = {};
  uint8_t version = 0;
  bool oam = false;
  // 0: the inner packet's own (IPv4 or IPv6).
  uint16_t protocol = 0;
  // The appliance's echo: addresses and MACs the other way, UDP checksum 0.
  bool echo = false;
};

// `inner` is an Ethernet frame (build_packet's): GENEVE carries its IP
// packet (Ethernet header and padding left out), VXLAN the frame whole.
Frame geneve_frame(const TunnelSpec& spec, const Frame& inner);
Frame vxlan_frame(const TunnelSpec& spec, const Frame& inner);

// The IP packet of an Ethernet frame, without its Ethernet header and padding.
std::vector<uint8_t> ip_packet(const Frame& frame);

}  // namespace bulkhead::test
