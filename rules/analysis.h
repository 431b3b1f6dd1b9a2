// Exact analysis of a compiled rule set over its six-dimensional match
// space (protocol, source address, destination address, source port,
// destination port, tenant), per address family. A tenant's rule covers
// its tenant's traffic alone, so it never shadows a shared rule; a tenant's
// rule that overrides a shared one is not reported as a conflict.
//
// Every rule is a union of boxes; region arithmetic on boxes answers, with
// no heuristics: which rules can never match (shadowed), which can be
// removed without changing any verdict (redundant), which allow and deny
// rules partially overlap (with an example flow of each outcome), which
// allows are too broad, and which segments and rules are dead. A rule with
// names (fqdn, sni) matches some of what its addresses hold, so it never
// stands in for a later rule beyond its address part; rules with names whose
// names can never be learnt or read are reported. Rules that
// expire are counted on only while they live: one never makes a rule that
// outlives it shadowed or redundant. A rule of more than `max_pieces` boxes
// is reported as not analysed (incomplete) rather than expanded. Pure and
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/bulkhead.pb.h"
#include "rules/match.h"

namespace bulkhead::rules {

struct Finding {
  enum class Severity { error, warning, info };
  enum class Kind {
    shadowed,
    redundant,
    conflict,
    too_broad,
    unused_segment,
    empty_segment,
    expired_rule,
    incomplete,
    no_resolver,         // a rule with fqdn whose clients can ask no trusted resolver
    name_never_matches,  // a rule with sni on no port whose server names are read
  };

  Severity severity = Severity::warning;
  Kind kind = Kind::shadowed;
  std::vector<std::string> rules;   // ids: the subject first, then the others involved
  std::vector<uint32_t> lines;      // source lines, same order (segment findings: its line)
  std::vector<uint32_t> columns;    // source columns, same order
  std::string message;
  std::vector<std::string> examples;  // example flows ("tcp 10.0.1.5:1 -> 10.0.2.9:5432")
  std::string tenant;                 // the subject rule's tenant (empty: a shared rule, or a segment)

  // "FILE:LINE:COL: warning: [kind] MESSAGE", as parse errors are written.
  std::string str(std::string_view file) const;
};

const char* finding_kind_name(Finding::Kind k);
// "error", "warning" or "note".
const char* severity_name(Finding::Severity s);

struct AnalysisOptions {
  int64_t now_unix = 0;
  // Ports that must not be open to broad sources.
  std::vector<uint16_t> sensitive_ports = {22, 23, 445, 1433, 2375, 3306, 3389, 5432, 5984, 6379, 9200, 11211, 27017};
  size_t max_conflicts = 50;       // conflict findings reported in full
  size_t max_pieces = 2000;        // region size beyond which a rule is left unanalysed
};

std::vector<Finding> analyse(const pb::CompiledRuleSet& set, const AnalysisOptions& options);

}  // namespace bulkhead::rules
