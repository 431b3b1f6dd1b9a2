// Classification: every context of a family is asked, the lowest rule
// index wins (rules are in priority order). A key whose best entry in a
// context is a tombstone asks that context's shadow, in one more batched
// call: never a scan.
#include <algorithm>

#include "dataplane/acl_context.h"
#include "dataplane/verdict.h"

namespace bulkhead::dataplane {
namespace {

constexpr uint32_t kChunk = 64;  // keys per rte_acl_classify call

void classify_shards(const AclFamily& f, const uint8_t** keys, uint32_t n, uint32_t* out) noexcept {
  for (uint32_t i = 0; i < n; ++i) out[i] = kNoRule;
  uint32_t local[kChunk];
  const uint8_t* again[kChunk];
  uint16_t again_of[kChunk];
  for (const auto& shard : f.shards)
    for (uint32_t first = 0; first < n; first += kChunk) {
      const uint32_t m = std::min(n - first, kChunk);
      rte_acl_classify(shard.context->ctx, keys + first, local, m, 1);
      const uint32_t* rule_of = shard.rule_of.data();
      uint32_t na = 0;
      for (uint32_t i = 0; i < m; ++i) {
        const uint32_t rule = rule_of[local[i]];
        if (rule == kTombstone) {
          again[na] = keys[first + i];
          again_of[na++] = static_cast<uint16_t>(first + i);
          continue;
        }
        out[first + i] = std::min(out[first + i], rule);
      }
      if (na == 0 || shard.shadow == nullptr) continue;
      rte_acl_classify(shard.shadow->ctx, again, local, na, 1);
      for (uint32_t j = 0; j < na; ++j) out[again_of[j]] = std::min(out[again_of[j]], rule_of[local[j]]);
    }
}

}  // namespace

void classify_family(const AclFamily& f, const AclKey4* const* keys, uint32_t n, uint32_t* out) noexcept {
  classify_shards(f, reinterpret_cast<const uint8_t**>(const_cast<const AclKey4**>(keys)), n, out);
}

void classify_family(const AclFamily& f, const AclKey6* const* keys, uint32_t n, uint32_t* out) noexcept {
  classify_shards(f, reinterpret_cast<const uint8_t**>(const_cast<const AclKey6**>(keys)), n, out);
}

}  // namespace bulkhead::dataplane
