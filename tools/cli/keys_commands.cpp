// `bulkhead keys generate`: CurveZMQ key pairs for the control channel.
#include <sys/stat.h>

#include <boost/program_options.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <zmq.h>

#include "tools/cli/cli.h"

namespace bulkhead::cli {
namespace po = boost::program_options;
namespace {

int cmd_generate(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string name;
  o.add_options()("file", po::value(&name)->required(), "NAME: writes NAME.key (key pair, mode 0600) and NAME.pub (the first argument; required)")(
      "json", "machine-readable output");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
                     "usage: bulkhead keys generate NAME [--json]\n\nMakes a CurveZMQ key pair: NAME.key holds both "
                     "halves (keep it secret), NAME.pub the public key to give to the other side."))
    return kExitOk;
  char pub[41] = {}, sec[41] = {};
  if (zmq_curve_keypair(pub, sec) != 0) throw UsageError("this libzmq cannot make CURVE keys");
  struct stat st {};
  if (::stat((name + ".key").c_str(), &st) == 0) throw UsageError(name + ".key exists; not overwritten");
  write_file_atomic(name + ".key", std::string("public = ") + pub + "\nsecret = " + sec + "\n", 0600);
  write_file_atomic(name + ".pub", std::string("public = ") + pub + "\n", 0644);
  if (vm.count("json"))
    std::cout << nlohmann::ordered_json({{"key", name + ".key"}, {"pub", name + ".pub"}, {"public", pub}})
                     .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
              << '\n';
  else
    std::cout << "wrote " << name << ".key (secret) and " << name << ".pub; public key " << pub << '\n';
  return kExitOk;
}

}  // namespace

void register_keys_commands() {
  registry().push_back({"keys", "generate", "make a CurveZMQ key pair for the control channel", cmd_generate});
}

}  // namespace bulkhead::cli
