// bulkhead-bench-snoop: what DNS snooping costs one worker
// (dataplane/names/snoop.h): the rate at which it reads query/answer
// exchanges and binds their addresses, for small answers and for the
// largest an answer may bind (64 addresses behind a CNAME), and how long
// keeping a full binding table in the state directory holds its lock.
//
//   bulkhead-bench-snoop [--exchanges N] [--repeat K]
//
// Frames are made here (Ethernet, IPv4, UDP, DNS); each exchange is a new
// connection of a new client, as a busy resolver's clients make them.
// Prints the median of K passes. No EAL: the stage is pure.
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "dataplane/names/policy_names.h"
#include "dataplane/names/snoop.h"
#include "proto/names.pb.h"

namespace {

namespace po = boost::program_options;
using namespace bulkhead;
using namespace bulkhead::dataplane::names;
using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, unsigned v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

void put_name(Bytes& b, const std::string& name) {
  size_t at = 0;
  while (at <= name.size()) {
    size_t dot = name.find('.', at);
    if (dot == std::string::npos) dot = name.size();
    b.push_back(static_cast<uint8_t>(dot - at));
    b.insert(b.end(), name.begin() + static_cast<long>(at), name.begin() + static_cast<long>(dot));
    at = dot + 1;
  }
  b.push_back(0);
}

// A query for `name`, or its answer: `cname` (when not empty) then
// `addresses` A records of 203.0.x.y owned by the last name.
Bytes dns(uint16_t id, const std::string& name, bool answer, const std::string& cname, unsigned addresses) {
  Bytes b;
  put16(b, id);
  put16(b, answer ? 0x8180 : 0x0100);
  put16(b, 1);
  put16(b, answer ? addresses + (cname.empty() ? 0 : 1) : 0);
  put16(b, 0);
  put16(b, 0);
  put_name(b, name);
  put16(b, 1);
  put16(b, 1);
  if (!answer) return b;
  size_t owner = 12;  // the question's name
  if (!cname.empty()) {
    put16(b, 0xc000 | 12);
    put16(b, 5);
    put16(b, 1);
    put16(b, 0);
    put16(b, 300);
    Bytes target;
    put_name(target, cname);
    put16(b, static_cast<unsigned>(target.size()));
    owner = b.size();
    b.insert(b.end(), target.begin(), target.end());
  }
  for (unsigned k = 0; k < addresses; ++k) {
    put16(b, 0xc000 | static_cast<unsigned>(owner));
    put16(b, 1);
    put16(b, 1);
    put16(b, 0);
    put16(b, 300);
    put16(b, 4);
    b.insert(b.end(), {203, 0, static_cast<uint8_t>(k >> 8), static_cast<uint8_t>(k)});
  }
  return b;
}

// Ethernet, IPv4 and UDP around `payload` (checksums are not read here).
Bytes frame(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, const Bytes& payload) {
  Bytes f(12, 0);
  put16(f, 0x0800);
  f.insert(f.end(), {0x45, 0});
  put16(f, static_cast<unsigned>(20 + 8 + payload.size()));
  f.insert(f.end(), {0, 0, 0x40, 0, 64, 17, 0, 0});
  for (uint32_t a : {src, dst}) f.insert(f.end(), {uint8_t(a >> 24), uint8_t(a >> 16), uint8_t(a >> 8), uint8_t(a)});
  put16(f, sport);
  put16(f, dport);
  put16(f, static_cast<unsigned>(8 + payload.size()));
  put16(f, 0);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

struct Exchange {
  Bytes query, answer;
  dataplane::PacketMeta qm{}, am{};
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t exchanges = 20000, repeat = 5;
  po::options_description opts("bulkhead-bench-snoop options");
  opts.add_options()("help", "this text")("exchanges", po::value(&exchanges)->default_value(exchanges),
                                          "query/answer exchanges a pass")(
      "repeat", po::value(&repeat)->default_value(repeat), "passes; the median is printed");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, opts), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  pb::CompiledRuleSet set;
  auto* r = set.add_rules();
  r->set_id("cdn");
  r->add_fqdn("*.cdn.example.net");
  auto* p = set.mutable_names()->add_trusted_resolvers();
  p->set_addr(std::string("\x0a\x00\x00\x35", 4));
  p->set_prefix_len(32);
  set.mutable_names()->set_grace_seconds(60);
  std::string error;
  const auto names = PolicyNames::build(set, error);
  if (!names) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const uint32_t resolver = 0x0a000035;
  auto run = [&](const char* what, unsigned addresses, bool cname) {
    std::vector<Exchange> ex(exchanges);
    for (uint32_t k = 0; k < exchanges; ++k) {
      const uint32_t client = 0x0a010000 + k;
      const std::string host = "h" + std::to_string(k % 1000) + (cname ? ".shop.example" : ".cdn.example.net");
      const std::string target = cname ? "e" + std::to_string(k % 1000) + ".cdn.example.net" : "";
      ex[k].query = frame(client, resolver, 40000, 53, dns(static_cast<uint16_t>(k), host, false, "", 0));
      ex[k].answer = frame(resolver, client, 53, 40000, dns(static_cast<uint16_t>(k), host, true, target, addresses));
      dataplane::parse_packet(ex[k].query.data(), static_cast<uint32_t>(ex[k].query.size()), ex[k].qm);
      dataplane::parse_packet(ex[k].answer.data(), static_cast<uint32_t>(ex[k].answer.size()), ex[k].am);
    }
    std::vector<double> rates;
    uint64_t bound = 0;
    for (uint32_t pass = 0; pass < repeat; ++pass) {
      const uint64_t secrets[6] = {pass, 2, 3, 4, 5, 6};
      BindingTable table({}, dataplane::KeyedHash::with_secrets(secrets));
      DnsSnoop snoop;
      const auto start = std::chrono::steady_clock::now();
      for (uint32_t k = 0; k < exchanges; ++k) {
        Exchange& e = ex[k];
        SnoopPacket q{e.query.data(), static_cast<uint32_t>(e.query.size()), &e.qm, 0, static_cast<int32_t>(k),
                      k * 2654435761u, pass, true, true};
        SnoopPacket a{e.answer.data(), static_cast<uint32_t>(e.answer.size()), &e.am, 0, static_cast<int32_t>(k),
                      k * 2654435761u, pass, false, false};
        snoop.read(q, *names, table, k, 100);
        snoop.read(a, *names, table, k, 100);
      }
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      rates.push_back(exchanges / s);
      bound = snoop.stats().events[static_cast<size_t>(SnoopCounter::addresses_bound)];
    }
    const double rate = median(rates);
    std::printf("%-34s %10.0f exchanges/s  %7.0f ns each  (%lu bindings made a pass)\n", what, rate, 1e9 / rate,
                static_cast<unsigned long>(bound));
  };
  run("1 A record", 1, false);
  run("CNAME, then 1 A record", 1, true);
  run("CNAME, then 64 A records", 64, true);

  // Keeping a full table: save() holds the writers' lock for the copy.
  const uint64_t secrets[6] = {1, 2, 3, 4, 5, 6};
  BindingTable table({}, dataplane::KeyedHash::with_secrets(secrets));
  for (uint32_t k = 0; table.live_bindings() < 60000 && k < 200000; ++k) {
    BindingKey key;
    key.client = {10, 1, uint8_t(k >> 8), uint8_t(k)};
    key.server = {203, 0, uint8_t(k >> 16), uint8_t(k >> 4)};
    table.bind(key, "h" + std::to_string(k % 10000) + ".cdn.example.net", 100, 1000);
  }
  std::vector<double> times;
  pb::NameBindings out;
  for (uint32_t pass = 0; pass < repeat; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    table.save(100, 1'700'000'000, out);
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::printf("save() of %u bindings: %.2f ms (the writers' lock held a bucket at a time); %zu bytes encoded; table %zu bytes\n",
              table.live_bindings(), median(times), out.ByteSizeLong(), table.memory_bytes());
  return 0;
}
