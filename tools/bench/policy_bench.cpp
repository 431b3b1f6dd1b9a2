// bulkhead-bench-policy: how long a policy takes to read, beside libyaml's
// own event parse of the same text (the floor no YAML reader goes under),
// measured in the same run.
//
//   bulkhead-bench-policy [--rules N] [--repeat K] [--analyse]
//
// The policy is N rules like a ClassBench set's (a /24 source each, one
// destination /16, one TCP port), 10,000 by default. Printed: the median of
// K runs of libyaml's events alone, of parse, of parse + compile, and with
// --analyse of the analysis too. Run by `meson test --benchmark`.
#include <yaml.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "rules/analysis.h"
#include "rules/load.h"
#include "rules/parser.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string policy_text(int rules) {
  std::string text = "version: 1\nrules:\n";
  for (int i = 0; i < rules; ++i)
    text += "  - { id: r" + std::to_string(i) + ", from: 10." + std::to_string(i / 256 % 256) + "." +
            std::to_string(i % 256) + ".0/24, to: 192.168.0.0/16, proto: tcp, ports: [" +
            std::to_string(1 + i % 60000) + "], action: allow }\n";
  return text;
}

// Every event of `text`, doing nothing with them; false on a syntax error.
bool yaml_events(const std::string& text) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return false;
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  bool ok = true, done = false;
  while (ok && !done) {
    yaml_event_t e;
    ok = yaml_parser_parse(&parser, &e) != 0;
    if (!ok) break;
    done = e.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&e);
  }
  yaml_parser_delete(&parser);
  return ok;
}

double median_ms(int repeat, const std::function<bool()>& run) {
  std::vector<double> ms;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = Clock::now();
    if (!run()) {
      std::fprintf(stderr, "bulkhead-bench-policy: the policy did not load\n");
      std::exit(1);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  int rules = 10000, repeat = 5;
  po::options_description o("options");
  o.add_options()("help", "this text")("rules", po::value(&rules)->default_value(10000), "rules in the policy")(
      "repeat", po::value(&repeat)->default_value(5), "runs of each measurement (the median is printed)")(
      "analyse", "also time parse + compile + analysis");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, o), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "bulkhead-bench-policy: " << e.what() << '\n';
    return 2;
  }
  if (vm.count("help")) {
    std::cout << "usage: bulkhead-bench-policy [--rules N] [--repeat K] [--analyse]\n" << o;
    return 0;
  }
  if (rules < 1 || repeat < 1) {
    std::cerr << "bulkhead-bench-policy: --rules and --repeat must be positive\n";
    return 2;
  }
  const std::string text = policy_text(rules);
  using namespace bulkhead;
  const double events = median_ms(repeat, [&] { return yaml_events(text); });
  const double parse = median_ms(repeat, [&] { return rules::parse_policy(text, "bench.yaml").ok(); });
  const double load = median_ms(repeat, [&] { return rules::load_policy(text, "bench.yaml").ok(); });
  std::printf("%d rules, %zu bytes; median of %d runs\n", rules, text.size(), repeat);
  std::printf("  libyaml events alone (reference)  %8.1f ms\n", events);
  std::printf("  parse                             %8.1f ms  (%.2fx the reference)\n", parse, parse / events);
  std::printf("  parse + compile                   %8.1f ms  (%.2fx)\n", load, load / events);
  if (vm.count("analyse")) {
    rules::AnalysisOptions opt;
    const double all = median_ms(repeat, [&] {
      const auto r = rules::load_policy(text, "bench.yaml");
      if (!r.ok()) return false;
      (void)rules::analyse(*r.value, opt);
      return true;
    });
    std::printf("  parse + compile + analysis        %8.1f ms  (%.2fx)\n", all, all / events);
  }
  return 0;
}
