// The dataplane's own classifier, in the CLI process: the EAL is set up
// quietly (no hugepages, no PCI, no shared files) the first time a command
// needs to classify, and the compiled rule set is built into the same
// rte_acl tables the dataplane uses, so verdicts are the dataplane's.
#pragma once

#include <memory>
#include <string>

#include "dataplane/ruleset.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::cli {

// Builds the classifier; throws UsageError when the EAL or the build fails.
std::unique_ptr<dataplane::RuleSet> build_classifier(const pb::CompiledRuleSet& compiled);

// Loads and compiles a policy file; prints diagnostics and throws
// UsageError on errors. Warnings go to stderr unless `quiet`.
pb::CompiledRuleSet load_policy_or_throw(const std::string& path, bool quiet = false);

}  // namespace bulkhead::cli
