// The `bulkhead` command line: a registry of commands grouped as
// `bulkhead GROUP COMMAND [options]`, with the output and exit-code
// conventions every command shares.
//
// Exit codes: 0 ok; 1 the answer is "no" (denied, findings); 2 usage or
// input error. Errors are one line on stderr: "bulkhead: WHAT".
#pragma once

#include <boost/program_options.hpp>
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_write.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitNo = 1;
inline constexpr int kExitUsage = 2;

// Thrown for usage and input errors; main prints it and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Command {
  std::string group;
  std::string name;
  std::string summary;
  // args: everything after GROUP COMMAND.
  std::function<int(const std::vector<std::string>& args)> run;
};

std::vector<Command>& registry();
void register_policy_commands();
void register_rule_commands();
void register_keys_commands();
void register_controlplane_commands();

// The control plane's CLI endpoint: `flag` when given, else
// $BULKHEAD_CONTROLPLANE, else the local ipc socket.
std::string controlplane_endpoint(const std::string& flag);
// The --controlplane option's help, with that default.
inline constexpr const char* kControlplaneHelp =
    "control plane CLI endpoint (default: $BULKHEAD_CONTROLPLANE, else ipc:///run/bulkhead/controlplane.sock)";
// One request to the control plane; throws UsageError when it cannot be
// reached or answers nonsense.
pb::CliResponse controlplane_call(const std::string& endpoint, pb::CliRequest req);

// Stores `text` as the next generation through the control plane (numbered
// past the dataplanes' newest with `renumber`), waits up to `wait` seconds
// for every configured dataplane to enforce or refuse it, and prints each
// one's state; returns the exit code (0 enforced by every configured
// dataplane, 1 not, 2 refused). `request_id` ("": a fresh one) names the
// change: a generation stored under it already is the answer.
int apply_source(const std::string& endpoint, const std::string& name, const std::string& text,
                 const std::string& message, bool force, double wait, bool json, bool renumber = false,
                 const std::string& request_id = "");
void register_learn_commands();
void register_capture_commands();
void register_names_commands();

// The --tenant option's error for a name the policy does not define:
// "--tenant: the policy has no tenant 'x' (it defines blue, red)".
UsageError unknown_tenant(const std::string& name, const std::vector<std::string>& known);

// "2026-11-24 10:00:00Z" for unix seconds; "-" for 0.
std::string format_time(int64_t unix_seconds);

// Prints rows as an aligned text table with a header.
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

// Parses a command's arguments with `opts`, FILE being the first positional
// argument, and adds --help. Returns false after printing the help.
bool parse_command(const std::vector<std::string>& args, boost::program_options::options_description& opts,
                   boost::program_options::variables_map& vm, const char* usage);

// Reads a whole file ("-": standard input); throws UsageError.
std::string read_input(const std::string& path);

// Writes `content` to `path` as common::write_file does ("-": standard
// output; a device or FIFO in place; a regular file atomically); throws
// UsageError.
void write_file_atomic(const std::string& path, const std::string& content, mode_t mode = common::kDefaultFileMode);

}  // namespace bulkhead::cli
