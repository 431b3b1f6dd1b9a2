#include "dataplane/ruleset.h"

#include <chrono>
#include <string_view>
#include <unordered_map>

#include "dataplane/acl_entries.h"

namespace bulkhead::dataplane {
namespace {

uint64_t since_ns(std::chrono::steady_clock::time_point t0) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace

bool RuleSet::build_common(const pb::CompiledRuleSet& compiled, Mode mode, uint32_t epoch, uint32_t workers,
                           int64_t now_unix, std::vector<bool>& active, std::string& error) {
  epoch_ = epoch;
  mode_ = mode;
  default_allow_ = compiled.default_action() == pb::ACTION_ALLOW;
  generation_ = compiled.generation();
  source_name_ = compiled.source_name();
  source_sha256_ = compiled.source_sha256();
  workers_ = workers == 0 ? 1 : workers;

  const auto n = static_cast<uint32_t>(compiled.rules_size());
  active.assign(n, true);
  rules_.reserve(n);
  flags_.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const auto& r = compiled.rules(static_cast<int>(i));
    const bool allow = r.action() == pb::ACTION_ALLOW;
    rules_.push_back(RuleInfo{r.id(), allow, r.log(), r.expires_at(), false});
    flags_.push_back(static_cast<uint8_t>((allow ? kAllow : 0) | (r.log() ? kLog : 0) |
                                          (r.mode() == pb::RULE_MODE_AUDIT ? kAudit : 0) |
                                          (r.mode() == pb::RULE_MODE_LEARN ? kLearn : 0)));
    if (r.expires_at() != 0) {
      if (r.expires_at() <= now_unix) {
        active[i] = false;  // expired: kept for counters and names, never matched
        rules_.back().expired = true;
        flags_.back() |= kExpired;
      } else if (next_expiry_ == 0 || r.expires_at() < next_expiry_) {
        next_expiry_ = r.expires_at();
      }
    }
  }
  names_ = names::PolicyNames::build(compiled, error);
  if (!error.empty()) return false;
  for (uint32_t i = 0; names_ != nullptr && i < n; ++i)
    if (const int8_t bit = names_->sni_bit(i); bit != names::PolicyNames::kNoBit && (flags_[i] & kAllow) != 0)
      sni_allow_bits_ |= 1u << bit;
  if (!counters_.allocate(n, workers_)) {
    error = "cannot allocate rule counters";
    return false;
  }
  return true;
}

std::unique_ptr<RuleSet> RuleSet::build(const pb::CompiledRuleSet& compiled, Mode mode, uint32_t epoch,
                                        uint32_t workers, int64_t now_unix, std::string& error,
                                        const RuleSet* previous) {
  const auto t0 = std::chrono::steady_clock::now();
  error.clear();
  std::unique_ptr<RuleSet> rs(new RuleSet());
  std::vector<bool> active;
  if (!rs->build_common(compiled, mode, epoch, workers, now_unix, active, error)) return nullptr;
  const names::PolicyNames* nm = rs->names_.get();
  if (!build_family(compiled, active, nm, false, previous ? &previous->acl4_ : nullptr, rs->acl4_,
                    rs->acl_reused_, error) ||
      !build_family(compiled, active, nm, true, previous ? &previous->acl6_ : nullptr, rs->acl6_, rs->acl_reused_,
                    error))
    return nullptr;
  if (previous != nullptr) rs->map_previous(*previous, nullptr);
  rs->build_ns_ = since_ns(t0);
  return rs;
}

void RuleSet::map_previous(const RuleSet& previous, const std::vector<uint32_t>* new_of) {
  previous_epoch_ = previous.epoch_;
  from_previous_.assign(previous.rules_.size(), kUnmapped);
  if (new_of != nullptr) {
    for (size_t i = 0; i < new_of->size(); ++i)
      if ((*new_of)[i] != kTombstone) from_previous_[i] = (*new_of)[i];
    return;
  }
  std::unordered_map<std::string_view, uint32_t> by_id;
  for (uint32_t i = 0; i < rules_.size(); ++i) by_id.emplace(rules_[i].id, i);
  for (uint32_t i = 0; i < previous.rules_.size(); ++i) {
    auto it = by_id.find(previous.rules_[i].id);
    if (it != by_id.end()) from_previous_[i] = it->second;
  }
}

std::unique_ptr<RuleSet> RuleSet::change(const pb::CompiledRuleSet& compiled, const RuleSet& previous,
                                         const std::vector<uint32_t>& base_of, Mode mode, uint32_t epoch,
                                         int64_t now_unix, std::string& error) {
  const auto t0 = std::chrono::steady_clock::now();
  error.clear();
  const auto n = static_cast<uint32_t>(compiled.rules_size());
  if (base_of.size() != n) {
    error = "change: rule mapping does not match the rule set";
    return nullptr;
  }
  std::unique_ptr<RuleSet> rs(new RuleSet());
  std::vector<bool> active;
  if (!rs->build_common(compiled, mode, epoch, previous.workers_, now_unix, active, error)) return nullptr;
  // The kept contexts hold the base rules as they were when `previous` was
  // built; one that has expired since needs the full build.
  std::vector<uint32_t> new_of(previous.rules_.size(), kTombstone);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t b = base_of[i];
    if (b == kNewRule) continue;
    if (b >= previous.rules_.size() || new_of[b] != kTombstone) {
      error = "change: rule " + std::to_string(i) + " names base rule " + std::to_string(b) + " wrongly";
      return nullptr;
    }
    if (active[i] == previous.rules_[b].expired) return nullptr;
    // A kept context holds its rules' name bits as they were numbered
    // then; a change that renumbers them (a rule with names added or
    // removed before others) needs the full build.
    if (acl::bits_of(rs->names_.get(), i) != acl::bits_of(previous.names_.get(), b)) return nullptr;
    new_of[b] = i;
  }
  const names::PolicyNames* nm = rs->names_.get();
  if (!change_family(compiled, nm, previous.acl4_, base_of, new_of, active, false, rs->acl4_, error) ||
      !change_family(compiled, nm, previous.acl6_, base_of, new_of, active, true, rs->acl6_, error))
    return nullptr;
  rs->compactable_ = true;
  rs->base_of_ = base_of;
  rs->base_epoch_ = previous.epoch_;
  rs->map_previous(previous, &new_of);
  rs->build_ns_ = since_ns(t0);
  return rs;
}

uint32_t RuleSet::classify(const FlowTuple& t, uint16_t tenant, uint32_t fqdn_bits, uint32_t sni_bits) const noexcept {
  uint32_t r = kNoRule;
  if (t.family == 4) {
    AclKey4 k;
    make_acl_key(t, tenant, k, fqdn_bits, sni_bits);
    const AclKey4* p = &k;
    classify4(&p, 1, &r);
  } else {
    AclKey6 k;
    make_acl_key(t, tenant, k, fqdn_bits, sni_bits);
    const AclKey6* p = &k;
    classify6(&p, 1, &r);
  }
  return r;
}

void RuleSet::inherit_counters(const RuleSet& other) noexcept {
  // Called after the grace period that retired `other`: its counters are
  // final.
  const auto n = static_cast<uint32_t>(rules_.size());
  counters_.inherit(kNoRule, other.total(kNoRule));
  // A set built as a change of `other`, or in full from the same rules,
  // knows which of its rules are which: no lookup by id.
  if (other.epoch_ == base_epoch_ && base_of_.size() == n) {
    for (uint32_t i = 0; i < n; ++i)
      if (base_of_[i] != kNewRule && base_of_[i] < other.rules_.size()) counters_.inherit(i, other.total(base_of_[i]));
    return;
  }
  if (other.epoch_ == epoch_ && other.rules_.size() == n) {
    for (uint32_t i = 0; i < n; ++i) counters_.inherit(i, other.total(i));
    return;
  }
  std::unordered_map<std::string_view, uint32_t> by_id;
  for (uint32_t i = 0; i < other.rules_.size(); ++i) by_id.emplace(other.rules_[i].id, i);
  for (uint32_t i = 0; i < n; ++i) {
    auto it = by_id.find(rules_[i].id);
    if (it != by_id.end()) counters_.inherit(i, other.total(it->second));
  }
}

}  // namespace bulkhead::dataplane
