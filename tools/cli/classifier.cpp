#include "tools/cli/classifier.h"

#include <unistd.h>

#include <ctime>
#include <iostream>
#include <vector>

#include <rte_eal.h>
#include <rte_errno.h>

#include "dataplane/eal_runtime.h"
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
  // With --no-shconf the EAL's runtime directory stays empty, but it is
  // made all the same: removed at exit, not left behind by every command.
  dataplane::remove_eal_runtime_dir_at_exit(rte_eal_get_runtime_dir());
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

NamedDecision decide_with_names(const dataplane::RuleSet& rs, const dataplane::FlowTuple& f, uint16_t tag,
                                const std::vector<std::string>& names, const std::vector<std::string>& server_names) {
  const auto* nm = rs.names();
  auto bits = [](const std::vector<std::string>& v, auto&& of) {
    uint32_t b = 0;
    for (const auto& n : v) b |= of(n);
    return b;
  };
  return decide_with_bits(
      rs, f, tag, [&] { return bits(names, [&](const std::string& n) { return nm->fqdn_bits(n); }); },
      [&] { return bits(server_names, [&](const std::string& n) { return nm->sni_bits(n); }); });
}

std::string name_reason(const dataplane::RuleSet& rs, const NamedDecision& d, const std::vector<std::string>& names,
                        const std::vector<std::string>& server_names) {
  const auto* nm = rs.names();
  if (nm == nullptr) return "";
  // One kind of name: the most recent that sets the deciding rule's bit
  // (it decided by that name), or else what was seen and did not suffice.
  auto part = [&](bool asked, int8_t bit, const std::vector<std::string>& seen, auto&& bits_of, const std::string& said,
                  const char* none) -> std::string {
    if (!asked) return "";
    if (bit != dataplane::names::PolicyNames::kNoBit)
      for (auto it = seen.rbegin(); it != seen.rend(); ++it)
        if ((bits_of(*it) >> bit) & 1u) return said + *it;
    if (seen.empty()) return none;
    return said + seen.back() + ", not allowed";
  };
  // A rule with names that decided is explained by its own kinds of name;
  // a rule without (or the default), by every kind that failed before it.
  const int8_t fqdn_bit = nm->fqdn_bit(d.rule), sni_bit = nm->sni_bit(d.rule);
  const bool own = fqdn_bit != dataplane::names::PolicyNames::kNoBit || sni_bit != dataplane::names::PolicyNames::kNoBit;
  const std::string fqdn = part(d.fqdn_asked && (!own || fqdn_bit != dataplane::names::PolicyNames::kNoBit), fqdn_bit,
                                names, [&](const std::string& n) { return nm->fqdn_bits(n); }, "answered for ",
                                "no DNS answer seen for this address");
  const std::string sni = part(d.sni_asked && (!own || sni_bit != dataplane::names::PolicyNames::kNoBit), sni_bit,
                               server_names, [&](const std::string& n) { return nm->sni_bits(n); }, "server name ",
                               "no server name seen");
  return fqdn.empty() || sni.empty() ? fqdn + sni : fqdn + "; " + sni;
}

}  // namespace bulkhead::cli
