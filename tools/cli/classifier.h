// The dataplane's own classifier, in the CLI process: the EAL is set up
// quietly (no hugepages, no PCI, no shared files) the first time a command
// needs to classify, and the compiled rule set is built into the same
// rte_acl tables the dataplane uses, so verdicts are the dataplane's, also
// for rules written with names (decide_with_bits and decide_with_names).
// Thread-safety: the CLI's one thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dataplane/names/policy_names.h"
#include "dataplane/ruleset.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::cli {

// Builds the classifier; throws UsageError when the EAL or the build fails.
std::unique_ptr<dataplane::RuleSet> build_classifier(const pb::CompiledRuleSet& compiled);

// Loads and compiles a policy file; prints diagnostics and throws
// UsageError on errors. Warnings go to stderr unless `quiet`.
pb::CompiledRuleSet load_policy_or_throw(const std::string& path, bool quiet = false);

// What the dataplane decides for a connection's first packet under a set
// with names (docs/egress.md, "How the dataplane decides"): the lookup with
// every name condition taken as met, then, while the winner has a name
// condition not yet asked, again with the fqdn bits of the names the
// client was answered for the destination, and the sni bits of its server
// name. At most three lookups.
struct NamedDecision {
  uint32_t first = dataplane::kNoRule;  // every name condition taken as met
  uint32_t rule = dataplane::kNoRule;
  uint32_t fqdn_bits = dataplane::kAllNameBits;
  uint32_t sni_bits = dataplane::kAllNameBits;
  bool fqdn_asked = false;  // the decision needed the names the client was answered for
  bool sni_asked = false;   // the decision needed a server name
};

// `fqdn_bits()` and `sni_bits()` give what the bindings and the server
// name say, asked only when a lookup's winner needs them.
template <class Fqdn, class Sni>
NamedDecision decide_with_bits(const dataplane::RuleSet& rs, const dataplane::FlowTuple& f, uint16_t tag,
                               Fqdn&& fqdn_bits, Sni&& sni_bits) {
  NamedDecision d;
  d.first = d.rule = rs.classify(f, tag);
  const auto* nm = rs.names();
  if (nm == nullptr) return d;
  for (;;) {
    if (d.rule == dataplane::kNoRule) break;
    if (!d.fqdn_asked && nm->fqdn_bit(d.rule) != dataplane::names::PolicyNames::kNoBit) {
      d.fqdn_asked = true;
      d.fqdn_bits = fqdn_bits();
    } else if (!d.sni_asked && nm->sni_bit(d.rule) != dataplane::names::PolicyNames::kNoBit) {
      d.sni_asked = true;
      d.sni_bits = sni_bits();
    } else {
      break;
    }
    d.rule = rs.classify(f, tag, d.fqdn_bits, d.sni_bits);
  }
  return d;
}

// `names`: what the answers to the client were for; `server_names`: the
// server names its ClientHellos gave (canonical; none: none seen, and a
// condition on server names fails). A name condition holds when one of
// the names matches.
NamedDecision decide_with_names(const dataplane::RuleSet& rs, const dataplane::FlowTuple& f, uint16_t tag,
                                const std::vector<std::string>& names, const std::vector<std::string>& server_names);

// Which names decided `d` (made by decide_with_names with these names), in
// the words of the dataplane's flow records (`name_reason`): "answered for
// api.example.com", "no DNS answer seen for this address", "answered for
// x.example, not allowed", "server name www.example.org", "no server name
// seen", "server name y.example, not allowed". A deciding rule with names
// is explained by its own kinds of name; a rule without, or the default,
// by each kind that was asked (joined by "; "). "" when no name was asked
// (addresses decided).
std::string name_reason(const dataplane::RuleSet& rs, const NamedDecision& d, const std::vector<std::string>& names,
                        const std::vector<std::string>& server_names);

}  // namespace bulkhead::cli
