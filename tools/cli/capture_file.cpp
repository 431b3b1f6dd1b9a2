#include "tools/cli/capture_file.h"

#include "common/text.h"

namespace bulkhead::cli {
namespace {

constexpr int kMaxPorts = 1024;
constexpr uint32_t kMaxSnaplen = 65535;

}  // namespace

std::string capture_comment(const pb::CapturedPacket& p) {
  std::string c = p.dropped() ? "verdict=drop" : "verdict=pass";
  c += " rule=" + (p.rule().empty() ? std::string("-") : common::escaped(p.rule(), 256));
  if (p.dropped()) c += " reason=" + (p.reason().empty() ? std::string("-") : common::escaped(p.reason()));
  if (!p.mode().empty() && p.mode() != "enforce") c += " mode=" + common::escaped(p.mode());
  return c;
}

CaptureFile::Step CaptureFile::fail(std::string why) {
  error_ = std::move(why);
  return Step::failed;
}

CaptureFile::Step CaptureFile::take(std::string_view datagram) {
  pb::CaptureMessage m;
  if (!m.ParseFromArray(datagram.data(), static_cast<int>(datagram.size())))
    return fail("the dataplane sent something that is not a capture message");
  switch (m.body_case()) {
    case pb::CaptureMessage::kError:
      return fail("the dataplane refused the capture: " + common::escaped(m.error(), 512));
    case pb::CaptureMessage::kStarted: {
      if (writer_) return fail("the dataplane started the capture twice");
      const auto& s = m.started();
      if (s.ports_size() > kMaxPorts || s.snaplen() == 0 || s.snaplen() > kMaxSnaplen)
        return fail("the dataplane's capture header is out of bounds");
      filter_ = common::escaped(s.filter(), 512);
      std::FILE* out = open_();
      if (out == nullptr) return fail("cannot write the capture file");
      writer_.emplace(out, "bulkhead capture");
      for (const auto& p : s.ports()) {
        if (interface_of_.count(p.port()) != 0) return fail("the dataplane named a port twice");
        interface_of_[p.port()] = writer_->add_interface("dpdk:" + common::escaped(p.name()), s.snaplen());
      }
      if (!writer_->flush()) return fail("cannot write the capture file");
      return Step::more;
    }
    case pb::CaptureMessage::kPackets: {
      if (!writer_) return fail("the dataplane sent packets before starting the capture");
      for (const auto& p : m.packets().packets()) {
        const auto it = interface_of_.find(p.port());
        if (it == interface_of_.end()) return fail("a packet from port " + std::to_string(p.port()) + ", not announced");
        if (p.data().size() > kMaxSnaplen || p.length() < p.data().size())
          return fail("a packet whose length is out of bounds");
        writer_->packet(it->second, p.unix_ns(), p.length(), p.data(), capture_comment(p));
        ++written_;
      }
      if (!writer_->flush()) return fail("cannot write the capture file");
      return Step::more;
    }
    case pb::CaptureMessage::kEnd:
      if (!writer_) return fail("the dataplane ended a capture it did not start");
      end_ = m.end();
      return Step::done;
    case pb::CaptureMessage::BODY_NOT_SET:
      break;
  }
  return fail("the dataplane sent an empty capture message");
}

}  // namespace bulkhead::cli
