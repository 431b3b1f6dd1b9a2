#include "common/pcap_reader.h"

#include <pcap/pcap.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace bulkhead::common {

namespace {

// LINKTYPE_RAW as it is in files: libpcap hands it over as DLT_RAW, whose
// value differs between systems; taken as it is too.
constexpr int kLinktypeRaw = 101;
constexpr uint32_t kSllHeader = 16;
constexpr uint32_t kSll2Header = 20;
constexpr uint32_t kLoopbackHeader = 4;
// Read from the file at a time.
constexpr size_t kChunk = 64 * 1024;

uint16_t be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// A BSD loopback header's address family: AF_INET is 2 everywhere,
// AF_INET6 is 24 (NetBSD, OpenBSD), 28 (FreeBSD) or 30 (macOS) after the
// system that wrote it. 0: neither.
uint16_t bsd_family(uint32_t af) noexcept {
  if (af == 2) return kEthIpv4;
  if (af == 24 || af == 28 || af == 30) return kEthIpv6;
  return 0;
}

Layer3 after_type(const uint8_t* data, uint32_t caplen, uint16_t ethertype, uint32_t at) noexcept {
  const VlanRead v = skip_vlans(data, caplen, ethertype, at);
  Layer3 r;
  r.vlans = v.vlans;
  r.ethertype = v.ethertype;
  switch (v.status) {
    case VlanRead::Status::ok: r.offset = v.offset; break;
    case VlanRead::Status::truncated: r.link = LinkRead::short_header; break;
    case VlanRead::Status::too_deep: r.link = LinkRead::unknown; break;
  }
  return r;
}

Layer3 marked(LinkRead why) noexcept {
  Layer3 r;
  r.link = why;
  return r;
}

Layer3 at(uint16_t ethertype, uint32_t offset) noexcept {
  Layer3 r;
  r.ethertype = ethertype;
  r.offset = offset;
  return r;
}

// libpcap refuses a pcapng file whose interfaces differ in snapshot length
// (Wireshark writes them: one interface per capture device, each with its
// own). As the bytes pass to libpcap, each Interface Description Block's
// snapshot length is read as 0, "none", for which libpcap takes the link
// type's largest: such files are read, and no record is cut by it (a
// record's own captured length says what it holds). Interfaces of
// different link types are still refused by libpcap, with its message.
// Anything that is not well-formed pcapng passes untouched, for libpcap to
// judge. Work in proportion to the blocks, not their bytes.
class InterfaceSnaplens {
 public:
  void pass(unsigned char* p, size_t n) noexcept {
    while (n > 0 && state_ != State::off) {
      if (at_ < kHead) {
        head_[at_++] = *p++;
        --n;
        if (at_ == 4 && state_ == State::start) {
          if (!is_section(head_)) return off();
          state_ = State::blocks;
        }
        if (at_ == kHead && !read_head()) return off();
        continue;
      }
      if (type_ == kInterface && at_ < std::min<uint64_t>(kSnaplenEnd, len_)) {  // the snapshot length
        *p++ = 0;
        --n;
        ++at_;
        continue;
      }
      const uint64_t skip = std::min<uint64_t>(n, len_ - at_);
      at_ += skip;
      p += skip;
      n -= skip;
      if (at_ == len_) at_ = 0;
    }
  }

 private:
  enum class State : uint8_t { start, blocks, off };
  static constexpr uint32_t kSection = 0x0A0D0D0A;  // the same in either byte order
  static constexpr uint32_t kInterface = 1;
  static constexpr unsigned kHead = 12;             // type, length, and a section's byte-order magic
  static constexpr uint64_t kSnaplenEnd = 16;       // an interface block's snapshot length: bytes 12..15

  static bool is_section(const unsigned char* h) noexcept {
    return h[0] == 0x0A && h[1] == 0x0D && h[2] == 0x0D && h[3] == 0x0A;
  }
  uint32_t word(const unsigned char* w) const noexcept {
    return big_ ? uint32_t{w[0]} << 24 | uint32_t{w[1]} << 16 | uint32_t{w[2]} << 8 | w[3]
                : uint32_t{w[3]} << 24 | uint32_t{w[2]} << 16 | uint32_t{w[1]} << 8 | w[0];
  }
  // The block's type and length, from its first 12 bytes; false when they
  // are not pcapng's.
  bool read_head() noexcept {
    if (is_section(head_)) {  // each section gives its byte order
      if (head_[8] == 0x1A && head_[9] == 0x2B && head_[10] == 0x3C && head_[11] == 0x4D) big_ = true;
      else if (head_[8] == 0x4D && head_[9] == 0x3C && head_[10] == 0x2B && head_[11] == 0x1A) big_ = false;
      else return false;
      type_ = kSection;
    } else {
      type_ = word(head_);
    }
    len_ = word(head_ + 4);
    return len_ >= kHead && len_ % 4 == 0;
  }
  void off() noexcept { state_ = State::off; }

  State state_ = State::start;
  bool big_ = false;
  unsigned char head_[kHead] = {};
  uint32_t type_ = 0;
  uint64_t at_ = 0, len_ = 0;  // where the current block is, and its length
};

}  // namespace

bool link_type_readable(int link_type) noexcept {
  switch (link_type) {
    case DLT_EN10MB:
    case DLT_RAW:
    case kLinktypeRaw:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_NULL:
    case DLT_LOOP: return true;
    default: return false;
  }
}

Layer3 read_link(int link_type, const uint8_t* data, uint32_t caplen) noexcept {
  switch (link_type) {
    case DLT_EN10MB:
      if (caplen < kEthHeader) return marked(LinkRead::short_header);
      return after_type(data, caplen, be16(data + 12), kEthHeader);
    case DLT_LINUX_SLL:  // packet type, ARPHRD type, address length and address, protocol
      if (caplen < kSllHeader) return marked(LinkRead::short_header);
      return after_type(data, caplen, be16(data + 14), kSllHeader);
    case DLT_LINUX_SLL2:  // protocol, reserved, interface index, ARPHRD type, packet type, address
      if (caplen < kSll2Header) return marked(LinkRead::short_header);
      return after_type(data, caplen, be16(data), kSll2Header);
    case DLT_NULL:  // the family in the byte order of the host that wrote it
    case DLT_LOOP: {  // in network byte order
      if (caplen < kLoopbackHeader) return marked(LinkRead::short_header);
      const uint32_t big = uint32_t{be16(data)} << 16 | be16(data + 2);
      const uint32_t little = uint32_t{data[3]} << 24 | uint32_t{data[2]} << 16 | uint32_t{data[1]} << 8 | data[0];
      uint16_t type = bsd_family(big);
      if (type == 0 && link_type == DLT_NULL) type = bsd_family(little);
      return type == 0 ? marked(LinkRead::unknown) : at(type, kLoopbackHeader);
    }
    case DLT_IPV4: return at(kEthIpv4, 0);
    case DLT_IPV6: return at(kEthIpv6, 0);
    case DLT_RAW:
    case kLinktypeRaw:  // the IP version tells
      if (caplen < 1) return marked(LinkRead::short_header);
      if (data[0] >> 4 == 4) return at(kEthIpv4, 0);
      if (data[0] >> 4 == 6) return at(kEthIpv6, 0);
      return marked(LinkRead::unknown);
    default: return marked(LinkRead::unknown);
  }
}

// The file (or memory) and what libpcap reads of it: a stream of its own
// (fopencookie) that passes plain bytes through and inflates gzip data as
// libpcap asks for it.
struct PcapReader::Source {
  std::FILE* in = nullptr;
  std::FILE* stream = nullptr;  // read by libpcap; closed by pcap_close() once it has it
  pcap_t* p = nullptr;
  std::vector<unsigned char> buf = std::vector<unsigned char>(kChunk);
  size_t pending = 0, pending_at = 0;  // plain: bytes read ahead to look for the magic
  bool gzip = false;
  bool inflating = false;     // z is set up
  bool member_ended = false;  // a whole gzip member was read (more may follow)
  z_stream z{};
  std::string fault;  // why the stream stopped, when it is the data's fault
  InterfaceSnaplens snaplens;

  ~Source() {
    if (p != nullptr) pcap_close(p);
    else if (stream != nullptr) std::fclose(stream);
    if (in != nullptr) std::fclose(in);
    if (inflating) inflateEnd(&z);
  }

  // Reads ahead and tells gzip from plain by the first two bytes.
  bool begin(std::string& error) {
    const size_t n = std::fread(buf.data(), 1, buf.size(), in);
    if (n == 0 && std::ferror(in)) {
      error = std::strerror(errno);
      return false;
    }
    if (n >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
      gzip = true;
      if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {  // gzip only
        error = "zlib cannot start";
        return false;
      }
      inflating = true;
      z.next_in = buf.data();
      z.avail_in = static_cast<uInt>(n);
    } else {
      pending = n;
    }
    static const cookie_io_functions_t io{&Source::read_cookie, nullptr, nullptr, &Source::close_cookie};
    stream = fopencookie(this, "rb", io);
    if (stream == nullptr) {
      error = std::strerror(errno);
      return false;
    }
    return true;
  }

  ssize_t read(char* out, size_t size) {
    const ssize_t n = read_bytes(out, size);
    if (n > 0) snaplens.pass(reinterpret_cast<unsigned char*>(out), static_cast<size_t>(n));
    return n;
  }

  ssize_t read_bytes(char* out, size_t size) {
    if (!fault.empty()) {
      errno = EIO;
      return -1;
    }
    if (!gzip) {
      size_t n = std::min(size, pending - pending_at);
      std::memcpy(out, buf.data() + pending_at, n);
      pending_at += n;
      if (n < size) n += std::fread(out + n, 1, size - n, in);
      if (n == 0 && std::ferror(in)) return failed(std::strerror(errno), 0);
      return static_cast<ssize_t>(n);
    }
    z.next_out = reinterpret_cast<Bytef*>(out);
    z.avail_out = static_cast<uInt>(std::min<size_t>(size, kChunk));
    const uInt asked = z.avail_out;
    while (z.avail_out > 0) {
      if (z.avail_in == 0) {
        const size_t n = std::fread(buf.data(), 1, buf.size(), in);
        if (n == 0) {
          if (std::ferror(in)) return failed(std::strerror(errno), asked - z.avail_out);
          if (member_ended) break;
          return failed("gzip data cut short", asked - z.avail_out);
        }
        z.next_in = buf.data();
        z.avail_in = static_cast<uInt>(n);
      }
      if (member_ended) {  // concatenated members read as one stream, as gzip -d does
        inflateReset(&z);
        member_ended = false;
      }
      const int rc = inflate(&z, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) member_ended = true;
      else if (rc != Z_OK && rc != Z_BUF_ERROR)
        return failed(std::string("broken gzip data (") + (z.msg ? z.msg : zError(rc)) + ")", asked - z.avail_out);
    }
    return static_cast<ssize_t>(asked - z.avail_out);
  }

  // What was read before the fault goes out first; the next read fails.
  ssize_t failed(std::string why, size_t done) {
    fault = std::move(why);
    if (done > 0) return static_cast<ssize_t>(done);
    errno = EIO;
    return -1;
  }

  static ssize_t read_cookie(void* self, char* out, size_t size) { return static_cast<Source*>(self)->read(out, size); }
  // `in` and the rest go with the Source.
  static int close_cookie(void*) { return 0; }
};

PcapReader::PcapReader() = default;
PcapReader::~PcapReader() = default;

pcap* PcapReader::handle() const noexcept { return source_ ? source_->p : nullptr; }

bool PcapReader::open(const std::string& path, std::string& error) {
  source_ = std::make_unique<Source>();
  source_->in = std::fopen(path.c_str(), "rb");
  if (source_->in == nullptr) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  return start(path, error);
}

bool PcapReader::open_memory(const void* data, size_t size, const std::string& name, std::string& error) {
  source_ = std::make_unique<Source>();
  if (size == 0) {
    error = name + ": empty, not a capture";
    return false;
  }
  source_->in = fmemopen(const_cast<void*>(data), size, "rb");
  if (source_->in == nullptr) {
    error = name + ": " + std::strerror(errno);
    return false;
  }
  return start(name, error);
}

bool PcapReader::start(const std::string& name, std::string& error) {
  name_ = name;
  error_.clear();
  stats_ = {};
  link_type_ = -1;
  Source& s = *source_;
  std::string why;
  if (!s.begin(why)) {
    error = name + ": " + why;
    return false;
  }
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  s.p = pcap_fopen_offline(s.stream, errbuf);  // closes the stream from here
  if (s.p == nullptr) {
    error = name + ": " + (s.fault.empty() ? std::string(errbuf) : s.fault);
    return false;
  }
  const int lt = pcap_datalink(s.p);
  if (!link_type_readable(lt)) {
    const char* lt_name = pcap_datalink_val_to_name(lt);
    error = name + ": link type " + std::to_string(lt) + (lt_name ? std::string(" (") + lt_name + ")" : "") +
            " is not one that is read: Ethernet, raw IP, Linux cooked (SLL, SLL2) and BSD loopback are";
    return false;
  }
  link_type_ = lt;
  return true;
}

PcapReader::Next PcapReader::next(CaptureRecord& r) {
  if (!source_ || source_->p == nullptr) return Next::end;
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(source_->p, &h, &data);
  if (rc == PCAP_ERROR_BREAK) {
    if (source_->fault.empty()) return Next::end;
    error_ = name_ + ": " + source_->fault;  // gzip cut on a record's edge: libpcap saw an end
    return Next::error;
  }
  if (rc != 1) {
    error_ = name_ + ": " + (source_->fault.empty() ? std::string(pcap_geterr(source_->p)) : source_->fault);
    return Next::error;
  }
  ++stats_.records;
  r.header = h;
  r.data = data;
  r.time_us = static_cast<int64_t>(h->ts.tv_sec) * 1'000'000 + h->ts.tv_usec;
  r.caplen = h->caplen;
  r.wire_len = std::max(h->len, h->caplen);
  r.l3 = read_link(link_type_, data, h->caplen);
  if (r.l3.link == LinkRead::short_header) ++stats_.short_header;
  else if (r.l3.link == LinkRead::unknown) ++stats_.unknown;
  return Next::record;
}

bool read_frames(const std::string& path, std::vector<std::vector<uint8_t>>& frames, std::string& error) {
  PcapReader reader;
  if (!reader.open(path, error)) return false;
  CaptureRecord r;
  PcapReader::Next n;
  while ((n = reader.next(r)) == PcapReader::Next::record) frames.emplace_back(r.data, r.data + r.caplen);
  if (n == PcapReader::Next::error) error = reader.error();
  return n == PcapReader::Next::end;
}

}  // namespace bulkhead::common
