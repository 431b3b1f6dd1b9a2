// A pcapng writer (the format of draft-ietf-opsawg-pcapng) for
// `bulkhead capture`: one section, an interface per dataplane port, and an
// Enhanced Packet Block per packet with a comment (opt_comment), which
// Wireshark and tshark show as the packet's comment. Timestamps in
// nanoseconds (if_tsresol 9). Blocks go to the stream whole, so a capture
// interrupted after a flush() is a valid file up to its last packet.
//
// DPDK 22.11's rte_pcapng writes no per-packet comment, hence this small
// writer. One thread; not shared.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace bulkhead::cli {

class PcapngWriter {
 public:
  // Writes to `out` (not owned); the section header goes out at once.
  PcapngWriter(std::FILE* out, std::string_view application);
  // Adds an Ethernet interface; returns its id for packet().
  uint32_t add_interface(std::string_view name, uint32_t snaplen);
  void packet(uint32_t interface, int64_t unix_ns, uint32_t original_length, std::string_view data,
              std::string_view comment);
  // Pushes what was written to the file; false once a write failed.
  bool flush();
  // False once a write failed (disk full, a closed pipe).
  bool ok() const noexcept { return ok_; }

 private:
  // One block: type, length, body, options, length.
  void block(uint32_t type, const std::string& body);
  std::FILE* out_;
  uint32_t interfaces_ = 0;
  bool ok_ = true;
};

// Appends one option (code, length, value padded to 4 bytes).
void pcapng_option(std::string& out, uint16_t code, std::string_view value);

}  // namespace bulkhead::cli
