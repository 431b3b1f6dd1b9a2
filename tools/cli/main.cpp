// bulkhead: the rule-management CLI.
//
//   bulkhead GROUP COMMAND [options]      bulkhead GROUP COMMAND --help
#include <iostream>

#include <boost/program_options/errors.hpp>

#include "common/protobuf_log.h"
#include "tools/cli/cli.h"

namespace {

void usage(std::ostream& out) {
  out << "usage: bulkhead GROUP COMMAND [options]   (COMMAND --help for its options)\n\ncommands:\n";
  for (const auto& c : bulkhead::cli::registry())
    out << "  " << c.group << (c.name.empty() ? " " : " " + c.name)
        << std::string(c.group.size() + c.name.size() < 26 ? 26 - c.group.size() - c.name.size() : 1, ' ') << c.summary
        << '\n';
  out << "\nexit codes: 0 ok, 1 denied or findings, 2 usage or input error\n";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace bulkhead::cli;
  // What a dataplane or the control plane answers is read with protobuf,
  // which logs each string of invalid UTF-8 it refuses: limited as in the
  // daemons, so a broken peer cannot flood the terminal.
  bulkhead::common::limit_protobuf_logs("bulkhead");
  register_policy_commands();
  register_rule_commands();
  register_keys_commands();
  register_controlplane_commands();
  register_learn_commands();
  register_capture_commands();
  register_names_commands();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    usage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string group = args[0];
  const std::string name = args.size() > 1 ? args[1] : "";
  bool group_known = false;
  for (const auto& c : registry()) {
    if (c.group != group) continue;
    group_known = true;
    // A command without a name is the group itself: `bulkhead apply FILE`.
    if (!c.name.empty() && c.name != name) continue;
    try {
      return c.run(std::vector<std::string>(args.begin() + (c.name.empty() ? 1 : 2), args.end()));
    } catch (const UsageError& e) {
      std::cerr << "bulkhead: " << e.what() << '\n';
      return kExitUsage;
    } catch (const boost::program_options::error& e) {
      std::cerr << "bulkhead " << group << ' ' << name << ": " << e.what() << " (see --help)\n";
      return kExitUsage;
    } catch (const std::exception& e) {
      std::cerr << "bulkhead: " << e.what() << '\n';
      return kExitUsage;
    }
  }
  if (group_known && (name.empty() || name == "--help" || name == "-h")) {
    std::cout << "commands of '" << group << "':\n";
    for (const auto& c : registry())
      if (c.group == group) std::cout << "  " << c.group << ' ' << c.name << "  " << c.summary << '\n';
    return name.empty() ? kExitUsage : kExitOk;
  }
  std::cerr << "bulkhead: unknown command '" << group << (name.empty() ? "" : " " + name)
            << "' (bulkhead --help lists them)\n";
  return kExitUsage;
}
