// One CLI request and its answer (controlplane/cli_client.h) against REP
// sockets of the test's own on inproc endpoints: answered, never sent (no
// one listening: certain that nothing was delivered), sent but not
// answered, and cut short by its cancel flag.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "controlplane/cli_client.h"

namespace bulkhead::controlplane {
namespace {

using std::chrono::milliseconds;

CliCall quick() {
  CliCall how;
  how.connect_timeout = milliseconds(300);
  how.answer_timeout = milliseconds(300);
  return how;
}

// Answers the one request `rep` gets with `reply`, on a thread.
std::thread answer_once(zmq::socket_t& rep, std::string reply) {
  return std::thread([&rep, reply] {
    zmq::message_t m;
    if (rep.recv(m)) rep.send(zmq::buffer(reply));
  });
}

pb::CliRequest status_request() {
  pb::CliRequest req;
  req.set_version(1);
  req.mutable_status();
  return req;
}

TEST(CliClient, AnAnswerIsParsed) {
  zmq::context_t ctx(1);
  zmq::socket_t rep(ctx, zmq::socket_type::rep);
  rep.bind("inproc://cli-answered");
  pb::CliResponse r;
  r.set_ok(true);
  r.set_current(7);
  std::thread server = answer_once(rep, r.SerializeAsString());
  pb::CliResponse out;
  std::string error;
  EXPECT_EQ(call_cli(ctx, "inproc://cli-answered", status_request(), quick(), out, error), CliCallOutcome::answered)
      << error;
  server.join();
  EXPECT_TRUE(out.ok());
  EXPECT_EQ(out.current(), 7u);
}

TEST(CliClient, NoOneListeningIsNotSent) {
  zmq::context_t ctx(1);
  pb::CliResponse out;
  std::string error;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(call_cli(ctx, "ipc:///nonexistent/bulkhead-cli-test.sock", status_request(), quick(), out, error),
            CliCallOutcome::not_sent);
  EXPECT_NE(error.find("no connection"), std::string::npos) << error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
}

TEST(CliClient, ASilentPeerIsNoAnswerAndACancelCutsItShort) {
  zmq::context_t ctx(1);
  zmq::socket_t rep(ctx, zmq::socket_type::rep);
  rep.bind("inproc://cli-silent");
  pb::CliResponse out;
  std::string error;
  EXPECT_EQ(call_cli(ctx, "inproc://cli-silent", status_request(), quick(), out, error), CliCallOutcome::no_answer);
  EXPECT_NE(error.find("no answer"), std::string::npos) << error;
  // An answer timeout of a minute, cancelled after 200 ms.
  std::atomic<bool> cancel{false};
  CliCall how = quick();
  how.answer_timeout = std::chrono::seconds(60);
  how.cancel = &cancel;
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(200));
    cancel = true;
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(call_cli(ctx, "inproc://cli-silent", status_request(), how, out, error), CliCallOutcome::no_answer);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  stopper.join();
}

TEST(CliClient, AMalformedAnswerIsSaid) {
  zmq::context_t ctx(1);
  zmq::socket_t rep(ctx, zmq::socket_type::rep);
  rep.bind("inproc://cli-malformed");
  std::thread server = answer_once(rep, "\xff\xff\xff");
  pb::CliResponse out;
  std::string error;
  EXPECT_EQ(call_cli(ctx, "inproc://cli-malformed", status_request(), quick(), out, error), CliCallOutcome::malformed);
  server.join();
}

}  // namespace
}  // namespace bulkhead::controlplane
