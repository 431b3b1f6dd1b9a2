#include "dataplane/channel.h"

#include <unistd.h>

#include "common/keys.h"

namespace bulkhead::dataplane {

bool load_channel_identity(const std::string& server_key_file, const std::string& key_file, const std::string& id,
                           ChannelIdentity& out, std::string& error) {
  common::CurveKeys server, own;
  if (!common::read_curve_keys(server_key_file, false, server, error)) return false;
  if (!common::read_curve_keys(key_file, true, own, error)) return false;
  out.server_public = server.public_key;
  out.public_key = own.public_key;
  out.secret_key = own.secret_key;
  out.id = id;
  if (out.id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    out.id = host;
  }
  return true;
}

void set_curve_client(zmq::socket_t& sock, const ChannelIdentity& who) {
  sock.set(zmq::sockopt::curve_serverkey, who.server_public);
  sock.set(zmq::sockopt::curve_publickey, who.public_key);
  sock.set(zmq::sockopt::curve_secretkey, who.secret_key);
  sock.set(zmq::sockopt::reconnect_ivl, 200);
  sock.set(zmq::sockopt::reconnect_ivl_max, 2000);
}

}  // namespace bulkhead::dataplane
