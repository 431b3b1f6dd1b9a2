// The capture reader: every link type read to the same layer-3 packets,
// pcap and pcapng, plain and gzip-compressed; bad records counted and
// skipped; files that cannot be read refused with their name.
#include "common/pcap_reader.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "tests/common/packet_builder.h"
#include "tests/common/pcap_io.h"
#include "tests/common/temp_dir.h"
#include "tools/cli/pcapng.h"

namespace bulkhead::common {
namespace {

using test::Frame;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

struct Read {
  std::vector<CaptureRecord> records;
  std::vector<Frame> raw;      // each record as captured
  std::vector<Frame> packets;  // each record's layer-3 bytes
  CaptureStats stats;
  std::string error;  // of open() or next()
};

Read read_all(const std::string& path) {
  Read out;
  PcapReader reader;
  if (!reader.open(path, out.error)) return out;
  CaptureRecord r;
  PcapReader::Next n;
  while ((n = reader.next(r)) == PcapReader::Next::record) {
    out.records.push_back(r);  // its pointers die with the next record
    out.raw.emplace_back(r.data, r.data + r.caplen);
    out.packets.push_back(r.l3.link == LinkRead::ok ? Frame(r.packet(), r.packet() + r.packet_caplen()) : Frame{});
  }
  if (n == PcapReader::Next::error) out.error = reader.error();
  out.stats = reader.stats();
  return out;
}

// The IP packet of an Ethernet frame.
Frame ip_of(const Frame& f) {
  const VlanRead e = read_ethernet(f.data(), static_cast<uint32_t>(f.size()));
  return {f.begin() + e.offset, f.end()};
}

struct LinkCase {
  const char* name;
  int link_type;
  bool v4, v6;         // which families it carries
  bool keeps_vlans;
  bool big_endian = false;
  uint32_t af6 = 30;
};

TEST(PcapReader, EveryLinkTypeReadsToTheSameLayer3PacketsPlainAndGzipped) {
  test::TempDir dir;
  const Frame v4 = test::build_packet(test::tcp_spec("10.0.1.5", "10.0.2.9", 41000, 5432));
  const Frame v6 = test::build_packet({.src = "fd00:1::5", .dst = "fd00:2::53", .vlans = {100, 200}, .payload_len = 30});
  const Frame arp = test::arp_request("10.0.1.5", "10.0.1.1");
  const LinkCase cases[] = {
      {"ethernet", DLT_EN10MB, true, true, true},
      {"raw", DLT_RAW, true, true, false},
      {"ipv4", DLT_IPV4, true, false, false},
      {"ipv6", DLT_IPV6, false, true, false},
      {"sll", DLT_LINUX_SLL, true, true, true},
      {"sll2", DLT_LINUX_SLL2, true, true, true},
      {"null_little_macos", DLT_NULL, true, true, false, false, 30},
      {"null_big_freebsd", DLT_NULL, true, true, false, true, 28},
      {"null_little_openbsd", DLT_NULL, true, true, false, false, 24},
      {"loop", DLT_LOOP, true, true, false, true, 24},
  };
  for (const LinkCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<Frame> frames;
    if (c.v4) frames.push_back(v4);
    if (c.v6) frames.push_back(v6);
    std::vector<Frame> records;
    for (const Frame& f : frames) records.push_back(test::as_link(c.link_type, f, c.big_endian, c.af6));
    const bool has_arp = c.keeps_vlans;  // the link types with an Ethernet type carry ARP too
    if (has_arp) records.push_back(test::as_link(c.link_type, arp));
    const std::string path = dir.file(std::string(c.name) + ".pcap");
    test::write_pcap(path, records, c.link_type);
    write_file(path + ".gz", test::gzip(read_file(path)));
    for (const std::string& file : {path, path + ".gz"}) {
      const Read r = read_all(file);
      ASSERT_EQ(r.error, "");
      ASSERT_EQ(r.records.size(), records.size());
      EXPECT_EQ(r.stats.records, records.size());
      EXPECT_EQ(r.stats.short_header + r.stats.unknown, 0u);
      for (size_t i = 0; i < frames.size(); ++i) {
        const CaptureRecord& got = r.records[i];
        EXPECT_EQ(got.l3.link, LinkRead::ok);
        EXPECT_EQ(got.l3.ethertype, frames[i] == v4 ? kEthIpv4 : kEthIpv6);
        EXPECT_EQ(r.packets[i], ip_of(frames[i]));
        EXPECT_EQ(got.packet_wire_len(), ip_of(frames[i]).size());
        EXPECT_EQ(got.l3.vlans, c.keeps_vlans && frames[i] == v6 ? 2 : 0);
        EXPECT_EQ(got.time_us, 1'700'000'000'000'000 + static_cast<int64_t>(i));
        EXPECT_EQ(r.raw[i], records[i]) << "the record as captured";
      }
      if (has_arp) {
        EXPECT_EQ(r.records.back().l3.ethertype, kEthArp);
      }
    }
  }
}

TEST(PcapReader, PcapngPlainAndGzippedInSeveralMembers) {
  test::TempDir dir;
  const Frame f = test::build_packet(test::tcp_spec("10.0.1.5", "10.0.2.9", 41000, 22));
  const std::string path = dir.file("c.pcapng");
  {
    std::FILE* out = std::fopen(path.c_str(), "wb");
    ASSERT_NE(out, nullptr);
    cli::PcapngWriter w(out, "test");
    const uint32_t eth = w.add_interface("port0", 65535);
    for (int i = 0; i < 3; ++i)
      w.packet(eth, 1'700'000'000'000'000'000 + i * 1000, static_cast<uint32_t>(f.size()),
               {reinterpret_cast<const char*>(f.data()), f.size()}, "verdict=pass");
    ASSERT_TRUE(w.flush());
    std::fclose(out);
  }
  const std::string bytes = read_file(path);
  // Two gzip members one after the other, as `cat a.gz b.gz` makes: one stream.
  write_file(path + ".gz", test::gzip(bytes.substr(0, 100)) + test::gzip(bytes.substr(100)));
  for (const std::string& file : {path, path + ".gz"}) {
    const Read r = read_all(file);
    ASSERT_EQ(r.error, "");
    ASSERT_EQ(r.records.size(), 3u);
    EXPECT_EQ(r.packets[2], ip_of(f));
    EXPECT_EQ(r.records[2].time_us, 1'700'000'000'000'002);
  }
}

// Wireshark writes one interface per device, each with its own snapshot
// length; libpcap alone refuses such a file ("an interface has a snapshot
// length ... different from ... the first interface").
TEST(PcapReader, PcapngInterfacesOfDifferentSnapshotLengths) {
  test::TempDir dir;
  const Frame f = test::build_packet(test::udp_spec("10.0.1.5", "10.0.3.53", 41000, 53));
  const std::string path = dir.file("two.pcapng");
  {
    std::FILE* out = std::fopen(path.c_str(), "wb");
    ASSERT_NE(out, nullptr);
    cli::PcapngWriter w(out, "test");
    const uint32_t first = w.add_interface("eth0", 65535), second = w.add_interface("eth1", 262144);
    for (int i = 0; i < 4; ++i)
      w.packet(i % 2 ? second : first, 1'700'000'000'000'000'000 + i * 1000, static_cast<uint32_t>(f.size()),
               {reinterpret_cast<const char*>(f.data()), f.size()}, "");
    ASSERT_TRUE(w.flush());
    std::fclose(out);
  }
  const std::string bytes = read_file(path);
  write_file(path + ".gz", test::gzip(bytes.substr(0, 30)) + test::gzip(bytes.substr(30)));
  for (const std::string& file : {path, path + ".gz"}) {
    const Read r = read_all(file);
    ASSERT_EQ(r.error, "") << file;
    ASSERT_EQ(r.records.size(), 4u) << file;
    EXPECT_EQ(r.packets[3], ip_of(f));
    EXPECT_EQ(r.records[3].time_us, 1'700'000'000'000'003);
  }
}

TEST(PcapReader, RecordsWhoseLinkHeaderCannotBeReadAreCountedAndSkipped) {
  test::TempDir dir;
  const Frame v4 = test::build_packet({});
  Frame three_tags = test::build_packet({.vlans = {10, 20}});
  three_tags.insert(three_tags.begin() + 12, {0x81, 0x00, 0x00, 0x1e});
  test::write_pcap(dir.file("eth.pcap"), {Frame(10, 0xab), three_tags, test::truncated(test::build_packet({.vlans = {10}}), 16), v4},
                   DLT_EN10MB);
  Read r = read_all(dir.file("eth.pcap"));
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.records.size(), 4u);
  EXPECT_EQ(r.records[0].l3.link, LinkRead::short_header);
  EXPECT_EQ(r.records[1].l3.link, LinkRead::unknown) << "three VLAN tags";
  EXPECT_EQ(r.records[2].l3.link, LinkRead::short_header) << "cut inside its tag";
  EXPECT_EQ(r.records[3].l3.link, LinkRead::ok);
  EXPECT_EQ(r.stats.short_header, 2u);
  EXPECT_EQ(r.stats.unknown, 1u);

  Frame appletalk = test::as_link(DLT_NULL, v4);
  appletalk[0] = 16;
  test::write_pcap(dir.file("null.pcap"), {appletalk, Frame{2, 0}, Frame{0, 0, 0, 10, 0x60}}, DLT_NULL);
  r = read_all(dir.file("null.pcap"));
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.stats.unknown, 2u) << "AppleTalk, and Linux's AF_INET6, which no BSD loopback header holds";
  EXPECT_EQ(r.stats.short_header, 1u);

  test::write_pcap(dir.file("raw.pcap"), {Frame{}, Frame{0x50, 0}, ip_of(v4)}, DLT_RAW);
  r = read_all(dir.file("raw.pcap"));
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.stats.short_header, 1u);
  EXPECT_EQ(r.stats.unknown, 1u) << "IP version 5";
  EXPECT_EQ(r.records[2].l3.link, LinkRead::ok);

  test::write_pcap(dir.file("sll.pcap"), {Frame(15, 0), Frame(19, 0)}, DLT_LINUX_SLL);
  EXPECT_EQ(read_all(dir.file("sll.pcap")).stats.short_header, 1u);
  test::write_pcap(dir.file("sll2.pcap"), {Frame(19, 0), Frame(20, 0)}, DLT_LINUX_SLL2);
  EXPECT_EQ(read_all(dir.file("sll2.pcap")).stats.short_header, 1u);
}

TEST(PcapReader, FilesThatCannotBeReadAreErrorsNamingThem) {
  test::TempDir dir;
  const Frame f = test::build_packet({.payload_len = 200});
  EXPECT_NE(read_all(dir.file("text.pcap", "hello, not a capture\n")).error.find("text.pcap"), std::string::npos);
  EXPECT_NE(read_all(dir.file("absent.pcap")).error.find("No such file"), std::string::npos);
  EXPECT_NE(read_all(dir.path()).error.find(dir.path()), std::string::npos) << "a directory";

  test::write_pcap(dir.file("wifi.pcap"), {f}, DLT_IEEE802_11);
  std::string lt = read_all(dir.file("wifi.pcap")).error;
  EXPECT_NE(lt.find("wifi.pcap: link type 105 (IEEE802_11) is not one that is read"), std::string::npos) << lt;
  test::write_pcap(dir.file("user0.pcap"), {f}, DLT_USER0);
  lt = read_all(dir.file("user0.pcap")).error;
  EXPECT_NE(lt.find("user0.pcap: link type 147 is not one that is read"), std::string::npos) << lt;

  test::write_pcap(dir.file("whole.pcap"), {f, f, f});
  const std::string whole = read_file(dir.file("whole.pcap"));
  write_file(dir.file("cut.pcap"), whole.substr(0, whole.size() - 50));
  Read r = read_all(dir.file("cut.pcap"));
  EXPECT_EQ(r.records.size(), 2u);
  EXPECT_NE(r.error.find("cut.pcap: truncated"), std::string::npos) << r.error;

  const std::string gz = test::gzip(whole);
  write_file(dir.file("cut.pcap.gz"), gz.substr(0, gz.size() / 2));
  r = read_all(dir.file("cut.pcap.gz"));
  EXPECT_NE(r.error.find("cut.pcap.gz: gzip data cut short"), std::string::npos) << r.error;
  // Every record inflated, the gzip trailer missing: libpcap sees a clean
  // end, the reader does not.
  write_file(dir.file("no_trailer.pcap.gz"), gz.substr(0, gz.size() - 8));
  r = read_all(dir.file("no_trailer.pcap.gz"));
  EXPECT_EQ(r.records.size(), 3u);
  EXPECT_NE(r.error.find("gzip data cut short"), std::string::npos) << r.error;
  std::string broken = gz;
  broken[broken.size() / 2] = static_cast<char>(broken[broken.size() / 2] ^ 0xff);
  broken[broken.size() / 2 + 1] = static_cast<char>(broken[broken.size() / 2 + 1] ^ 0xff);
  write_file(dir.file("broken.pcap.gz"), broken);
  EXPECT_NE(read_all(dir.file("broken.pcap.gz")).error.find("broken.pcap.gz: "), std::string::npos);
  write_file(dir.file("header.gz"), gz.substr(0, 5));
  EXPECT_NE(read_all(dir.file("header.gz")).error.find("header.gz: gzip data cut short"), std::string::npos);
}

TEST(PcapReader, MemoryAndFramesReadAsTheFile) {
  test::TempDir dir;
  const std::vector<Frame> frames = {test::build_packet({}), test::arp_request("10.0.1.5", "10.0.1.1")};
  test::write_pcap(dir.file("f.pcap"), frames);
  EXPECT_EQ(test::read_pcap(dir.file("f.pcap")), frames);
  const std::string gz = test::gzip(read_file(dir.file("f.pcap")));
  PcapReader reader;
  std::string error;
  ASSERT_TRUE(reader.open_memory(gz.data(), gz.size(), "memory", error)) << error;
  EXPECT_EQ(reader.link_type(), DLT_EN10MB);
  CaptureRecord r;
  EXPECT_EQ(reader.next(r), PcapReader::Next::record);
  EXPECT_EQ(reader.next(r), PcapReader::Next::record);
  EXPECT_EQ(reader.next(r), PcapReader::Next::end);
  EXPECT_FALSE(reader.open_memory(gz.data(), 0, "empty", error));
  EXPECT_EQ(error, "empty: empty, not a capture");
  EXPECT_FALSE(reader.open_memory(gz.data(), 10, "short", error));
  EXPECT_EQ(error, "short: gzip data cut short");
}

}  // namespace
}  // namespace bulkhead::common
