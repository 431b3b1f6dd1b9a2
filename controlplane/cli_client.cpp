#include "controlplane/cli_client.h"

#include <algorithm>

namespace bulkhead::controlplane {

CliCallOutcome call_cli(zmq::context_t& ctx, const std::string& endpoint, const pb::CliRequest& req,
                        const CliCall& how, pb::CliResponse& out, std::string& error) {
  bool sent = false;
  try {
    zmq::socket_t s(ctx, zmq::socket_type::req);
    s.set(zmq::sockopt::linger, 0);
    // Queued only to a completed connection: a send that times out was
    // never delivered, so "not sent" is certain.
    s.set(zmq::sockopt::immediate, 1);
    // Waits in steps, to see `cancel`.
    constexpr auto kStep = std::chrono::milliseconds(100);
    s.set(zmq::sockopt::sndtimeo, static_cast<int>(std::min(kStep, how.connect_timeout).count()));
    s.set(zmq::sockopt::rcvtimeo, static_cast<int>(std::min(kStep, how.answer_timeout).count()));
    const auto cancelled = [&] { return how.cancel != nullptr && how.cancel->load(); };
    if (endpoint.rfind("tcp://", 0) == 0) {
      s.set(zmq::sockopt::curve_serverkey, how.server_key);
      s.set(zmq::sockopt::curve_publickey, how.own.public_key);
      s.set(zmq::sockopt::curve_secretkey, how.own.secret_key);
    }
    s.connect(endpoint);
    const std::string body = req.SerializeAsString();
    auto until = std::chrono::steady_clock::now() + how.connect_timeout;
    while (!(sent = s.send(zmq::buffer(body)).has_value()) && std::chrono::steady_clock::now() < until && !cancelled()) {
    }
    if (!sent) {
      error = "no connection within " + std::to_string(how.connect_timeout.count() / 1000.0).substr(0, 4) + " s";
      return CliCallOutcome::not_sent;
    }
    zmq::message_t reply;
    until = std::chrono::steady_clock::now() + how.answer_timeout;
    bool answered = false;
    while (!(answered = s.recv(reply).has_value()) && std::chrono::steady_clock::now() < until && !cancelled()) {
    }
    if (!answered) {
      error = "no answer within " + std::to_string(how.answer_timeout.count() / 1000) + " s";
      return CliCallOutcome::no_answer;
    }
    if (!out.ParseFromArray(reply.data(), static_cast<int>(reply.size()))) {
      error = "a malformed answer";
      return CliCallOutcome::malformed;
    }
    return CliCallOutcome::answered;
  } catch (const zmq::error_t& e) {
    error = e.what();
    return sent ? CliCallOutcome::no_answer : CliCallOutcome::not_sent;
  }
}

}  // namespace bulkhead::controlplane
