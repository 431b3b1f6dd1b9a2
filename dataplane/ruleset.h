// A compiled rule set made ready for the fast path: rte_acl classifier
// contexts per address family (one, or for large sets several split by
// rule shape), longest-prefix tables (rte_rib) for segment membership, and
// per-rule metadata and counters.
//
// Ownership: built by the main lcore from a pb::CompiledRuleSet entirely off
// the fast path, then published through RuleSetHolder (swap.h). Immutable
// once published, except the per-worker counter slots, each written only by
// its own worker. Freed only after a QSBR grace period.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_acl.h>

#include "dataplane/packet.h"
#include "dataplane/verdict.h"
#include "proto/bulkhead.pb.h"

struct rte_rib;
struct rte_rib6;

namespace bulkhead::dataplane {

// The key a packet is classified with, laid out for rte_acl: every field in
// network byte order, the protocol first (rte_acl wants a 1-byte first field).
struct alignas(8) AclKey4 {
  uint8_t proto;
  uint8_t pad[3];
  uint32_t src;
  uint32_t dst;
  uint16_t sport;
  uint16_t dport;
};

struct alignas(8) AclKey6 {
  uint8_t proto;
  uint8_t pad[3];
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t sport;
  uint16_t dport;
};

void make_acl_key(const FlowTuple& t, AclKey4& k) noexcept;
void make_acl_key(const FlowTuple& t, AclKey6& k) noexcept;

// Per-rule counters of one worker; index = rule index, the last slot is the
// default action. Cache-line aligned rows so workers never share a line.
struct RuleCounter {
  uint64_t packets;
  uint64_t bytes;
  uint64_t connections;  // connections admitted (or flagged, in audit)
};

struct RuleInfo {
  std::string id;
  bool allow;
  bool log;
  int64_t expires_at;  // unix seconds, 0 = never
  bool expired;        // already expired when this set was built: never matches
};

// A classifier entry's rule that a change removed or replaced: the entry
// stays in its context until the next full build, and a lookup whose best
// entry is one finds the best live entry of that context by a scan.
inline constexpr uint32_t kTombstone = UINT32_MAX - 1;
// A rule of a changed set that is not in the set it was changed from.
inline constexpr uint32_t kNewRule = UINT32_MAX;

// One built rte_acl context, shared by every rule set whose entries for it
// are the same (a change elsewhere in the policy does not rebuild it).
// Freed with the last rule set that uses it, after that set's QSBR grace
// period.
struct AclContext {
  rte_acl_ctx* ctx = nullptr;
  uint64_t fingerprint = 0;  // of its entries, with rule numbers local to the context
  // Its entries (rte_acl rules with local rule numbers), kept to rebuild a
  // changed set's overlay and to look past removed rules.
  std::vector<uint8_t> entries;
  uint32_t count = 0;
  AclContext() = default;
  AclContext(const AclContext&) = delete;
  AclContext& operator=(const AclContext&) = delete;
  ~AclContext();
};

// A context as one rule set uses it: its local rule numbers (rte_acl's
// userdata, 1-based, in rule order) translated to this set's rule indexes.
struct AclShard {
  std::shared_ptr<const AclContext> context;
  std::vector<uint32_t> rule_of;  // [0] = kNoRule, [local] = rule index or kTombstone
  bool overlay = false;           // holds a change's new rules (see RuleSet::change)
};

class RuleSet {
 public:
  ~RuleSet();
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
  // tombstones) and the new rules, with the overlay `previous` had, go into
  // one small overlay context: the cost follows the size of the change, not
  // of the policy. Returns nullptr with an empty `error` when a full build
  // is the better answer (a large overlay, a rule that expired meanwhile),
  // and with `error` set on failure.
  static std::unique_ptr<RuleSet> change(const pb::CompiledRuleSet& compiled, const RuleSet& previous,
                                         const std::vector<uint32_t>& base_of, Mode mode, uint32_t epoch,
                                         int64_t now_unix, std::string& error);
  // True when the set carries a change's overlay or tombstones: a full
  // build of the same rules (RuleSet::build with this set as `previous`)
  // would classify faster.
  bool compactable() const noexcept { return compactable_; }

  // Classifies up to `n` keys of one family at once; `out[i]` is the
  // matching rule index or kNoRule. Safe from any worker concurrently.
  void classify4(const AclKey4* const* keys, uint32_t n, uint32_t* out) const noexcept;
  void classify6(const AclKey6* const* keys, uint32_t n, uint32_t* out) const noexcept;
  // One tuple, either family.
  uint32_t classify(const FlowTuple& t) const noexcept;

  bool allows(uint32_t rule) const noexcept {
    return rule == kNoRule ? default_allow_ : rules_[rule].allow;
  }
  bool logs(uint32_t rule) const noexcept { return rule != kNoRule && rules_[rule].log; }

  // Segment index of an address, or -1.
  int segment_of(const FlowTuple& t, bool source) const noexcept;
  const std::string& segment_name(int index) const { return segment_names_[index]; }

  RuleCounter& counter(uint32_t worker, uint32_t rule) noexcept {
    return counters_[worker * stride_ + (rule == kNoRule ? rules_.size() : rule)];
  }
  // Sum over workers (readers on the main/telemetry thread).
  RuleCounter total(uint32_t rule) const noexcept;
  // Adds `other`'s totals to rules with the same id here (after a swap, so
  // counters survive a reload for rules that were kept).
  void inherit_counters(const RuleSet& other) noexcept;

  uint32_t epoch() const noexcept { return epoch_; }
  Mode mode() const noexcept { return mode_; }
  bool default_allow() const noexcept { return default_allow_; }
  uint64_t generation() const noexcept { return generation_; }
  const std::string& source_name() const noexcept { return source_name_; }
  const std::string& source_sha256() const noexcept { return source_sha256_; }
  const std::vector<RuleInfo>& rules() const noexcept { return rules_; }
  uint32_t acl_rules4() const noexcept { return acl_rules4_; }
  uint32_t acl_rules6() const noexcept { return acl_rules6_; }
  // Classifier contexts per family (large sets are split by rule shape).
  uint32_t acl_contexts4() const noexcept { return static_cast<uint32_t>(acl4_.size()); }
  uint32_t acl_contexts6() const noexcept { return static_cast<uint32_t>(acl6_.size()); }
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
  bool rule_expired(uint32_t rule) const noexcept { return rule < rules_.size() && rules_[rule].expired; }

 private:
  RuleSet() = default;

  std::vector<AclShard> acl4_;
  std::vector<AclShard> acl6_;
  uint32_t acl_reused_ = 0;
  // Segment membership: tries sized by the prefixes (rte_lpm would spend
  // 64 MiB per family and per rule set on its first-level table).
  rte_rib* rib4_ = nullptr;
  rte_rib6* rib6_ = nullptr;
  std::vector<RuleInfo> rules_;
  std::vector<std::string> segment_names_;
  RuleCounter* counters_ = nullptr;  // (workers + 1) rows of stride_; the last row is inherited
  size_t stride_ = 0;
  uint32_t workers_ = 0;
  uint32_t epoch_ = 0;
  Mode mode_ = Mode::enforce;
  bool default_allow_ = false;
  uint64_t generation_ = 0;
  std::string source_name_;
  std::string source_sha256_;
  uint32_t acl_rules4_ = 0;
  uint32_t acl_rules6_ = 0;
  int64_t next_expiry_ = 0;
  uint64_t build_ns_ = 0;
  bool same_rules_ = false;
  bool compactable_ = false;
  // Built as a change: the rule each rule was in the set of `base_epoch_`.
  std::vector<uint32_t> base_of_;
  uint32_t base_epoch_ = 0;

  // Everything but the classifier: rules, segments, counters.
  bool build_common(const pb::CompiledRuleSet& compiled, Mode mode, uint32_t epoch, uint32_t workers,
                    int64_t now_unix, std::vector<bool>& active, std::string& error);
};

}  // namespace bulkhead::dataplane
