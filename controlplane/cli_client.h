// One request to a control plane's CLI endpoint and its answer, in the
// endpoint's protocol: a ZeroMQ REQ socket, one CliRequest frame out and one
// CliResponse frame back, with CurveZMQ on a tcp:// endpoint. The CLI asks
// this way, and so does a standby that passes a change on to its leader.
//
// Blocking, up to the two timeouts; any thread (each call has its own
// socket, on the caller's context).
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <zmq.hpp>

#include "common/keys.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane {

struct CliCall {
  // Until a connection is made (with its CURVE handshake on tcp://):
  // past it, the request was not sent.
  std::chrono::milliseconds connect_timeout{5000};
  // Past it the request went out and no answer came: whether it was acted
  // on is not known.
  std::chrono::milliseconds answer_timeout{30000};
  common::CurveKeys own;   // tcp://: this side's key pair
  std::string server_key;  // tcp://: the control plane's public key (Z85)
  // Set by another thread: the call gives up within a tenth of a second
  // (as if the timeout had passed). Null: never.
  const std::atomic<bool>* cancel = nullptr;
};

enum class CliCallOutcome { answered, not_sent, no_answer, malformed };

// Sends `req` and waits for its answer into `out`; anything but `answered`
// comes with `error`.
CliCallOutcome call_cli(zmq::context_t& ctx, const std::string& endpoint, const pb::CliRequest& req,
                        const CliCall& how, pb::CliResponse& out, std::string& error);

}  // namespace bulkhead::controlplane
