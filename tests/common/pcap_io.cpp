#include "tests/common/pcap_io.h"

#include <pcap/pcap.h>
#include <zlib.h>

#include <stdexcept>

#include "common/ethernet.h"
#include "common/pcap_reader.h"

namespace bulkhead::test {

void write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames, int link_type,
                uint32_t step_us) {
  pcap_t* dead = pcap_open_dead(link_type, 65535);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  if (d == nullptr) {
    const std::string err = pcap_geterr(dead);
    pcap_close(dead);
    throw std::runtime_error(path + ": " + err);
  }
  uint64_t usec = 0;
  for (const auto& f : frames) {
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(1700000000 + usec / 1'000'000);
    h.ts.tv_usec = static_cast<suseconds_t>(usec % 1'000'000);
    usec += step_us;
    h.caplen = h.len = static_cast<uint32_t>(f.size());
    pcap_dump(reinterpret_cast<u_char*>(d), &h, f.data());
  }
  pcap_dump_close(d);
  pcap_close(dead);
}

std::vector<std::vector<uint8_t>> read_pcap(const std::string& path) {
  std::vector<std::vector<uint8_t>> out;
  std::string error;
  if (!common::read_frames(path, out, error)) throw std::runtime_error(error);
  return out;
}

std::vector<uint8_t> as_link(int link_type, const std::vector<uint8_t>& frame, bool big_endian, uint32_t af6) {
  const common::VlanRead eth = common::read_ethernet(frame.data(), static_cast<uint32_t>(frame.size()));
  if (eth.status != common::VlanRead::Status::ok) throw std::runtime_error("as_link: not an Ethernet frame");
  const auto ip = frame.begin() + eth.offset;
  std::vector<uint8_t> out;
  switch (link_type) {
    case DLT_EN10MB: return frame;
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6: return {ip, frame.end()};
    case DLT_LINUX_SLL:  // sent to us, ARPHRD_ETHER, the source address; the type and tags as they were
      out = {0, 0, 0, 1, 0, 6};
      out.insert(out.end(), frame.begin() + 6, frame.begin() + 12);
      out.insert(out.end(), {0, 0});
      out.insert(out.end(), frame.begin() + 12, frame.end());
      return out;
    case DLT_LINUX_SLL2:  // the type, reserved, interface 1, ARPHRD_ETHER, to us, the source address; the tags
      out = {frame[12], frame[13], 0, 0, 0, 0, 0, 1, 0, 1, 0, 6};
      out.insert(out.end(), frame.begin() + 6, frame.begin() + 12);
      out.insert(out.end(), {0, 0});
      out.insert(out.end(), frame.begin() + 14, frame.end());
      return out;
    case DLT_NULL:
    case DLT_LOOP: {
      const uint32_t af = eth.ethertype == common::kEthIpv6 ? af6 : 2;
      const bool big = big_endian || link_type == DLT_LOOP;
      for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(af >> (big ? 24 - 8 * i : 8 * i)));
      out.insert(out.end(), ip, frame.end());
      return out;
    }
    default: throw std::runtime_error("as_link: link type " + std::to_string(link_type));
  }
}

std::string gzip(const std::string& bytes) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("zlib cannot start");
  std::string out(deflateBound(&z, bytes.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("zlib could not compress");
  return out;
}

}  // namespace bulkhead::test
