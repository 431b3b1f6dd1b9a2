// Reading and writing pcap files for tests and tools: frames are written by
// libpcap (Ethernet unless another link type is given) and read back, link
// header and all, by the project's capture reader (common/pcap_reader.h).
// Errors throw std::runtime_error naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bulkhead::test {

// Frames are `step_us` apart, from 1700000000 s.
void write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames, int link_type = 1,
                uint32_t step_us = 1);
std::vector<std::vector<uint8_t>> read_pcap(const std::string& path);

// The record a capture of `link_type` (a DLT_ value) holds of Ethernet
// frame `frame`: its header replaced by that link type's, VLAN tags kept
// where the link type has them (Linux cooked) and dropped where it has not
// (raw IP, loopback). A BSD loopback header (DLT_NULL) is written in the
// byte order `big_endian` says, with `af6` as IPv6's family (24, 28 or 30).
std::vector<uint8_t> as_link(int link_type, const std::vector<uint8_t>& frame, bool big_endian = false,
                             uint32_t af6 = 30);

// `bytes` compressed as one gzip member, by zlib.
std::string gzip(const std::string& bytes);

}  // namespace bulkhead::test
