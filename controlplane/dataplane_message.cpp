#include "controlplane/dataplane_message.h"

#include <charconv>
#include <climits>

namespace bulkhead::controlplane {

bool decode_dataplane_message(size_t frames, const void* body, size_t size, pb::ControlMessage& m, std::string& why) {
  if (frames != 1) {
    // Frames after the first are not read as more messages, whatever they hold.
    why = "a message of " + std::to_string(frames) + " frames (1 expected)";
    return false;
  }
  if (size > static_cast<size_t>(INT_MAX) || !m.ParseFromArray(body, static_cast<int>(size)) ||
      m.version() != kChannelVersion ||
      (!m.has_hello() && !m.has_ack() && !m.has_nack())) {
    why = "a malformed message (" + std::to_string(size) + " bytes, not a version " +
          std::to_string(kChannelVersion) + " Hello, Ack or Nack)";
    return false;
  }
  return true;
}

std::optional<uint32_t> peer_uid(std::string_view p) {
  // The last three fields are UID:GID:PID; the host part may hold colons.
  size_t end = p.size();
  size_t colons[3];
  for (int i = 0; i < 3; ++i) {
    const size_t c = end == 0 ? std::string_view::npos : p.rfind(':', end - 1);
    if (c == std::string_view::npos) return std::nullopt;
    colons[i] = c;
    end = c;
  }
  const std::string_view uid = p.substr(colons[2] + 1, colons[1] - colons[2] - 1);
  uint32_t v = 0;
  const auto [ptr, ec] = std::from_chars(uid.data(), uid.data() + uid.size(), v);
  if (uid.empty() || ec != std::errc() || ptr != uid.data() + uid.size()) return std::nullopt;
  return v;
}

}  // namespace bulkhead::controlplane
