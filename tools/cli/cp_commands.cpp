// Commands that talk to the control plane: apply, history, diff, rollback,
// renumber, status. They share the CLI's structure; the endpoint comes from
// --controlplane, else $BULKHEAD_CONTROLPLANE, else the local ipc socket. A
// tcp:// endpoint is reached with CurveZMQ: $BULKHEAD_CLI_KEY names this
// operator's key pair, $BULKHEAD_CONTROLPLANE_KEY the control plane's
// public key.
//
// --json prints the control plane's reply as protobuf's JSON mapping
// (field names as in proto/bulkhead.proto; 64-bit numbers are strings).
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdlib>
#include <google/protobuf/util/json_util.h>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>
#include <zmq.hpp>

#include "common/keys.h"
#include "common/request_id.h"
#include "common/text.h"
#include "controlplane/cli_client.h"
#include "controlplane/store.h"
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
  o.add_options()("controlplane", po::value<std::string>(), kControlplaneHelp)("json", "machine-readable output");
}

// The CurveZMQ keys for a remote control plane.
void set_curve(controlplane::CliCall& how, const std::string& endpoint) {
  const char* own = std::getenv("BULKHEAD_CLI_KEY");
  const char* server = std::getenv("BULKHEAD_CONTROLPLANE_KEY");
  if (!own || !*own || !server || !*server)
    throw UsageError("the control plane at " + endpoint +
                     " is remote: set BULKHEAD_CLI_KEY (your key pair file) and BULKHEAD_CONTROLPLANE_KEY (its public "
                     "key file)");
  common::CurveKeys theirs;
  std::string error;
  if (!common::read_curve_keys(own, true, how.own, error) || !common::read_curve_keys(server, false, theirs, error))
    throw UsageError(error);
  how.server_key = theirs.public_key;
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
  // Every change carries an id, so that sending it again (after a timeout,
  // or to a new leader) never stores it twice.
  if (controlplane::changes_store(req) && req.request_id().empty()) req.set_request_id(common::new_request_id());
  // Only a claim: the control plane records who it knows sent the request
  // (the socket's peer uid, or the operator key) and keeps this beside it.
  const char* user = std::getenv("USER");
  req.set_author(std::string(user ? user : "uid" + std::to_string(getuid())) + "@" + [] {
    char h[256] = {};
    gethostname(h, sizeof(h) - 1);
    return std::string(h);
  }());
  controlplane::CliCall how;
  // A flow query may be answered by ClickHouse over many stored days: it
  // gets longer than the control plane gives ClickHouse (120 s).
  how.answer_timeout = std::chrono::milliseconds(req.has_flows() ? 150000 : 30000);
  if (endpoint.rfind("tcp://", 0) == 0) set_curve(how, endpoint);
  zmq::context_t ctx(1);
  pb::CliResponse r;
  std::string error;
  switch (controlplane::call_cli(ctx, endpoint, req, how, r, error)) {
    case controlplane::CliCallOutcome::answered:
      return r;
    case controlplane::CliCallOutcome::not_sent:
      throw UsageError("control plane not reachable at " + endpoint + " (" + error + ")");
    case controlplane::CliCallOutcome::no_answer:
    case controlplane::CliCallOutcome::malformed:
      break;
  }
  throw UsageError("no answer from the control plane at " + endpoint + " (" + error + ")" +
                   (req.request_id().empty()
                        ? std::string()
                        : "; the change may have been stored: the same command with --request-id " +
                              req.request_id() + " stores it at most once"));
}

namespace {

pb::CliResponse call(const std::string& endpoint, const pb::CliRequest& req) { return controlplane_call(endpoint, req); }

// A reply as JSON (protobuf's mapping, every field present).
nlohmann::ordered_json message_json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(m, &text, o).ok()) throw UsageError("cannot print the reply as JSON");
  return nlohmann::ordered_json::parse(text);
}

void print_json(const nlohmann::ordered_json& j) {
  std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

const char* state_name(pb::DataplaneState s) {
  switch (s) {
    case pb::ENFORCED: return "enforced";
    case pb::PENDING: return "pending";
    case pb::REFUSED: return "refused";
    case pb::UNREACHABLE: return "unreachable";
    default: return "-";
  }
}

void print_status(const pb::CliResponse& r) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : r.dataplanes())
    rows.push_back({d.id().empty() ? "-" : d.id(), d.key_name(), state_name(d.state()),
                    d.insertion().mode().empty() ? "-" : common::escaped(d.insertion().mode()),
                    std::to_string(d.generation()),
                    d.address().empty() ? "-" : d.address(), format_time(d.acked_at()),
                    d.ack_latency_us() ? std::to_string(d.ack_latency_us() / 1000.0).substr(0, 6) + " ms" : "-",
                    std::to_string(d.rejected_messages()) + "/" + std::to_string(d.refused_messages()),
                    d.reason().empty() ? (d.last_nack().empty() ? "-" : "last refusal: " + d.last_nack()) : d.reason()});
  std::cout << "current generation " << r.current() << '\n';
  // Control planes sharing an etcd store: who leads, and the standbys.
  if (r.controllers_size() > 0 || r.standby()) {
    std::cout << "store " << r.store() << ", leader term " << r.leader_term()
              << (r.standby() ? "; this control plane is a STANDBY (it answers reads; changes go to the leader)" : "")
              << '\n';
    std::vector<std::vector<std::string>> controllers;
    for (const auto& c : r.controllers())
      controllers.push_back({common::escaped(c.id()), c.leader() ? "leader" : "standby", common::escaped(c.cli()),
                             common::escaped(c.listen()), format_time(c.started_at())});
    print_table(std::cout, {"controller", "role", "cli", "dataplanes on", "started"}, controllers);
  }
  print_table(std::cout,
              {"dataplane", "key", "state", "insertion", "generation", "address", "acked", "ack latency",
               "refused (by it/of it)", "why"},
              rows);
  // One-armed dataplanes: each tunnel's receive count, and every other
  // insertion counter that is not zero.
  for (const auto& d : r.dataplanes()) {
    if (d.insertion().counters_size() == 0) continue;
    std::cout << "tunnels of " << common::escaped(d.id().empty() ? d.key_name() : d.id()) << " ("
              << common::escaped(d.insertion().mode()) << "):";
    for (const auto& c : d.insertion().counters()) {
      const bool tunnel = c.name().size() > 9 && c.name().compare(c.name().size() - 9, 9, "_received") == 0;
      if ((tunnel && (c.name() == "tunnel_received" || d.insertion().mode() == "vxlan")) || c.value() != 0)
        std::cout << ' ' << common::escaped(c.name()) << '=' << c.value();
    }
    std::cout << '\n';
  }
  // Dataplanes with rules written with names: their bindings, the answers
  // that made them, and every other names counter that is not zero.
  for (const auto& d : r.dataplanes()) {
    if (d.names_size() == 0) continue;
    std::cout << "names of " << common::escaped(d.id().empty() ? d.key_name() : d.id()) << ":";
    for (const auto& c : d.names())
      if (c.name() == "bindings_live" || c.name() == "answers_bound" || c.value() != 0)
        std::cout << ' ' << common::escaped(c.name()) << '=' << c.value();
    std::cout << '\n';
  }
  if (!r.store_behind().empty()) std::cout << "STORE BEHIND: " << r.store_behind() << '\n';
  if (r.refused_messages()) std::cout << r.refused_messages() << " dataplane messages refused (see the control plane's log)\n";
  if (r.has_flow_store()) {
    const auto& f = r.flow_store();
    // In ClickHouse the aggregates are shared and counted there (its line
    // below); in memory, this control plane's own.
    if (f.has_clickhouse()) std::cout << "flow store: " << f.records();
    else std::cout << "flow store: " << f.aggregates() << " flows (capacity " << f.capacity() << "), " << f.records();
    std::cout << " records received, " << f.rejected_records() << " records and " << f.rejected_batches()
              << " batches refused, " << f.lost_by_dataplanes() << " lost by dataplanes, " << f.evicted() << " evicted, "
              << f.suppressed_by_dataplanes() << " denied-packet records not made (over the dataplanes' rate)\n";
    if (f.has_clickhouse()) {
      const auto& c = f.clickhouse();
      std::cout << "flow store " << c.url() << ": " << (c.connected() ? "connected" : "not connected") << ", "
                << c.records_inserted() << " records inserted (" << c.rows_inserted() << " rows, " << c.batches_inserted()
                << " batches), " << c.records_buffered() << " buffered (room for " << c.buffer_limit()
                << " aggregates), " << c.dropped_buffer() << " dropped with the buffer full, " << c.dropped_errors()
                << " refused by ClickHouse, " << c.insert_errors() << " inserts failed, " << c.rows_stored()
                << " rows stored, " << c.partitions_dropped() << " days dropped for retention"
                << (c.last_error().empty() ? "" : "; last error: " + c.last_error()) << '\n';
    }
    if (f.has_log()) {
      const auto& l = f.log();
      std::cout << "flow log " << l.path() << ": " << l.records() << " lines written, " << l.dropped_rate()
                << " dropped over the rate cap (" << l.rate() << " a second per class), " << l.dropped_errors()
                << " lost to write errors, " << l.rotations() << " rotations (" << (l.max_file_bytes() >> 20)
                << " MiB files, " << l.keep_files() << " kept)" << (l.last_error().empty() ? "" : "; last error: " + l.last_error())
                << '\n';
    }
    if (f.has_syslog()) {
      const auto& s = f.syslog();
      std::cout << "flow syslog " << s.target() << ": " << s.messages() << " messages sent, " << s.dropped_queue()
                << " dropped with the queue full (" << s.queue_limit() << "), " << s.dropped_errors()
                << " lost to send errors, " << s.queued() << " queued, "
                << (s.connected() ? "connected" : "not connected")
                << (s.last_error().empty() ? "" : "; last error: " + s.last_error()) << '\n';
    }
  }
}

pb::CliResponse status(const std::string& ep) {
  pb::CliRequest q;
  q.mutable_status();
  return call(ep, q);
}

// Waits until every configured dataplane has decided on `generation`:
// enforces it, refused it, or is unreachable. Returns the last status.
pb::CliResponse wait_for(const std::string& ep, uint64_t generation, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    pb::CliResponse r = status(ep);
    bool decided = r.current() == generation;
    for (const auto& d : r.dataplanes())
      if (d.state() == pb::PENDING) decided = false;
    if (decided || r.current() != generation || std::chrono::steady_clock::now() >= end) return r;
    // Acknowledgements take milliseconds; the local status call is cheap.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool all_enforce(const pb::CliResponse& st, uint64_t generation) {
  if (st.current() != generation || st.dataplanes_size() == 0) return false;
  for (const auto& d : st.dataplanes())
    if (d.state() != pb::ENFORCED) return false;
  return true;
}

// After a new generation was stored: waits, then tells the truth about
// every configured dataplane. 0 when every one enforces it, else 1.
int report_distribution(const std::string& ep, const pb::CliResponse& r, double wait, bool json,
                        const std::string& done) {
  const auto st = wait > 0 ? wait_for(ep, r.generation(), wait) : status(ep);
  const bool enforced = all_enforce(st, r.generation());
  // A change stored before (the same request id) and followed since by
  // another: it was applied; what the dataplanes run now is the later one.
  const bool superseded = r.already_applied() && st.current() != r.generation();
  const int code = enforced || superseded ? kExitOk : kExitNo;
  if (json) {
    // The reply that stored the generation, with the outcome beside it.
    nlohmann::ordered_json j = message_json(r);
    j["enforced"] = enforced;
    j["status"] = message_json(st);
    print_json(j);
    return code;
  }
  if (r.already_applied())
    std::cout << "already applied as generation " << r.generation() << " (request " << r.request_id()
              << "): nothing stored again\n";
  int n_enforced = 0;
  for (const auto& d : st.dataplanes()) n_enforced += d.state() == pb::ENFORCED;
  if (superseded)
    std::cout << "generation " << r.generation() << " has been followed by others: the current one is " << st.current()
              << '\n';
  else
    std::cout << done << " generation " << r.generation() << ": enforced by " << n_enforced << " of "
              << st.dataplanes_size() << " dataplanes" << (enforced ? "" : " (NOT enforced everywhere)") << '\n';
  print_status(st);
  return code;
}

// Prints a refused request's errors (or with --json the reply) and returns
// true; else prints the warnings and returns false. Either way it says when
// a standby passed the request on to the leader.
bool refused(const pb::CliResponse& r, bool json) {
  if (!r.ok() && json) print_json(message_json(r));
  if (json) return !r.ok();
  if (!r.forwarded_by().empty())
    std::cerr << "forwarded by the standby " << common::escaped(r.forwarded_by()) << " to the leader "
              << common::escaped(r.forwarded_to()) << '\n';
  for (const auto& e : r.errors()) std::cerr << e << '\n';
  for (const auto& w : r.warnings()) std::cerr << "warning: " << w << '\n';
  return !r.ok();
}

void add_request_id(po::options_description& o) {
  o.add_options()("request-id", po::value<std::string>(),
                  "this change's id, 32 hex digits or a UUID (default: 128 fresh random bits): sent again, the "
                  "same id is answered with the generation it made, never stored twice");
}

// --request-id in its canonical form; "" when absent (a fresh one is drawn
// when the request is sent).
std::string request_id_of(const po::variables_map& vm) {
  if (!vm.count("request-id")) return {};
  const auto& text = vm["request-id"].as<std::string>();
  const auto id = common::parse_request_id(text);
  if (!id)
    throw UsageError("--request-id: \"" + common::escaped(text) + "\" is not a request id (32 hex digits, or a UUID)");
  return *id;
}

}  // namespace

int apply_source(const std::string& ep, const std::string& name, const std::string& text, const std::string& message,
                 bool force, double wait, bool json, bool renumber, const std::string& request_id) {
  pb::CliRequest q;
  q.set_request_id(request_id);
  q.mutable_apply()->set_source_name(name);
  q.mutable_apply()->set_source_text(text);
  q.mutable_apply()->set_message(message);
  q.mutable_apply()->set_force(force);
  q.mutable_apply()->set_renumber(renumber);
  const auto r = call(ep, q);
  if (refused(r, json)) return kExitUsage;
  return report_distribution(ep, r, wait, json, "applied");
}

namespace {

int cmd_apply(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string file, message;
  double wait = 10;
  o.add_options()("file", po::value(&file)->required(), "the policy file (the first argument; required)")(
      "message,m", po::value(&message), "why, kept in the history (none by default)")("force", "apply even when the analysis finds errors")(
      "renumber", "number the generation past the newest one any dataplane runs (a store behind its dataplanes)")(
      "wait", po::value(&wait)->default_value(10),
      "seconds to wait for every dataplane to enforce or refuse it (0: do not wait)");
  add_request_id(o);
  add_common(o);
  po::variables_map vm;
  if (!parse_command(args, o, vm, "usage: bulkhead apply FILE [-m MESSAGE] [--force] [--renumber] [--wait S] [--request-id ID] [--json] [--controlplane EP]\n\n"
                                  "Validates, analyses and stores the policy as the next generation, then every "
                                  "dataplane enforces it; prints each configured dataplane as enforced, refused (and "
                                  "why) or unreachable. Exit 0 stored and enforced by every configured dataplane, 1 "
                                  "stored but not enforced by every one within --wait, 2 refused. Sent again with "
                                  "the same --request-id, it is answered with the generation it made."))
    return kExitOk;
  const std::string request_id = request_id_of(vm);
  return apply_source(endpoint_of(vm), file, read_input(file), message, vm.count("force") > 0, wait,
                      vm.count("json") > 0, vm.count("renumber") > 0, request_id);
}

int cmd_simple(const std::vector<std::string>& args, const std::string& which) {
  po::options_description o("options");
  add_common(o);
  uint64_t a = 0, b = 0;
  std::string message;
  double wait = 10;
  if (which == "diff")
    o.add_options()("file", po::value(&a), "from this generation (the first argument; default: the one before --to)")(
        "to", po::value(&b), "to this generation (default: the current one)");
  if (which == "rollback")
    o.add_options()("file", po::value(&a)->required(), "the generation to restore (the first argument; required)")(
        "message,m", po::value(&message), "why, kept in the history (default: \"rollback to generation GEN\")");
  if (which == "renumber")
    o.add_options()("message,m", po::value(&message),
                    "why, kept in the history (default: \"renumbered past generation N run by the dataplanes\")");
  if (which == "rollback" || which == "renumber") {
    o.add_options()("wait", po::value(&wait)->default_value(10),
                    "seconds to wait for every dataplane to enforce or refuse it (0: do not wait)");
    add_request_id(o);
  }
  po::variables_map vm;
  const std::string usage =
      "usage: bulkhead " + which +
      (which == "diff"       ? " [FROM] [--to TO]"
       : which == "rollback" ? " GEN [-m MESSAGE] [--wait S] [--request-id ID]"
       : which == "renumber" ? " [-m MESSAGE] [--wait S] [--request-id ID]\n\nStores the current policy again as a generation numbered "
                               "past the newest one any dataplane runs: the way back for a store that is behind its "
                               "dataplanes (lost, or restored from an old copy). Exit codes as for apply."
                             : "") +
      (which == "renumber" ? "" : " [--json] [--controlplane EP]");
  if (!parse_command(args, o, vm, usage.c_str())) return kExitOk;
  pb::CliRequest q;
  q.set_request_id(request_id_of(vm));
  if (which == "history") q.mutable_history();
  else if (which == "status") q.mutable_status();
  else if (which == "renumber") q.mutable_renumber()->set_message(message);
  else if (which == "diff") {
    q.mutable_diff()->set_from(a);
    q.mutable_diff()->set_to(b);
  } else {
    q.mutable_rollback()->set_generation(a);
    q.mutable_rollback()->set_message(message.empty() ? "rollback to generation " + std::to_string(a) : message);
  }
  const std::string ep = endpoint_of(vm);
  const auto r = call(ep, q);
  const bool json = vm.count("json") > 0;
  if (refused(r, json)) return kExitUsage;
  if (which == "rollback" || which == "renumber")
    return report_distribution(ep, r, wait, json,
                               which == "rollback" ? "generation " + std::to_string(r.generation()) +
                                                         " restores generation " + std::to_string(a) + "; stored"
                                                   : "renumbered: stored");
  // status: 0 only when every configured dataplane enforces the current
  // generation.
  const int status_exit = all_enforce(r, r.current()) ? kExitOk : kExitNo;
  if (json) {
    print_json(message_json(r));
    return which == "status" ? status_exit : kExitOk;
  }
  if (which == "history") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& h : r.history())
      rows.push_back({std::to_string(h.number()), format_time(h.applied_at()),
                      h.author() + (h.claimed_author().empty() ? "" : " as " + h.claimed_author()),
                      std::to_string(h.rules()),
                      h.message() + (h.rollback_of() ? " (rollback of " + std::to_string(h.rollback_of()) + ")" : "") +
                          (h.renumbered_from() ? " (renumbered from " + std::to_string(h.renumbered_from()) + ")"
                                               : "")});
    print_table(std::cout, {"generation", "applied", "by", "rules", "message"}, rows);
  } else if (which == "status") {
    print_status(r);
    return status_exit;
  } else {
    std::cout << r.diff_text();
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
  r.push_back({"renumber", "", "number the store past the generation its dataplanes run (a store behind them)",
               [](const std::vector<std::string>& a) { return cmd_simple(a, "renumber"); }});
  r.push_back({"status", "", "each configured dataplane: enforced, pending, refused or unreachable, and why",
               [](const std::vector<std::string>& a) { return cmd_simple(a, "status"); }});
}

}  // namespace bulkhead::cli
