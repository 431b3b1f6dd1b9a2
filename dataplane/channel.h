// What the dataplane's sockets to the control plane share: the keys and the
// identity read once at start, and the CurveZMQ client settings (the only
// server accepted is the configured control-plane key). Used by the control
// channel (updater.h) and the flow exporter (flow_export.h).
#pragma once

#include <string>
#include <zmq.hpp>

namespace bulkhead::dataplane {

struct ChannelIdentity {
  std::string server_public;  // the control plane's public key (Z85)
  std::string public_key;     // this dataplane's key pair (Z85)
  std::string secret_key;
  std::string id;             // the configured name, else the host name
};

// Reads the key files; false with `error` when one is missing or malformed.
bool load_channel_identity(const std::string& server_key_file, const std::string& key_file, const std::string& id,
                           ChannelIdentity& out, std::string& error);

// Makes `sock` a CurveZMQ client of the control plane that reconnects by
// itself (200 ms, backing off to 2 s).
void set_curve_client(zmq::socket_t& sock, const ChannelIdentity& who);

}  // namespace bulkhead::dataplane
