// bulkhead-flow-feed: sends synthetic flow records to a control plane's
// flow listener as a dataplane would (PUSH, CurveZMQ, FlowBatch messages),
// for the tests and benchmarks of the flow stores.
//
//   bulkhead-flow-feed --to tcp://127.0.0.1:7301 --server-key cp.pub --key dp.key
//                      [--records N] [--keys K] [--batch B] [--seconds S] [--id NAME]
//
// Record i is a connection (a START record, allowed in enforce mode, so
// learnable) of key i mod K: K distinct (client, server, port) aggregates
// over 10.1/16 clients, 10.2/20 servers and eight ports (key i to the
// (i mod 8)th for the first 64K keys), so a store that
// kept everything holds K aggregates and N connections in all. With
// --seconds the records are spread evenly over that long (a flood of a
// known rate); without, they go as fast as the socket takes them. Prints
// "sent N records in T s (R/s)".
#include <boost/program_options.hpp>
#include <chrono>
#include <iostream>
#include <thread>
#include <zmq.hpp>

#include "common/keys.h"
#include "proto/bulkhead.pb.h"

namespace {

std::string ip(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  std::string to, server_key, key, id = "feed";
  uint64_t records = 100'000, keys = 1000, batch = 1024;
  double seconds = 0;
  po::options_description o("bulkhead-flow-feed [options]");
  o.add_options()("help,h", "show this help")("to", po::value(&to)->required(), "the control plane's --flow-listen")(
      "server-key", po::value(&server_key)->required(), "its public key file")(
      "key", po::value(&key)->required(), "a dataplane key pair file it admits")(
      "records", po::value(&records)->default_value(records), "records to send")(
      "keys", po::value(&keys)->default_value(keys), "distinct aggregates they make")(
      "batch", po::value(&batch)->default_value(batch), "records a message")(
      "seconds", po::value(&seconds)->default_value(0), "spread them over this long (0: as fast as possible)")(
      "id", po::value(&id)->default_value(id), "the dataplane id the batches carry");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, o), vm);
    if (vm.count("help")) {
      std::cout << o << '\n';
      return 0;
    }
    po::notify(vm);
    if (keys == 0 || batch == 0) throw po::error("--keys and --batch: at least 1");
  } catch (const po::error& e) {
    std::cerr << "bulkhead-flow-feed: " << e.what() << '\n';
    return 2;
  }
  bulkhead::common::CurveKeys server, own;
  std::string error;
  if (!bulkhead::common::read_curve_keys(server_key, false, server, error) ||
      !bulkhead::common::read_curve_keys(key, true, own, error)) {
    std::cerr << "bulkhead-flow-feed: " << error << '\n';
    return 1;
  }
  zmq::context_t ctx(1);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  push.set(zmq::sockopt::curve_serverkey, server.public_key);
  push.set(zmq::sockopt::curve_publickey, own.public_key);
  push.set(zmq::sockopt::curve_secretkey, own.secret_key);
  push.set(zmq::sockopt::sndhwm, 64);
  push.set(zmq::sockopt::linger, 10'000);
  push.connect(to);

  static const uint16_t kPorts[] = {22, 53, 80, 443, 3306, 5432, 6379, 8080};
  const auto start = std::chrono::steady_clock::now();
  uint64_t sent = 0, sequence = 0;
  bulkhead::pb::FlowBatch b;
  while (sent < records) {
    b.Clear();
    b.set_version(1);
    b.set_dataplane_id(id);
    b.set_sequence(++sequence);
    const int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    for (uint64_t n = 0; n < batch && sent < records; ++n, ++sent) {
      const uint64_t k = sent % keys;
      auto* r = b.add_records();
      r->set_kind(bulkhead::pb::FlowRecord::START);
      r->set_time_ms(now_ms);
      r->set_start_ms(now_ms);
      r->set_src(ip(0x0A010000u | static_cast<uint32_t>(k % 65536)));
      r->set_dst(ip(0x0A020000u | static_cast<uint32_t>((k / 65536 * 977 + k) % 4096)));
      r->set_protocol(6);
      r->set_src_port(40000 + static_cast<uint32_t>(sent % 20000));
      r->set_dst_port(kPorts[(k + k / 65536) % 8]);
      r->set_verdict(bulkhead::pb::FlowRecord::ALLOWED);
      r->set_mode("enforce");
      r->set_opener_known(true);
    }
    push.send(zmq::buffer(b.SerializeAsString()), zmq::send_flags::none);
    if (seconds > 0) {
      const auto due = start + std::chrono::duration<double>(seconds * static_cast<double>(sent) / static_cast<double>(records));
      std::this_thread::sleep_until(due);
    }
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "sent " << sent << " records in " << took << " s (" << static_cast<uint64_t>(sent / std::max(took, 1e-9))
            << "/s)" << std::endl;
  return 0;
}
