#include "dataplane/channel.h"

#include <unistd.h>

#include <cstring>

#include "common/keys.h"
#include "common/threads.h"

namespace bulkhead::dataplane {
namespace {

std::atomic<uint32_t> g_monitor_seq{0};

}  // namespace

bool load_channel_identity(const ChannelConfig& cfg, ChannelIdentity& out, std::string& error) {
  common::CurveKeys server, own;
  if (!common::read_curve_keys(cfg.server_key_file, false, server, error)) return false;
  if (!common::read_curve_keys(cfg.key_file, true, own, error)) return false;
  out.server_public = server.public_key;
  out.public_key = own.public_key;
  out.secret_key = own.secret_key;
  out.id = cfg.id;
  if (out.id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    out.id = host;
  }
  return true;
}

void ChannelThread::start(std::function<void()> body) {
  stop_.store(false);
  thread_ = common::start_thread_without_signals(std::move(body));
}

void ChannelThread::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

CurveClient::CurveClient(zmq::context_t& ctx, zmq::socket_type type, const ChannelIdentity& who, const char* what,
                         ChannelCounters& counters)
    : what_(what), sock_(ctx, type), monitor_(ctx, zmq::socket_type::pair), counters_(counters) {
  sock_.set(zmq::sockopt::curve_serverkey, who.server_public);
  sock_.set(zmq::sockopt::curve_publickey, who.public_key);
  sock_.set(zmq::sockopt::curve_secretkey, who.secret_key);
  sock_.set(zmq::sockopt::reconnect_ivl, 200);
  sock_.set(zmq::sockopt::reconnect_ivl_max, 2000);
  const std::string name = "inproc://bulkhead.channel.monitor." + std::to_string(g_monitor_seq.fetch_add(1));
  if (zmq_socket_monitor(sock_.handle(), name.c_str(),
                         ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                             ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                             ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0)
    monitor_.connect(name);
}

CurveClient::~CurveClient() {
  zmq_socket_monitor(sock_.handle(), nullptr, 0);
  monitor_.set(zmq::sockopt::linger, 0);
}

bool CurveClient::connect(const std::string& endpoint, std::string& error) {
  endpoint_ = endpoint;
  try {
    sock_.connect(endpoint);
  } catch (const zmq::error_t& e) {
    error = e.what();
    return false;
  }
  return true;
}

void CurveClient::reconnect() {
  const uint64_t n = ++counters_.connections_lost;
  uint64_t suppressed = 0;
  if (lost_limit_.allow(suppressed))
    BH_LOG(WARNING, "%s: the connection to %s dropped (%lu so far); connecting again", what_.c_str(),
           endpoint_.c_str(), static_cast<unsigned long>(n));
  try {
    sock_.disconnect(endpoint_);
  } catch (const zmq::error_t&) {
    // ZeroMQ already dropped the endpoint (a protocol error ends it).
  }
  try {
    sock_.connect(endpoint_);
  } catch (const zmq::error_t& e) {
    BH_LOG(ERR, "%s: cannot connect to %s again: %s", what_.c_str(), endpoint_.c_str(), e.what());
  }
}

void CurveClient::watch() {
  while (true) {
    zmq::message_t event, address;
    try {
      if (!monitor_.recv(event, zmq::recv_flags::dontwait)) return;
      if (!event.more() || !monitor_.recv(address, zmq::recv_flags::dontwait)) return;
    } catch (const zmq::error_t&) {
      return;
    }
    if (event.size() < 6) continue;
    uint16_t kind = 0;
    int32_t value = 0;
    std::memcpy(&kind, event.data(), 2);
    std::memcpy(&value, static_cast<const char*>(event.data()) + 2, 4);
    std::string why;
    switch (kind) {
      case ZMQ_EVENT_CONNECTED: connected_ = true; break;
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        connected_ = false;
        handshaked_ = true;
        break;
      case ZMQ_EVENT_DISCONNECTED:
        if (connected_)
          why = "the control plane closed the connection during the CURVE handshake: its key is not the one in "
                "--controlplane-key, or it is not a Bulkhead control plane";
        connected_ = false;
        if (handshaked_) {
          handshaked_ = false;
          reconnect();
        }
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        why = "the control plane refused this dataplane's key (status " + std::to_string(value) +
              "): it is not among its --dataplane-key files";
        connected_ = false;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        why = "the CURVE handshake failed (protocol error " + std::to_string(value) +
              "): is the endpoint a Bulkhead control plane?";
        connected_ = false;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        why = "the CURVE handshake failed: the control plane's key is not the one in --controlplane-key, or it is "
              "not a Bulkhead control plane";
        connected_ = false;
        break;
      default: break;
    }
    if (why.empty()) continue;
    const uint64_t n = ++counters_.handshake_failures;
    uint64_t suppressed = 0;
    if (limit_.allow(suppressed))
      BH_LOG(ERR, "%s: handshake with %s failed (%lu so far): %s", what_.c_str(), endpoint_.c_str(),
             static_cast<unsigned long>(n), why.c_str());
  }
}

}  // namespace bulkhead::dataplane
