// A compiled rule set made ready for the fast path: the classifier
// (rte_acl contexts per address family, dataplane/acl_context.h), the
// rules' verdicts in a dense array the fast path reads, the rules' names
// and times kept apart for everyone else, and per-rule counters.
//
// Ownership: built by the main lcore (or the control channel's thread)
// from a pb::CompiledRuleSet entirely off the fast path, then published
// through RuleSetHolder (swap.h). Immutable once published, except the
// per-worker counter rows, each written only by its own worker. Freed only
// after a QSBR grace period.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/acl_context.h"
#include "dataplane/acl_key.h"
#include "dataplane/names/policy_names.h"
#include "dataplane/packet.h"
#include "dataplane/rule_counters.h"
#include "dataplane/verdict.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::dataplane {

// What everyone but the fast path wants to know of a rule.
struct RuleInfo {
  std::string id;
  bool allow;
  bool log;
  int64_t expires_at;  // unix seconds, 0 = never
  bool expired;        // already expired when this set was built: never matches
};

class RuleSet {
 public:
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

  // Builds the fast-path form of `compiled`. `epoch` is this process's
  // sequence number for the set; `mode` is the mode to enforce it in.
  // Rules already expired at `now_unix` are left out. Classifier contexts
  // whose entries are unchanged are taken from `previous` rather than
  // rebuilt. Returns nullptr and sets `error` on failure (nothing
  // half-built is ever returned).
  static std::unique_ptr<RuleSet> build(const pb::CompiledRuleSet& compiled, Mode mode,
                                        uint32_t epoch, uint32_t workers, int64_t now_unix,
                                        std::string& error, const RuleSet* previous = nullptr);

  // Builds the set `compiled` as a change of `previous`: `base_of[i]` is
  // the index in `previous` of rule i, or kNewRule. The contexts of
  // `previous` are kept as they are (their removed or replaced rules become
  // tombstones, answered for by shadows) and the new rules, with the
  // overlay `previous` had, go into one small overlay context: the cost
  // follows the size of the change, not of the policy. Returns nullptr with
  // an empty `error` when a full build is the better answer (a large
  // overlay or shadow, a rule that expired meanwhile), and with `error` set
  // on failure.
  static std::unique_ptr<RuleSet> change(const pb::CompiledRuleSet& compiled, const RuleSet& previous,
                                         const std::vector<uint32_t>& base_of, Mode mode, uint32_t epoch,
                                         int64_t now_unix, std::string& error);
  // True when the set carries a change's overlay or tombstones: a full
  // build of the same rules (RuleSet::build with this set as `previous`)
  // would classify with fewer calls.
  bool compactable() const noexcept { return compactable_; }

  // Classifies up to `n` keys of one family at once; `out[i]` is the
  // matching rule index or kNoRule. Safe from any worker concurrently.
  void classify4(const AclKey4* const* keys, uint32_t n, uint32_t* out) const noexcept {
    classify_family(acl4_, keys, n, out);
  }
  void classify6(const AclKey6* const* keys, uint32_t n, uint32_t* out) const noexcept {
    classify_family(acl6_, keys, n, out);
  }
  // One tuple, either family, of tenant tag `tenant` (ConnKey::tenant),
  // with the name bits of make_acl_key.
  uint32_t classify(const FlowTuple& t, uint16_t tenant = 0, uint32_t fqdn_bits = kAllNameBits,
                    uint32_t sni_bits = kAllNameBits) const noexcept;

  bool allows(uint32_t rule) const noexcept { return rule == kNoRule ? default_allow_ : (flags_[rule] & kAllow) != 0; }
  bool logs(uint32_t rule) const noexcept { return rule != kNoRule && (flags_[rule] & kLog) != 0; }
  // The mode a rule's denials run in when the rule has one of its own that
  // forwards them (audit, learn: CompiledRule.mode); enforce otherwise, and
  // the set's mode applies.
  Mode rule_mode(uint32_t rule) const noexcept {
    if (rule == kNoRule) return Mode::enforce;
    return (flags_[rule] & kAudit) != 0 ? Mode::audit : (flags_[rule] & kLearn) != 0 ? Mode::learn : Mode::enforce;
  }

  RuleCounter& counter(uint32_t worker, uint32_t rule) noexcept { return counters_.at(worker, rule); }
  // Sum over workers (readers on the main/telemetry thread).
  RuleCounter total(uint32_t rule) const noexcept { return counters_.total(rule); }
  // Adds `other`'s totals to the same rules here (after a swap, so counters
  // survive a reload for rules that were kept).
  void inherit_counters(const RuleSet& other) noexcept;

  uint32_t epoch() const noexcept { return epoch_; }
  Mode mode() const noexcept { return mode_; }
  bool default_allow() const noexcept { return default_allow_; }
  uint64_t generation() const noexcept { return generation_; }
  const std::string& source_name() const noexcept { return source_name_; }
  const std::string& source_sha256() const noexcept { return source_sha256_; }
  const std::vector<RuleInfo>& rules() const noexcept { return rules_; }
  uint32_t acl_rules4() const noexcept { return acl4_.entries; }
  uint32_t acl_rules6() const noexcept { return acl6_.entries; }
  // Classifier contexts per family (large sets are split by rule shape).
  uint32_t acl_contexts4() const noexcept { return static_cast<uint32_t>(acl4_.shards.size()); }
  uint32_t acl_contexts6() const noexcept { return static_cast<uint32_t>(acl6_.shards.size()); }
  // Contexts taken unchanged from the previous set instead of rebuilt.
  uint32_t acl_contexts_reused() const noexcept { return acl_reused_; }
  // Earliest future expiry among the rules, 0 when none expires.
  int64_t next_expiry() const noexcept { return next_expiry_; }
  uint64_t build_ns() const noexcept { return build_ns_; }
  // True when this set was built from the same compiled rules as the one
  // before it (a rebuild because a rule expired): rule indexes mean the same
  // rules in both, so connections can be traced to the rule that admitted them.
  bool same_rules_as_previous() const noexcept { return same_rules_; }
  void set_same_rules_as_previous(bool v) noexcept { same_rules_ = v; }
  // What the rules say about names; nullptr when no rule uses them.
  const names::PolicyNames* names() const noexcept { return names_.get(); }
  // The sni bits of the rules with `sni` that allow: what a connection
  // whose server name could not be read matches when the policy's fallback
  // says allow (a deny rule with `sni` never matches without a name).
  uint32_t sni_allow_bits() const noexcept { return sni_allow_bits_; }
  bool rule_expired(uint32_t rule) const noexcept { return rule < flags_.size() && (flags_[rule] & kExpired) != 0; }

  // The rule of this set a connection's traffic counts for, given the
  // epoch and rule it was last checked under: its own rule under this set,
  // the rule with the same id (or the same place in a change) under the set
  // this one replaced, kUnmapped otherwise.
  static constexpr uint32_t kUnmapped = UINT32_MAX - 2;
  uint32_t counting_rule(uint32_t epoch, uint32_t rule) const noexcept {
    if (epoch == epoch_) return rule;
    if (epoch != previous_epoch_ || previous_epoch_ == 0) return kUnmapped;
    if (rule == kNoRule) return kNoRule;
    return rule < from_previous_.size() ? from_previous_[rule] : kUnmapped;
  }

 private:
  RuleSet() = default;

  static constexpr uint8_t kAllow = 1;
  static constexpr uint8_t kLog = 2;
  static constexpr uint8_t kExpired = 4;  // already expired when the set was built
  static constexpr uint8_t kAudit = 8;    // its own mode: audit
  static constexpr uint8_t kLearn = 16;   // its own mode: learn

  // Everything but the classifier: rules, verdicts, counters.
  bool build_common(const pb::CompiledRuleSet& compiled, Mode mode, uint32_t epoch, uint32_t workers,
                    int64_t now_unix, std::vector<bool>& active, std::string& error);

  // What the fast path reads, per burst or per packet, together: the
  // classifier, the rules' verdict bits, the counter rows, the epoch and
  // the map of the previous set's rules (folds). Nothing here holds a
  // string.
  AclFamily acl4_;
  AclFamily acl6_;
  std::vector<uint8_t> flags_;  // per rule: kAllow, kLog, kExpired, kAudit, kLearn
  RuleCounters counters_;
  uint32_t epoch_ = 0;
  Mode mode_ = Mode::enforce;
  bool default_allow_ = false;
  bool same_rules_ = false;
  // The set this one replaced: its epoch, and for each of its rules the
  // same rule here (kUnmapped: none).
  uint32_t previous_epoch_ = 0;
  std::vector<uint32_t> from_previous_;

  // Read only for packets that reach a rule written with names.
  std::unique_ptr<names::PolicyNames> names_;
  uint32_t sni_allow_bits_ = 0;

  // Everyone else's: names, times, sources, how it was built.
  std::vector<RuleInfo> rules_;
  uint32_t acl_reused_ = 0;
  uint32_t workers_ = 0;
  uint64_t generation_ = 0;
  std::string source_name_;
  std::string source_sha256_;
  int64_t next_expiry_ = 0;
  uint64_t build_ns_ = 0;
  bool compactable_ = false;
  // Built as a change: the rule each rule was in the set of `base_epoch_`.
  std::vector<uint32_t> base_of_;
  uint32_t base_epoch_ = 0;
  void map_previous(const RuleSet& previous, const std::vector<uint32_t>* new_of);
};

}  // namespace bulkhead::dataplane
