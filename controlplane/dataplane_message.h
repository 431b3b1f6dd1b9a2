// What the control plane accepts from a dataplane's connection and from a
// CLI peer, checked before anything is believed: a dataplane message is one
// frame after the routing id holding a version-1 Hello, Ack or Nack; a CLI
// peer on the ipc socket is known by the uid ZeroMQ read with SO_PEERCRED.
//
// Pure functions: no I/O, no state; any thread. Linear in their input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane {

inline constexpr uint32_t kChannelVersion = 1;

// Checks the body of a dataplane message that arrived in `frames` frames
// after its routing id. True with `message` filled when it is one frame of
// a version-1 Hello, Ack or Nack; false with `why` otherwise.
bool decode_dataplane_message(size_t frames, const void* body, size_t size, pb::ControlMessage& message,
                              std::string& why);

// The uid in a ZeroMQ ipc peer address ("host:UID:GID:PID"), or nothing.
std::optional<uint32_t> peer_uid(std::string_view peer_address);

}  // namespace bulkhead::controlplane
