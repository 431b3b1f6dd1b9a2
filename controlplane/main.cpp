// bulkhead-controlplane: keeps the versioned policy and distributes it.
//
//   bulkhead-controlplane --config FILE | --store DIR --key cp.key --dataplane-key dp.pub ...
#include <csignal>
#include <fstream>
#include <iostream>

#include <boost/program_options.hpp>

#include "server.h"

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  using bulkhead::controlplane::Server;
  using bulkhead::controlplane::ServerConfig;
  ServerConfig cfg;
  po::options_description o("bulkhead-controlplane [options]");
  // clang-format off
  o.add_options()
    ("help,h", "show this help")
    ("config", po::value<std::string>(), "read options from FILE (key = value lines)")
    ("store", po::value(&cfg.store_dir)->required(), "policy store directory")
    ("listen", po::value(&cfg.listen)->default_value(cfg.listen), "endpoint for dataplanes (CURVE)")
    ("key", po::value(&cfg.key_file)->required(), "this control plane's key pair file")
    ("dataplane-key", po::value(&cfg.dataplane_keys)->composing(), "public key file of an admitted dataplane (repeat)")
    ("cli", po::value(&cfg.cli)->default_value(cfg.cli), "endpoint for the bulkhead CLI (ipc:// path, mode 0600)");
  // clang-format on
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, o), vm);
    if (vm.count("help")) {
      std::cout << o << '\n';
      return 0;
    }
    if (vm.count("config")) {
      std::ifstream in(vm["config"].as<std::string>());
      if (!in) {
        std::cerr << "bulkhead-controlplane: cannot read " << vm["config"].as<std::string>() << '\n';
        return 1;
      }
      po::store(po::parse_config_file(in, o), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "bulkhead-controlplane: " << e.what() << " (see --help)\n";
    return 1;
  }
  std::string error;
  auto server = Server::create(cfg, error);
  if (!server) {
    std::cerr << "bulkhead-controlplane: " << error << '\n';
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cout << "bulkhead-controlplane: ready: dataplanes on " << cfg.listen << ", CLI on " << cfg.cli << std::endl;
  server->run(g_stop);
  return 0;
}
