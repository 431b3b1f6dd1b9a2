// A change of a rule set built without rebuilding its contexts: the kept
// contexts' removed rules become tombstones, each such context gets a
// shadow (the live entries that overlap a tombstoned one), and the new
// rules go into one small overlay context. The cost follows the size of
// the change, never of the policy; past the bounds below a full build is
// the better answer.
#include <algorithm>
#include <type_traits>

#include "dataplane/acl_entries.h"
#include "dataplane/verdict.h"

namespace bulkhead::dataplane {
namespace {

// The most entries a change's overlay, or a context's shadow, may hold
// before a full build pays.
constexpr size_t kMaxOverlayEntries = 1024;
// The most overlap tests one context's shadow may take (tombstoned entries
// x live entries): bounds the change's build time.
constexpr uint64_t kMaxShadowTests = 20'000'000;

// The live entries of `shard` that overlap one of its tombstoned entries,
// with their local numbers. Only entries of lower priority (a larger local
// number) than the tombstone can be the best live match of a key the
// tombstone matched: a higher one would have won over the tombstone. False
// when the shadow would be too large.
template <class AclRule>
bool make_shadow(AclShard& shard, std::string& error) {
  const auto* entries = reinterpret_cast<const AclRule*>(shard.context->entries.data());
  const uint32_t count = shard.context->count;
  std::vector<const AclRule*> dead;
  for (uint32_t k = 0; k < count; ++k)
    if (shard.rule_of[entries[k].data.userdata] == kTombstone) dead.push_back(&entries[k]);
  shard.has_tombstones = !dead.empty();
  if (dead.empty()) return true;
  if (static_cast<uint64_t>(dead.size()) * count > kMaxShadowTests) return false;
  std::vector<AclRule> live;
  for (uint32_t k = 0; k < count; ++k) {
    const AclRule& e = entries[k];
    if (shard.rule_of[e.data.userdata] == kTombstone) continue;
    const bool under = std::any_of(dead.begin(), dead.end(), [&](const AclRule* d) {
      return e.data.userdata > d->data.userdata && entries_overlap(e, *d);
    });
    if (!under) continue;
    live.push_back(e);
    if (live.size() > kMaxOverlayEntries) return false;
  }
  if (live.empty()) return true;  // nothing below a tombstone: such keys match no rule here
  shard.shadow = acl::build_context<AclRule>(live.data(), live.size(), error);
  return shard.shadow != nullptr;
}

template <class AclRule>
bool change_shards(const pb::CompiledRuleSet& set, const names::PolicyNames* names, const AclFamily& previous,
                   const std::vector<uint32_t>& base_of, const std::vector<uint32_t>& new_of,
                   const std::vector<bool>& active, AclFamily& out, std::string& error) {
  const auto n = static_cast<uint32_t>(set.rules_size());
  std::vector<AclRule> overlay;
  out = AclFamily{};
  for (const auto& old : previous.shards) {
    const auto* entries = reinterpret_cast<const AclRule*>(old.context->entries.data());
    if (old.overlay) {
      // The previous overlay's entries that are still rules, renumbered.
      for (uint32_t k = 0; k < old.context->count; ++k) {
        const uint32_t was = old.rule_of[entries[k].data.userdata];
        const uint32_t now = was == kTombstone ? kTombstone : new_of[was];
        if (now == kTombstone) continue;
        AclRule x = entries[k];
        x.data.userdata = now + 1;
        overlay.push_back(x);
      }
      continue;
    }
    AclShard shard;
    shard.context = old.context;
    shard.rule_of.resize(old.rule_of.size());
    shard.rule_of[0] = kNoRule;
    for (size_t local = 1; local < old.rule_of.size(); ++local) {
      const uint32_t was = old.rule_of[local];
      shard.rule_of[local] = was == kTombstone ? kTombstone : new_of[was];
    }
    if (!make_shadow<AclRule>(shard, error)) return false;
    for (uint32_t k = 0; k < old.context->count; ++k)
      out.entries += shard.rule_of[entries[k].data.userdata] != kTombstone;
    out.shards.push_back(std::move(shard));
  }
  uint64_t total = 0;
  const acl::TenantValues tenants(set);
  for (uint32_t i = 0; i < n; ++i) {
    if (base_of[i] != kNewRule || !active[i]) continue;
    const auto& r = set.rules(static_cast<int>(i));
    if (!acl::expand_rule<AclRule>(r, tenants.of(r), acl::bits_of(names, i), i, n, overlay, total, error))
      return false;
    if (overlay.size() > kMaxOverlayEntries) return false;
  }
  out.entries += static_cast<uint32_t>(overlay.size());
  if (overlay.empty()) return true;
  AclShard shard;
  uint32_t unused = 0;
  if (!acl::make_shard<AclRule>(overlay.data(), overlay.size(), nullptr, unused, shard, error)) return false;
  shard.overlay = true;
  out.shards.push_back(std::move(shard));
  return true;
}

}  // namespace

bool change_family(const pb::CompiledRuleSet& set, const names::PolicyNames* names, const AclFamily& previous,
                   const std::vector<uint32_t>& base_of, const std::vector<uint32_t>& new_of,
                   const std::vector<bool>& active, bool v6, AclFamily& out, std::string& error) {
  return v6 ? change_shards<AclRule6>(set, names, previous, base_of, new_of, active, out, error)
            : change_shards<AclRule4>(set, names, previous, base_of, new_of, active, out, error);
}

}  // namespace bulkhead::dataplane
