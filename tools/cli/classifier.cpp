#include "tools/cli/classifier.h"

#include <unistd.h>

#include <ctime>
#include <iostream>
#include <vector>

#include <rte_eal.h>
#include <rte_errno.h>

#include "rules/load.h"
#include "tools/cli/cli.h"

namespace bulkhead::cli {
namespace {

void init_eal() {
  static bool done = false;
  if (done) return;
  const std::string prefix = "bulkhead-cli-" + std::to_string(getpid());
  std::vector<std::string> args = {"bulkhead", "--no-huge", "-m", "4096", "--no-pci", "--no-shconf",
                                   "--no-telemetry", "--log-level=*:error", "-l", "0",
                                   "--file-prefix=" + prefix};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0)
    throw UsageError(std::string("cannot set up the classifier runtime: ") + rte_strerror(rte_errno));
  done = true;
}

}  // namespace

std::unique_ptr<dataplane::RuleSet> build_classifier(const pb::CompiledRuleSet& compiled) {
  init_eal();
  std::string error;
  auto rs = dataplane::RuleSet::build(compiled, dataplane::Mode::enforce, 1, 1,
                                      static_cast<int64_t>(std::time(nullptr)), error);
  if (!rs) throw UsageError("cannot build the classifier: " + error);
  return rs;
}

pb::CompiledRuleSet load_policy_or_throw(const std::string& path, bool quiet) {
  auto r = rules::load_policy_file(path);
  for (const auto& d : r.diagnostics)
    if (d.severity == rules::Diagnostic::Severity::error || !quiet) std::cerr << d.str() << '\n';
  if (!r.ok()) throw UsageError("policy " + path + " has errors");
  return std::move(*r.value);
}

}  // namespace bulkhead::cli
