// bulkhead-bench-classify: what one classification costs the fast path,
// over a ClassBench rule set and its header trace, with and without a rule
// written with names in the set.
//
//   bulkhead-bench-classify --rules FILE --trace FILE [--repeat K] [--keys N]
//
// Builds the dataplane's classifier (RuleSet) from the ClassBench rules as
// they are ("plain"), then from the same rules with one `fqdn` rule before
// them ("names": every context that holds its entries looks at the two name
// fields), and classifies the trace's first N headers in bursts of 32, as a
// worker does for first packets (name fields all ones). Prints the median
// of K passes in TSC cycles a key. Only figures of one run compare.
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>

#include "dataplane/acl_key.h"
#include "dataplane/eal_runtime.h"
#include "dataplane/ruleset.h"

namespace {

namespace po = boost::program_options;
using namespace bulkhead;

bool parse_prefix(std::istream& in, pb::Prefix& p) {
  std::string text;
  if (!(in >> text)) return false;
  if (!text.empty() && text[0] == '@') text.erase(0, 1);
  const auto slash = text.find('/');
  uint8_t addr[4];
  if (slash == std::string::npos || inet_pton(AF_INET, text.substr(0, slash).c_str(), addr) != 1) return false;
  p.set_addr(addr, 4);
  p.set_prefix_len(static_cast<uint32_t>(std::stoul(text.substr(slash + 1))));
  return true;
}

bool parse_range(std::istream& in, pb::PortRange& r) {
  uint32_t lo = 0, hi = 0;
  char colon = 0;
  if (!(in >> lo >> colon >> hi) || colon != ':') return false;
  r.set_lo(lo);
  r.set_hi(hi);
  return true;
}

pb::CompiledRuleSet read_rules(const std::string& path) {
  pb::CompiledRuleSet set;
  set.set_format_version(1);
  set.set_default_action(pb::ACTION_DENY);
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    std::istringstream in(line);
    pb::CompiledRule r;
    pb::Prefix src, dst;
    pb::PortRange sp, dp;
    std::string proto;
    if (!parse_prefix(in, src) || !parse_prefix(in, dst) || !parse_range(in, sp) || !parse_range(in, dp) ||
        !(in >> proto))
      continue;
    r.set_id("r" + std::to_string(set.rules_size()));
    r.set_action(pb::ACTION_ALLOW);
    r.set_v4(true);
    if (src.prefix_len() != 0) *r.add_src() = src;
    if (dst.prefix_len() != 0) *r.add_dst() = dst;
    if (sp.lo() != 0 || sp.hi() != 65535) *r.add_sports() = sp;
    if (dp.lo() != 0 || dp.hi() != 65535) *r.add_dports() = dp;
    const auto slash = proto.find('/');
    const unsigned long value = std::stoul(proto.substr(0, slash), nullptr, 16);
    const unsigned long mask = slash == std::string::npos ? 0xff : std::stoul(proto.substr(slash + 1), nullptr, 16);
    if (mask == 0) r.set_any_proto(true);
    else r.set_proto(static_cast<uint32_t>(value));
    *set.add_rules() = std::move(r);
  }
  return set;
}

std::vector<dataplane::AclKey4> read_trace(const std::string& path, size_t most) {
  std::vector<dataplane::AclKey4> keys;
  std::ifstream f(path);
  std::string line;
  while (keys.size() < most && std::getline(f, line)) {
    std::istringstream in(line);
    uint32_t src = 0, dst = 0, sp = 0, dp = 0, proto = 0;
    if (!(in >> src >> dst >> sp >> dp >> proto)) continue;
    dataplane::FlowTuple t{};
    t.family = 4;
    t.proto = static_cast<uint8_t>(proto);
    const uint32_t s = htonl(src), d = htonl(dst);
    std::memcpy(t.src, &s, 4);
    std::memcpy(t.dst, &d, 4);
    t.sport = static_cast<uint16_t>(sp);
    t.dport = static_cast<uint16_t>(dp);
    keys.emplace_back();
    dataplane::make_acl_key(t, 0, keys.back());
  }
  return keys;
}

// Median TSC cycles a key over `repeat` passes, bursts of 32.
double cycles_a_key(const dataplane::RuleSet& rs, const std::vector<dataplane::AclKey4>& keys, int repeat,
                    uint64_t& checksum) {
  constexpr size_t kBurst = 32;
  std::vector<const dataplane::AclKey4*> ptrs(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) ptrs[i] = &keys[i];
  std::vector<double> runs;
  uint32_t out[kBurst];
  for (int k = 0; k < repeat; ++k) {
    const uint64_t t0 = rte_rdtsc_precise();
    for (size_t first = 0; first < keys.size(); first += kBurst) {
      const auto n = static_cast<uint32_t>(std::min(kBurst, keys.size() - first));
      rs.classify4(ptrs.data() + first, n, out);
      for (uint32_t i = 0; i < n; ++i) checksum += out[i];
    }
    runs.push_back(static_cast<double>(rte_rdtsc_precise() - t0) / static_cast<double>(keys.size()));
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string rules_path, trace_path;
  int repeat = 11;
  size_t most = 100000;
  po::options_description opts("bulkhead-bench-classify");
  opts.add_options()("rules", po::value(&rules_path)->required(), "ClassBench rule file")(
      "trace", po::value(&trace_path)->required(), "ClassBench header trace")(
      "repeat", po::value(&repeat)->default_value(repeat), "passes over the trace (median taken)")(
      "keys", po::value(&most)->default_value(most), "headers read from the trace at most");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << e.what() << '\n' << opts;
    return 2;
  }
  std::vector<std::string> eal = {"bulkhead-bench-classify", "--no-huge", "-m", "4096", "--no-pci",
                                  "--no-telemetry", "--log-level=*:warning", "--file-prefix=bh_bench_classify_" + std::to_string(getpid()), "-l", "0"};
  std::vector<char*> eal_argv;
  for (auto& a : eal) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::cerr << "EAL init failed\n";
    return 1;
  }
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  const pb::CompiledRuleSet plain = read_rules(rules_path);
  pb::CompiledRuleSet with_names = plain;
  pb::CompiledRule* n = with_names.mutable_rules()->Add();
  n->set_id("by-name");
  n->set_action(pb::ACTION_ALLOW);
  n->set_v4(true);
  n->set_proto(6);
  n->add_fqdn("api.example.com");
  std::rotate(with_names.mutable_rules()->begin(), with_names.mutable_rules()->end() - 1,
              with_names.mutable_rules()->end());
  with_names.mutable_names()->set_grace_seconds(60);
  const auto keys = read_trace(trace_path, most);
  if (plain.rules_size() == 0 || keys.empty()) {
    std::cerr << "no rules or no headers read\n";
    return 1;
  }
  std::printf("%d rules, %zu keys, TSC %.2f GHz\n", plain.rules_size(), keys.size(),
              static_cast<double>(rte_get_tsc_hz()) / 1e9);
  for (const pb::CompiledRuleSet* set : {&plain, static_cast<const pb::CompiledRuleSet*>(&with_names)}) {
    std::string error;
    const auto rs = dataplane::RuleSet::build(*set, dataplane::Mode::enforce, 1, 1, 0, error);
    if (!rs) {
      std::cerr << error << '\n';
      return 1;
    }
    uint64_t checksum = 0;
    const double c = cycles_a_key(*rs, keys, repeat, checksum);
    std::printf("%-6s contexts %u  %.1f cycles a key  (checksum %llu)\n", set == &plain ? "plain" : "names",
                rs->acl_contexts4(), c, static_cast<unsigned long long>(checksum));
  }
  rte_eal_cleanup();
  bulkhead::dataplane::remove_eal_runtime_dir(runtime_dir);
  return 0;
}
