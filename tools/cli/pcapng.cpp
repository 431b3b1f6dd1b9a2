#include "tools/cli/pcapng.h"

#include <cstring>

namespace bulkhead::cli {
namespace {

constexpr uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr uint32_t kInterfaceDescription = 1;
constexpr uint32_t kEnhancedPacket = 6;
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptComment = 1;
constexpr uint16_t kShbUserAppl = 4;
constexpr uint16_t kIfName = 2;
constexpr uint16_t kIfTsresol = 9;
constexpr uint16_t kEpbFlags = 2;
constexpr uint16_t kLinkTypeEthernet = 1;

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // host order: the byte-order magic says which
  out.append(b, sizeof(T));
}

void pad4(std::string& out) { out.append((4 - out.size() % 4) % 4, '\0'); }

void end_options(std::string& out) {
  put<uint16_t>(out, kOptEnd);
  put<uint16_t>(out, 0);
}

}  // namespace

void pcapng_option(std::string& out, uint16_t code, std::string_view value) {
  const size_t len = value.size() > 0xFFFC ? 0xFFFC : value.size();
  put<uint16_t>(out, code);
  put<uint16_t>(out, static_cast<uint16_t>(len));
  out.append(value.data(), len);
  pad4(out);
}

PcapngWriter::PcapngWriter(std::FILE* out, std::string_view application) : out_(out) {
  std::string body;
  put<uint32_t>(body, 0x1A2B3C4D);  // byte-order magic
  put<uint16_t>(body, 1);           // version 1.0
  put<uint16_t>(body, 0);
  put<int64_t>(body, -1);           // section length: not given
  pcapng_option(body, kShbUserAppl, application);
  end_options(body);
  block(kSectionHeader, body);
}

uint32_t PcapngWriter::add_interface(std::string_view name, uint32_t snaplen) {
  std::string body;
  put<uint16_t>(body, kLinkTypeEthernet);
  put<uint16_t>(body, 0);
  put<uint32_t>(body, snaplen);
  pcapng_option(body, kIfName, name);
  const char nanoseconds = 9;
  pcapng_option(body, kIfTsresol, std::string_view(&nanoseconds, 1));
  end_options(body);
  block(kInterfaceDescription, body);
  return interfaces_++;
}

void PcapngWriter::packet(uint32_t interface, int64_t unix_ns, uint32_t original_length, std::string_view data,
                          std::string_view comment) {
  std::string body;
  const auto ts = static_cast<uint64_t>(unix_ns);
  put<uint32_t>(body, interface);
  put<uint32_t>(body, static_cast<uint32_t>(ts >> 32));
  put<uint32_t>(body, static_cast<uint32_t>(ts));
  put<uint32_t>(body, static_cast<uint32_t>(data.size()));
  put<uint32_t>(body, original_length);
  body.append(data.data(), data.size());
  pad4(body);
  if (!comment.empty()) pcapng_option(body, kOptComment, comment);
  const uint32_t inbound = 1;  // epb_flags: direction inbound
  pcapng_option(body, kEpbFlags, std::string_view(reinterpret_cast<const char*>(&inbound), 4));
  end_options(body);
  block(kEnhancedPacket, body);
}

void PcapngWriter::block(uint32_t type, const std::string& body) {
  std::string b;
  const auto total = static_cast<uint32_t>(12 + body.size());
  put<uint32_t>(b, type);
  put<uint32_t>(b, total);
  b += body;
  put<uint32_t>(b, total);
  if (std::fwrite(b.data(), 1, b.size(), out_) != b.size()) ok_ = false;
}

bool PcapngWriter::flush() {
  if (std::fflush(out_) != 0) ok_ = false;
  return ok_;
}

}  // namespace bulkhead::cli
