// Reading and writing pcap files (Ethernet link type) for tests and tools.
// Errors throw std::runtime_error naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bulkhead::test {

void write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames);
std::vector<std::vector<uint8_t>> read_pcap(const std::string& path);

}  // namespace bulkhead::test
