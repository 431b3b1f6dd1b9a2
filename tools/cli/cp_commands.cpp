// Commands that talk to the control plane: apply, history, diff, rollback,
// status. They share the CLI's structure; the endpoint comes from
// --controlplane, else $BULKHEAD_CONTROLPLANE, else the local ipc socket.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <zmq.hpp>

#include "proto/bulkhead.pb.h"
#include "tools/cli/cli.h"

namespace bulkhead::cli {
namespace po = boost::program_options;
namespace {

constexpr const char* kDefaultEndpoint = "ipc:///run/bulkhead/controlplane.sock";

std::string endpoint_of(const po::variables_map& vm) {
  return controlplane_endpoint(vm.count("controlplane") ? vm["controlplane"].as<std::string>() : std::string());
}

void add_common(po::options_description& o) {
  o.add_options()("controlplane", po::value<std::string>(), "control plane CLI endpoint")("json", "machine-readable output");
}

}  // namespace

std::string controlplane_endpoint(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("BULKHEAD_CONTROLPLANE");
  return env && *env ? env : kDefaultEndpoint;
}

pb::CliResponse controlplane_call(const std::string& endpoint, pb::CliRequest req) {
  // A local control plane that is not running has no socket file: say so
  // at once rather than after the answer's timeout.
  if (endpoint.rfind("ipc://", 0) == 0 && access(endpoint.substr(6).c_str(), F_OK) != 0)
    throw UsageError("control plane not running (no socket at " + endpoint.substr(6) +
                     "; --controlplane or $BULKHEAD_CONTROLPLANE names another)");
  req.set_version(1);
  const char* user = std::getenv("USER");
  req.set_author(std::string(user ? user : "uid" + std::to_string(getuid())) + "@" + [] {
    char h[256] = {};
    gethostname(h, sizeof(h) - 1);
    return std::string(h);
  }());
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::req);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::rcvtimeo, 30000);
  s.set(zmq::sockopt::sndtimeo, 5000);
  try {
    s.connect(endpoint);
    if (!s.send(zmq::buffer(req.SerializeAsString()))) throw UsageError("control plane not reachable at " + endpoint);
    zmq::message_t reply;
    if (!s.recv(reply)) throw UsageError("no answer from the control plane at " + endpoint);
    pb::CliResponse r;
    if (!r.ParseFromArray(reply.data(), static_cast<int>(reply.size())))
      throw UsageError("malformed answer from the control plane");
    return r;
  } catch (const zmq::error_t& e) {
    throw UsageError("control plane at " + endpoint + ": " + e.what());
  }
}

namespace {

pb::CliResponse call(const std::string& endpoint, const pb::CliRequest& req) { return controlplane_call(endpoint, req); }

int report(const pb::CliResponse& r, bool json) {
  if (json) return -1;  // caller prints
  for (const auto& e : r.errors()) std::cerr << e << '\n';
  for (const auto& w : r.warnings()) std::cerr << "warning: " << w << '\n';
  return r.ok() ? kExitOk : kExitUsage;
}

void print_status(const pb::CliResponse& r) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : r.dataplanes())
    rows.push_back({d.id(), d.address().empty() ? "-" : d.address(), d.connected() ? "yes" : "no", std::to_string(d.generation()), format_time(d.acked_at()),
                    d.ack_latency_us() ? std::to_string(d.ack_latency_us() / 1000.0).substr(0, 6) + " ms" : "-",
                    std::to_string(d.rejected_messages()), d.last_nack().empty() ? "-" : d.last_nack()});
  std::cout << "current generation " << r.current() << '\n';
  print_table(std::cout, {"dataplane", "address", "connected", "generation", "acked", "ack latency", "rejected", "last refusal"}, rows);
  if (r.has_flow_store()) {
    const auto& f = r.flow_store();
    std::cout << "flow store: " << f.aggregates() << " flows (capacity " << f.capacity() << "), " << f.records()
              << " records received, " << f.rejected_records() << " records and " << f.rejected_batches()
              << " batches refused, " << f.lost_by_dataplanes() << " lost by dataplanes, " << f.evicted() << " evicted\n";
  }
}

std::string status_json(const pb::CliResponse& r) {
  std::string s = "{\"current\":" + std::to_string(r.current()) + ",\"dataplanes\":[";
  for (int i = 0; i < r.dataplanes_size(); ++i) {
    const auto& d = r.dataplanes(i);
    s += std::string(i ? "," : "") + "{\"id\":" + json_string(d.id()) + ",\"address\":" + json_string(d.address()) +
         ",\"connected\":" + (d.connected() ? "true" : "false") +
         ",\"generation\":" + std::to_string(d.generation()) + ",\"acked_at\":" + std::to_string(d.acked_at()) +
         ",\"ack_latency_us\":" + std::to_string(d.ack_latency_us()) + ",\"apply_us\":" + std::to_string(d.apply_us()) +
         ",\"rejected_messages\":" + std::to_string(d.rejected_messages()) + ",\"last_nack\":" + json_string(d.last_nack()) + "}";
  }
  s += "]";
  if (r.has_flow_store()) {
    const auto& f = r.flow_store();
    s += ",\"flow_store\":{\"aggregates\":" + std::to_string(f.aggregates()) + ",\"capacity\":" +
         std::to_string(f.capacity()) + ",\"records\":" + std::to_string(f.records()) +
         ",\"rejected_records\":" + std::to_string(f.rejected_records()) + ",\"rejected_batches\":" +
         std::to_string(f.rejected_batches()) + ",\"lost_by_dataplanes\":" + std::to_string(f.lost_by_dataplanes()) +
         ",\"evicted\":" + std::to_string(f.evicted()) + "}";
  }
  return s + "}";
}

// Waits until every connected dataplane enforces `generation`.
bool wait_for(const std::string& ep, uint64_t generation, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    pb::CliRequest q;
    q.mutable_status();
    const auto r = call(ep, q);
    bool all = true;
    for (const auto& d : r.dataplanes())
      if (d.connected() && d.generation() < generation) all = false;
    if (all) return true;
    // Acknowledgements take milliseconds; the local status call is cheap.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace

int apply_source(const std::string& ep, const std::string& name, const std::string& text, const std::string& message,
                 bool force, double wait, bool json) {
  pb::CliRequest q;
  q.mutable_apply()->set_source_name(name);
  q.mutable_apply()->set_source_text(text);
  q.mutable_apply()->set_message(message);
  q.mutable_apply()->set_force(force);
  const auto r = call(ep, q);
  if (!json) report(r, false);
  if (!r.ok()) {
    if (json) std::cout << "{\"ok\":false,\"errors\":" << r.errors_size() << "}\n";
    return kExitUsage;
  }
  const bool enforced = wait <= 0 || wait_for(ep, r.generation(), wait);
  pb::CliRequest s;
  s.mutable_status();
  const auto st = call(ep, s);
  if (json) {
    std::cout << "{\"ok\":true,\"generation\":" << r.generation() << ",\"enforced\":" << (enforced ? "true" : "false")
              << ",\"status\":" << status_json(st) << "}\n";
  } else {
    std::cout << "applied generation " << r.generation() << (enforced ? "" : " (not yet enforced everywhere)") << '\n';
    print_status(st);
  }
  return enforced ? kExitOk : kExitNo;
}

namespace {

int cmd_apply(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string file, message;
  double wait = 10;
  o.add_options()("file", po::value(&file)->required(), "policy file")("message,m", po::value(&message), "why")(
      "force", "apply even when the analysis finds errors")("wait", po::value(&wait)->default_value(10),
                                                             "seconds to wait for every connected dataplane to enforce it (0: do not wait)");
  add_common(o);
  po::variables_map vm;
  if (!parse_command(args, o, vm, "usage: bulkhead apply FILE [-m MESSAGE] [--force] [--wait S] [--controlplane EP]\n\n"
                                  "Validates, analyses and stores the policy as the next generation, then every "
                                  "dataplane enforces it. Exit 0 applied (and enforced), 1 not enforced everywhere "
                                  "in time, 2 refused."))
    return kExitOk;
  return apply_source(endpoint_of(vm), file, read_input(file), message, vm.count("force") > 0, wait,
                      vm.count("json") > 0);
}

int cmd_simple(const std::vector<std::string>& args, const char* which) {
  po::options_description o("options");
  add_common(o);
  uint64_t a = 0, b = 0;
  std::string message;
  if (std::string(which) == "diff") o.add_options()("file", po::value(&a), "from generation")("to", po::value(&b), "to generation");
  if (std::string(which) == "rollback")
    o.add_options()("file", po::value(&a)->required(), "generation to restore")("message,m", po::value(&message), "why");
  po::variables_map vm;
  const std::string usage = std::string("usage: bulkhead ") + which +
                            (std::string(which) == "diff" ? " [FROM] [--to TO]" : std::string(which) == "rollback" ? " GEN [-m MESSAGE]" : "") +
                            " [--json] [--controlplane EP]";
  if (!parse_command(args, o, vm, usage.c_str())) return kExitOk;
  pb::CliRequest q;
  const std::string w = which;
  if (w == "history") q.mutable_history();
  else if (w == "status") q.mutable_status();
  else if (w == "diff") {
    q.mutable_diff()->set_from(a);
    q.mutable_diff()->set_to(b);
  } else {
    q.mutable_rollback()->set_generation(a);
    q.mutable_rollback()->set_message(message.empty() ? "rollback to generation " + std::to_string(a) : message);
  }
  const auto r = call(endpoint_of(vm), q);
  const bool json = vm.count("json") > 0;
  if (!r.ok()) {
    for (const auto& e : r.errors()) std::cerr << e << '\n';
    return kExitUsage;
  }
  if (w == "history") {
    if (json) {
      std::cout << "[";
      for (int i = 0; i < r.history_size(); ++i) {
        const auto& h = r.history(i);
        std::cout << (i ? "," : "") << "{\"generation\":" << h.number() << ",\"applied_at\":" << h.applied_at()
                  << ",\"author\":" << json_string(h.author()) << ",\"message\":" << json_string(h.message())
                  << ",\"rules\":" << h.rules() << ",\"sha256\":" << json_string(h.sha256())
                  << ",\"rollback_of\":" << h.rollback_of() << "}";
      }
      std::cout << "]\n";
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& h : r.history())
        rows.push_back({std::to_string(h.number()), format_time(h.applied_at()), h.author(), std::to_string(h.rules()),
                        h.message() + (h.rollback_of() ? " (rollback of " + std::to_string(h.rollback_of()) + ")" : "")});
      print_table(std::cout, {"generation", "applied", "by", "rules", "message"}, rows);
    }
  } else if (w == "status") {
    if (json) std::cout << status_json(r) << '\n';
    else print_status(r);
  } else if (w == "diff") {
    if (json) std::cout << "{\"diff\":" << json_string(r.diff_text()) << "}\n";
    else std::cout << r.diff_text();
  } else {
    if (json) std::cout << "{\"ok\":true,\"generation\":" << r.generation() << "}\n";
    else std::cout << "generation " << r.generation() << " restores generation " << a << '\n';
  }
  return kExitOk;
}

}  // namespace

void register_controlplane_commands() {
  auto& r = registry();
  r.push_back({"apply", "", "store a policy as the next generation and have every dataplane enforce it", cmd_apply});
  r.push_back({"history", "", "the generations, who applied them and why",
               [](const std::vector<std::string>& a) { return cmd_simple(a, "history"); }});
  r.push_back({"diff", "", "what changed between two generations",
               [](const std::vector<std::string>& a) { return cmd_simple(a, "diff"); }});
  r.push_back({"rollback", "", "restore an earlier generation as a new one",
               [](const std::vector<std::string>& a) { return cmd_simple(a, "rollback"); }});
  r.push_back({"status", "", "the dataplanes: connected, generation, acknowledgement latency, refusals",
               [](const std::vector<std::string>& a) { return cmd_simple(a, "status"); }});
}

}  // namespace bulkhead::cli
