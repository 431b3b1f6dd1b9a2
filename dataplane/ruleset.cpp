#include "dataplane/ruleset.h"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <unordered_map>

#include <rte_rib.h>
#include <rte_rib6.h>
#include <rte_malloc.h>

#include <rte_errno.h>

#include "dataplane/log.h"

namespace bulkhead::dataplane {
namespace {

constexpr uint32_t kFields4 = 5;
constexpr uint32_t kFields6 = 11;
// Guard against policies whose cross products (src x dst x ports) explode.
constexpr uint64_t kMaxAclRules = 4'000'000;

RTE_ACL_RULE_DEF(AclRule4, kFields4);
RTE_ACL_RULE_DEF(AclRule6, kFields6);

rte_acl_field_def field(uint8_t type, uint8_t size, uint8_t index, uint8_t input, uint32_t offset) {
  rte_acl_field_def d{};
  d.type = type;
  d.size = size;
  d.field_index = index;
  d.input_index = input;
  d.offset = offset;
  return d;
}

void acl_config4(rte_acl_config& cfg) {
  cfg = {};
  cfg.num_categories = 1;
  cfg.num_fields = kFields4;
  cfg.defs[0] = field(RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, offsetof(AclKey4, proto));
  cfg.defs[1] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 1, 1, offsetof(AclKey4, src));
  cfg.defs[2] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 2, 2, offsetof(AclKey4, dst));
  cfg.defs[3] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 3, 3, offsetof(AclKey4, sport));
  cfg.defs[4] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 4, 3, offsetof(AclKey4, dport));
}

void acl_config6(rte_acl_config& cfg) {
  cfg = {};
  cfg.num_categories = 1;
  cfg.num_fields = kFields6;
  cfg.defs[0] = field(RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, offsetof(AclKey6, proto));
  for (uint8_t i = 0; i < 4; ++i) {
    cfg.defs[1 + i] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 1 + i, 1 + i, offsetof(AclKey6, src) + 4 * i);
    cfg.defs[5 + i] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 5 + i, 5 + i, offsetof(AclKey6, dst) + 4 * i);
  }
  cfg.defs[9] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 9, 9, offsetof(AclKey6, sport));
  cfg.defs[10] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 10, 9, offsetof(AclKey6, dport));
}

struct Pfx {
  uint8_t addr[16];
  uint32_t len;
};

// Prefixes of one family from a compiled side; `any` when the side is empty.
bool side_prefixes(const google::protobuf::RepeatedPtrField<pb::Prefix>& side, size_t addr_len,
                   std::vector<Pfx>& out) {
  out.clear();
  if (side.empty()) {
    out.push_back(Pfx{{}, 0});
    return true;
  }
  for (const auto& p : side) {
    if (p.addr().size() != addr_len) continue;
    Pfx x{};
    std::memcpy(x.addr, p.addr().data(), addr_len);
    x.len = std::min<uint32_t>(p.prefix_len(), static_cast<uint32_t>(addr_len * 8));
    out.push_back(x);
  }
  return !out.empty();
}

struct Range {
  uint16_t lo, hi;
};

std::vector<Range> ranges(const google::protobuf::RepeatedPtrField<pb::PortRange>& r) {
  std::vector<Range> out;
  if (r.empty()) {
    out.push_back({0, 65535});
    return out;
  }
  for (const auto& x : r) {
    out.push_back({static_cast<uint16_t>(std::min<uint32_t>(x.lo(), 65535)),
                   static_cast<uint16_t>(std::min<uint32_t>(x.hi(), 65535))});
  }
  return out;
}

uint32_t word(const uint8_t* a, unsigned i) {
  uint32_t w;
  std::memcpy(&w, a + 4 * i, 4);
  return ntohl(w);
}

uint32_t word_bits(uint32_t len, unsigned i) {
  const int bits = static_cast<int>(len) - 32 * static_cast<int>(i);
  return static_cast<uint32_t>(std::clamp(bits, 0, 32));
}

std::atomic<uint32_t> g_name_seq{0};
constexpr uint32_t kMaxBurstClassify = 64;
constexpr size_t kSingleContextMax = 2048;  // classifier entries
constexpr size_t kMinShardEntries = 64;

std::string unique_name(const char* what) {
  return std::string(what) + std::to_string(g_name_seq.fetch_add(1));
}

// How wide an address side is: any, wide (shorter than 3/4 of the
// address), narrow. Sum of the four words' prefix bits for IPv6.
template <class AclRule, bool kV6>
int side_width(const AclRule& x, bool source) {
  uint32_t bits;
  if constexpr (kV6) {
    const unsigned f = source ? 1 : 5;
    bits = x.field[f].mask_range.u32 + x.field[f + 1].mask_range.u32 + x.field[f + 2].mask_range.u32 +
           x.field[f + 3].mask_range.u32;
  } else {
    bits = x.field[source ? 1 : 2].mask_range.u32;
  }
  const uint32_t max = kV6 ? 128 : 32;
  return bits == 0 ? 0 : bits < max * 3 / 4 ? 1 : 2;
}

// rte_acl's build time and memory explode when rules whose wildcards lie in
// different fields share one trie (fw1_10k: 3.1 s and 1.4 GiB as one
// context). Large sets are therefore split by shape — the width of each
// address side — into contexts built separately; classification asks every
// context and keeps the lowest rule index, so any partition is exact.
// Small sets stay one context: cheaper to classify, fast to build anyway.
// Reorders `acl` and returns the [first, last) range of each context.
template <class AclRule, bool kV6>
std::vector<std::pair<size_t, size_t>> shard_ranges(std::vector<AclRule>& acl) {
  if (acl.size() <= kSingleContextMax) return {{0, acl.size()}};
  auto shape = [](const AclRule& x) { return side_width<AclRule, kV6>(x, true) * 3 + side_width<AclRule, kV6>(x, false); };
  std::stable_sort(acl.begin(), acl.end(), [&](const AclRule& a, const AclRule& b) { return shape(a) < shape(b); });
  std::vector<std::pair<size_t, size_t>> ranges;
  for (size_t i = 0; i < acl.size();) {
    size_t j = i;
    while (j < acl.size() && shape(acl[j]) == shape(acl[i])) ++j;
    // Shapes with very few entries join their neighbour: a context each
    // would cost a classification each for no build time saved. Only very
    // few: mixing wildcard shapes is what makes rte_acl slow (ipc1_10k with
    // shapes of up to 255 entries merged: 1.0-1.6 s; up to 63: 0.8 s).
    if (!ranges.empty() && (j - i < kMinShardEntries || ranges.back().second - ranges.back().first < kMinShardEntries))
      ranges.back().second = j;
    else
      ranges.emplace_back(i, j);
    i = j;
  }
  return ranges;
}

template <class AclRule, bool kV6>
rte_acl_ctx* build_context(const AclRule* rules, size_t count, std::string& error) {
  const std::string name = unique_name(kV6 ? "bh_acl6_" : "bh_acl4_");
  rte_acl_param param{};
  param.name = name.c_str();
  param.socket_id = SOCKET_ID_ANY;
  param.rule_size = sizeof(AclRule);
  param.max_rule_num = static_cast<uint32_t>(count);
  rte_acl_ctx* ctx = rte_acl_create(&param);
  if (ctx == nullptr) {
    error = "cannot create classifier context (out of memory?)";
    return nullptr;
  }
  int rc = rte_acl_add_rules(ctx, reinterpret_cast<const rte_acl_rule*>(rules), static_cast<uint32_t>(count));
  if (rc == 0) {
    rte_acl_config cfg;
    if constexpr (kV6) acl_config6(cfg); else acl_config4(cfg);
    rc = rte_acl_build(ctx, &cfg);
  }
  if (rc != 0) {
    error = std::string("classifier build failed: ") + strerror(-rc);
    rte_acl_free(ctx);
    return nullptr;
  }
  return ctx;
}

// FNV-1a over the bytes of a context's entries.
template <class AclRule>
uint64_t fingerprint(const AclRule* rules, size_t count) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const uint8_t*>(rules);
  for (size_t i = 0; i < count * sizeof(AclRule); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h ^ count;
}

// Appends the classifier entries of rule `index` (of `rule_count`) for one
// family; userdata = index + 1. `total` guards the whole set's expansion.
template <class AclRule, bool kV6>
bool expand_rule(const pb::CompiledRule& r, uint32_t index, uint32_t rule_count, std::vector<AclRule>& acl,
                 uint64_t& total, std::string& error) {
  const size_t addr_len = kV6 ? 16 : 4;
  if (kV6 ? !r.v6() : !r.v4()) return true;
  std::vector<Pfx> srcs, dsts;
  if (!side_prefixes(r.src(), addr_len, srcs) || !side_prefixes(r.dst(), addr_len, dsts)) return true;
  const auto sp = ranges(r.sports());
  const auto dp = ranges(r.dports());
  total += static_cast<uint64_t>(srcs.size()) * dsts.size() * sp.size() * dp.size();
  if (total > kMaxAclRules) {
    error = "rule set expands to more than " + std::to_string(kMaxAclRules) + " classifier entries (rule '" +
            r.id() + "' and earlier)";
    return false;
  }
  for (const auto& s : srcs)
    for (const auto& d : dsts)
      for (const auto& a : sp)
        for (const auto& b : dp) {
          AclRule x{};
          x.data.category_mask = 1;
          x.data.priority = static_cast<int32_t>(rule_count - index);
          x.data.userdata = index + 1;
          x.field[0].value.u8 = r.any_proto() ? 0 : static_cast<uint8_t>(r.proto());
          x.field[0].mask_range.u8 = r.any_proto() ? 0 : 0xff;
          if constexpr (kV6) {
            for (unsigned w = 0; w < 4; ++w) {
              x.field[1 + w].value.u32 = word(s.addr, w);
              x.field[1 + w].mask_range.u32 = word_bits(s.len, w);
              x.field[5 + w].value.u32 = word(d.addr, w);
              x.field[5 + w].mask_range.u32 = word_bits(d.len, w);
            }
            x.field[9].value.u16 = a.lo;
            x.field[9].mask_range.u16 = a.hi;
            x.field[10].value.u16 = b.lo;
            x.field[10].mask_range.u16 = b.hi;
          } else {
            x.field[1].value.u32 = word(s.addr, 0);
            x.field[1].mask_range.u32 = s.len;
            x.field[2].value.u32 = word(d.addr, 0);
            x.field[2].mask_range.u32 = d.len;
            x.field[3].value.u16 = a.lo;
            x.field[3].mask_range.u16 = a.hi;
            x.field[4].value.u16 = b.lo;
            x.field[4].mask_range.u16 = b.hi;
          }
          acl.push_back(x);
        }
  return true;
}

// One context over `count` entries whose userdata is a rule index + 1.
// Rule numbers are made local to the context, in rule order: the context's
// content then depends only on its own rules, so a change elsewhere leaves
// it identical, and a context of `previous` with the same content is shared
// rather than rebuilt. (A range may hold several shapes, so its entries are
// not in rule order: the rules are ranked.)
template <class AclRule, bool kV6>
bool make_shard(AclRule* acl, size_t count, const std::vector<AclShard>* previous, uint32_t& reused,
                AclShard& shard, std::string& error) {
  shard.rule_of.assign(1, kNoRule);
  for (size_t k = 0; k < count; ++k) shard.rule_of.push_back(acl[k].data.userdata - 1);
  std::sort(shard.rule_of.begin() + 1, shard.rule_of.end());
  shard.rule_of.erase(std::unique(shard.rule_of.begin() + 1, shard.rule_of.end()), shard.rule_of.end());
  for (size_t k = 0; k < count; ++k) {
    const uint32_t rule = acl[k].data.userdata - 1;
    const auto local = static_cast<uint32_t>(
        std::lower_bound(shard.rule_of.begin() + 1, shard.rule_of.end(), rule) - shard.rule_of.begin());
    acl[k].data.userdata = local;
    acl[k].data.priority = static_cast<int32_t>(RTE_ACL_MAX_PRIORITY - local);
  }
  const uint64_t fp = fingerprint(acl, count);
  if (previous != nullptr)
    for (const auto& old : *previous)
      if (old.context->fingerprint == fp && old.context->count == count) {
        shard.context = old.context;
        ++reused;
        return true;
      }
  auto context = std::make_shared<AclContext>();
  context->ctx = build_context<AclRule, kV6>(acl, count, error);
  if (context->ctx == nullptr) return false;
  context->fingerprint = fp;
  context->count = static_cast<uint32_t>(count);
  const auto* bytes = reinterpret_cast<const uint8_t*>(acl);
  context->entries.assign(bytes, bytes + count * sizeof(AclRule));
  shard.context = std::move(context);
  return true;
}

// Builds one family's classifier contexts.
template <class AclRule, bool kV6>
std::vector<AclShard> build_acl(const pb::CompiledRuleSet& set, uint32_t rule_count, const std::vector<bool>& active,
                                const std::vector<AclShard>* previous, uint32_t& acl_rules, uint32_t& reused,
                                std::string& error) {
  std::vector<AclRule> acl;
  uint64_t total = 0;
  for (uint32_t i = 0; i < rule_count; ++i) {
    if (!active[i]) continue;
    if (!expand_rule<AclRule, kV6>(set.rules(static_cast<int>(i)), i, rule_count, acl, total, error)) return {};
  }
  acl_rules = static_cast<uint32_t>(acl.size());
  std::vector<AclShard> shards;
  if (acl.empty()) return shards;
  for (const auto& [first, last] : shard_ranges<AclRule, kV6>(acl)) {
    AclShard shard;
    if (!make_shard<AclRule, kV6>(acl.data() + first, last - first, previous, reused, shard, error)) return {};
    shards.push_back(std::move(shard));
  }
  return shards;
}

// The most entries a change's overlay may hold before a full build pays.
constexpr size_t kMaxOverlayEntries = 1024;

// One family's contexts for a change of `previous` (see RuleSet::change):
// its contexts with rule numbers carried over (`new_of`: old rule index ->
// new, or kTombstone), and one overlay context holding what the previous
// overlay held (still present) and the new rules. False with an empty
// `error` when the overlay would be too large.
template <class AclRule, bool kV6>
bool change_acl(const pb::CompiledRuleSet& set, const std::vector<AclShard>& previous,
                const std::vector<uint32_t>& base_of, const std::vector<uint32_t>& new_of,
                const std::vector<bool>& active, std::vector<AclShard>& shards, uint32_t& acl_rules,
                std::string& error) {
  const auto n = static_cast<uint32_t>(set.rules_size());
  std::vector<AclRule> overlay;
  acl_rules = 0;
  for (const auto& old : previous) {
    if (old.overlay) {
      const auto* entries = reinterpret_cast<const AclRule*>(old.context->entries.data());
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
    bool gone = false;
    for (size_t local = 1; local < old.rule_of.size(); ++local) {
      const uint32_t was = old.rule_of[local];
      shard.rule_of[local] = was == kTombstone ? kTombstone : new_of[was];
      gone |= shard.rule_of[local] == kTombstone;
    }
    uint32_t dead = 0;  // entries of removed rules
    const auto* entries = reinterpret_cast<const AclRule*>(old.context->entries.data());
    if (gone)
      for (uint32_t k = 0; k < old.context->count; ++k) dead += shard.rule_of[entries[k].data.userdata] == kTombstone;
    acl_rules += old.context->count - dead;
    shards.push_back(std::move(shard));
  }
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (base_of[i] != kNewRule || !active[i]) continue;
    if (!expand_rule<AclRule, kV6>(set.rules(static_cast<int>(i)), i, n, overlay, total, error)) return false;
    if (overlay.size() > kMaxOverlayEntries) return false;
  }
  if (overlay.size() > kMaxOverlayEntries) return false;
  acl_rules += static_cast<uint32_t>(overlay.size());
  if (overlay.empty()) return true;
  AclShard shard;
  uint32_t unused = 0;
  if (!make_shard<AclRule, kV6>(overlay.data(), overlay.size(), nullptr, unused, shard, error)) return false;
  shard.overlay = true;
  shards.push_back(std::move(shard));
  return true;
}

}  // namespace

void make_acl_key(const FlowTuple& t, AclKey4& k) noexcept {
  k.proto = t.proto;
  k.pad[0] = k.pad[1] = k.pad[2] = 0;
  std::memcpy(&k.src, t.src, 4);
  std::memcpy(&k.dst, t.dst, 4);
  k.sport = htons(t.sport);
  k.dport = htons(t.dport);
}

void make_acl_key(const FlowTuple& t, AclKey6& k) noexcept {
  k.proto = t.proto;
  k.pad[0] = k.pad[1] = k.pad[2] = 0;
  std::memcpy(k.src, t.src, 16);
  std::memcpy(k.dst, t.dst, 16);
  k.sport = htons(t.sport);
  k.dport = htons(t.dport);
}

RuleSet::~RuleSet() {

  if (rib4_) rte_rib_free(rib4_);
  if (rib6_) rte_rib6_free(rib6_);
  rte_free(counters_);
}

AclContext::~AclContext() {
  if (ctx != nullptr) rte_acl_free(ctx);
}

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
  for (uint32_t i = 0; i < n; ++i) {
    const auto& r = compiled.rules(static_cast<int>(i));
    rules_.push_back(RuleInfo{r.id(), r.action() == pb::ACTION_ALLOW, r.log(), r.expires_at(), false});
    if (r.expires_at() != 0) {
      if (r.expires_at() <= now_unix) {
        active[i] = false;  // expired: kept for counters and names, never matched
        rules_.back().expired = true;
      } else if (next_expiry_ == 0 || r.expires_at() < next_expiry_) {
        next_expiry_ = r.expires_at();
      }
    }
  }

  // Segment membership: most specific prefix wins.
  int v4 = 0, v6 = 0;
  for (const auto& seg : compiled.segments())
    for (const auto& p : seg.prefixes()) (p.addr().size() == 4 ? v4 : v6) += 1;
  for (const auto& seg : compiled.segments()) segment_names_.push_back(seg.name());
  if (v4 > 0) {
    rte_rib_conf cfg{};
    cfg.max_nodes = 2 * v4 + 8;
    rib4_ = rte_rib_create(unique_name("bh_rib4_").c_str(), SOCKET_ID_ANY, &cfg);
  }
  if (v6 > 0) {
    rte_rib6_conf cfg{};
    cfg.max_nodes = 2 * v6 + 8;
    rib6_ = rte_rib6_create(unique_name("bh_rib6_").c_str(), SOCKET_ID_ANY, &cfg);
  }
  if ((v4 > 0 && rib4_ == nullptr) || (v6 > 0 && rib6_ == nullptr)) {
    error = "cannot create segment tables (out of memory?)";
    return false;
  }
  for (int si = 0; si < compiled.segments_size(); ++si) {
    for (const auto& p : compiled.segments(si).prefixes()) {
      bool ok = false;
      if (p.addr().size() == 4) {
        const uint32_t a = word(reinterpret_cast<const uint8_t*>(p.addr().data()), 0);
        rte_rib_node* node = rte_rib_insert(rib4_, a, static_cast<uint8_t>(std::min<uint32_t>(p.prefix_len(), 32)));
        ok = node != nullptr && rte_rib_set_nh(node, static_cast<uint64_t>(si)) == 0;
      } else if (p.addr().size() == 16) {
        uint8_t a[16];
        std::memcpy(a, p.addr().data(), 16);
        rte_rib6_node* node = rte_rib6_insert(rib6_, a, static_cast<uint8_t>(std::min<uint32_t>(p.prefix_len(), 128)));
        ok = node != nullptr && rte_rib6_set_nh(node, static_cast<uint64_t>(si)) == 0;
      }
      // Overlapping segments may hold the same prefix: the first one keeps it.
      if (!ok && rte_errno != EEXIST) {
        error = "cannot add a prefix of segment '" + compiled.segments(si).name() + "' to its table";
        return false;
      }
    }
  }

  stride_ = (n + 1 + 7) & ~size_t{7};  // 8 x 24 bytes: rows never share a cache line
  counters_ = static_cast<RuleCounter*>(
      rte_zmalloc("bh_rule_counters", sizeof(RuleCounter) * stride_ * (workers_ + 1), RTE_CACHE_LINE_SIZE));
  if (counters_ == nullptr) {
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
  const auto n = static_cast<uint32_t>(compiled.rules_size());
  rs->acl4_ = build_acl<AclRule4, false>(compiled, n, active, previous ? &previous->acl4_ : nullptr, rs->acl_rules4_,
                                         rs->acl_reused_, error);
  if (!error.empty()) return nullptr;
  rs->acl6_ = build_acl<AclRule6, true>(compiled, n, active, previous ? &previous->acl6_ : nullptr, rs->acl_rules6_,
                                        rs->acl_reused_, error);
  if (!error.empty()) return nullptr;
  rs->build_ns_ = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  return rs;
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
    new_of[b] = i;
  }
  if (!change_acl<AclRule4, false>(compiled, previous.acl4_, base_of, new_of, active, rs->acl4_, rs->acl_rules4_,
                                   error) ||
      !change_acl<AclRule6, true>(compiled, previous.acl6_, base_of, new_of, active, rs->acl6_, rs->acl_rules6_,
                                  error))
    return nullptr;
  rs->compactable_ = true;
  rs->base_of_ = base_of;
  rs->base_epoch_ = previous.epoch_;
  rs->build_ns_ = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  return rs;
}

namespace {

bool field_matches(const rte_acl_field& f, uint32_t value, bool range) noexcept {
  if (range) return value >= f.value.u16 && value <= f.mask_range.u16;
  const uint32_t bits = f.mask_range.u32;
  return bits == 0 || (value >> (32 - bits)) == (f.value.u32 >> (32 - bits));
}

uint32_t load32(const uint8_t* p) noexcept {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return ntohl(w);
}

uint16_t load16(const uint8_t* p) noexcept {
  uint16_t w;
  std::memcpy(&w, p, 2);
  return ntohs(w);
}

bool entry_matches(const AclRule4& x, const uint8_t* key) noexcept {
  const auto* k = reinterpret_cast<const AclKey4*>(key);
  return (k->proto & x.field[0].mask_range.u8) == x.field[0].value.u8 &&
         field_matches(x.field[1], load32(key + offsetof(AclKey4, src)), false) &&
         field_matches(x.field[2], load32(key + offsetof(AclKey4, dst)), false) &&
         field_matches(x.field[3], load16(key + offsetof(AclKey4, sport)), true) &&
         field_matches(x.field[4], load16(key + offsetof(AclKey4, dport)), true);
}

bool entry_matches(const AclRule6& x, const uint8_t* key) noexcept {
  const auto* k = reinterpret_cast<const AclKey6*>(key);
  if ((k->proto & x.field[0].mask_range.u8) != x.field[0].value.u8) return false;
  for (unsigned w = 0; w < 4; ++w)
    if (!field_matches(x.field[1 + w], load32(key + offsetof(AclKey6, src) + 4 * w), false) ||
        !field_matches(x.field[5 + w], load32(key + offsetof(AclKey6, dst) + 4 * w), false))
      return false;
  return field_matches(x.field[9], load16(key + offsetof(AclKey6, sport)), true) &&
         field_matches(x.field[10], load16(key + offsetof(AclKey6, dport)), true);
}

// The best live rule of a context for one key, by scanning its entries:
// the slow path for a lookup whose best entry belongs to a removed rule,
// taken only until the set is rebuilt in full.
template <class AclRule>
uint32_t live_match(const AclShard& shard, const uint8_t* key) noexcept {
  const auto* entries = reinterpret_cast<const AclRule*>(shard.context->entries.data());
  uint32_t best = kNoRule;
  for (uint32_t k = 0; k < shard.context->count; ++k) {
    const uint32_t rule = shard.rule_of[entries[k].data.userdata];
    if (rule < best && rule != kTombstone && entry_matches(entries[k], key)) best = rule;
  }
  return best;
}

// Classifies with every context and keeps the lowest rule index (rules
// are in priority order); each context's result is its local rule number,
// 0 for no match, translated through the shard's table (0 -> kNoRule).
template <class AclRule>
void classify_shards(const std::vector<AclShard>& shards, const uint8_t** keys, uint32_t n, uint32_t* out) noexcept {
  for (uint32_t i = 0; i < n; ++i) out[i] = kNoRule;
  uint32_t local[kMaxBurstClassify];
  for (const auto& shard : shards)
    for (uint32_t first = 0; first < n; first += kMaxBurstClassify) {
      const uint32_t m = std::min(n - first, kMaxBurstClassify);
      rte_acl_classify(shard.context->ctx, keys + first, local, m, 1);
      const uint32_t* rule_of = shard.rule_of.data();
      for (uint32_t i = 0; i < m; ++i) {
        uint32_t rule = rule_of[local[i]];
        if (unlikely(rule == kTombstone)) rule = live_match<AclRule>(shard, keys[first + i]);
        out[first + i] = std::min(out[first + i], rule);
      }
    }
}

}  // namespace

void RuleSet::classify4(const AclKey4* const* keys, uint32_t n, uint32_t* out) const noexcept {
  classify_shards<AclRule4>(acl4_, reinterpret_cast<const uint8_t**>(const_cast<const AclKey4**>(keys)), n, out);
}

void RuleSet::classify6(const AclKey6* const* keys, uint32_t n, uint32_t* out) const noexcept {
  classify_shards<AclRule6>(acl6_, reinterpret_cast<const uint8_t**>(const_cast<const AclKey6**>(keys)), n, out);
}

uint32_t RuleSet::classify(const FlowTuple& t) const noexcept {
  uint32_t r = kNoRule;
  if (t.family == 4) {
    AclKey4 k;
    make_acl_key(t, k);
    const AclKey4* p = &k;
    classify4(&p, 1, &r);
  } else {
    AclKey6 k;
    make_acl_key(t, k);
    const AclKey6* p = &k;
    classify6(&p, 1, &r);
  }
  return r;
}

int RuleSet::segment_of(const FlowTuple& t, bool source) const noexcept {
  const uint8_t* a = source ? t.src : t.dst;
  uint64_t hop = 0;
  if (t.family == 4) {
    const rte_rib_node* node = rib4_ ? rte_rib_lookup(rib4_, word(a, 0)) : nullptr;
    if (node != nullptr && rte_rib_get_nh(node, &hop) == 0) return static_cast<int>(hop);
  } else {
    const rte_rib6_node* node = rib6_ ? rte_rib6_lookup(rib6_, a) : nullptr;
    if (node != nullptr && rte_rib6_get_nh(node, &hop) == 0) return static_cast<int>(hop);
  }
  return -1;
}

RuleCounter RuleSet::total(uint32_t rule) const noexcept {
  RuleCounter sum{};
  const size_t slot = rule == kNoRule ? rules_.size() : rule;
  for (uint32_t w = 0; w <= workers_; ++w) {  // the last row is inherited history
    const RuleCounter& c = counters_[w * stride_ + slot];
    sum.packets += __atomic_load_n(&c.packets, __ATOMIC_RELAXED);
    sum.bytes += __atomic_load_n(&c.bytes, __ATOMIC_RELAXED);
    sum.connections += __atomic_load_n(&c.connections, __ATOMIC_RELAXED);
  }
  return sum;
}

void RuleSet::inherit_counters(const RuleSet& other) noexcept {
  // Called after the grace period that retired `other`: its counters are
  // final. They go into the row no worker writes.
  RuleCounter* base = counters_ + workers_ * stride_;
  auto add = [&](uint32_t to, uint32_t from) {
    const RuleCounter t = other.total(from);
    RuleCounter& c = base[to];
    c.packets += t.packets;
    c.bytes += t.bytes;
    c.connections += t.connections;
  };
  // A set built as a change of `other`, or in full from the same rules,
  // knows which of its rules are which: no lookup by id.
  if (other.epoch_ == base_epoch_ && base_of_.size() == rules_.size()) {
    for (uint32_t i = 0; i < rules_.size(); ++i)
      if (base_of_[i] != kNewRule && base_of_[i] < other.rules_.size()) add(i, base_of_[i]);
    add(static_cast<uint32_t>(rules_.size()), kNoRule);
    return;
  }
  if (other.epoch_ == epoch_ && other.rules_.size() == rules_.size()) {
    for (uint32_t i = 0; i <= rules_.size(); ++i) add(i, i == rules_.size() ? kNoRule : i);
    return;
  }
  std::unordered_map<std::string_view, uint32_t> by_id;
  for (uint32_t i = 0; i < other.rules_.size(); ++i) by_id.emplace(other.rules_[i].id, i);
  for (uint32_t i = 0; i < rules_.size(); ++i) {
    auto it = by_id.find(rules_[i].id);
    if (it == by_id.end()) continue;
    const RuleCounter t = other.total(it->second);
    RuleCounter& c = base[i];
    c.packets += t.packets;
    c.bytes += t.bytes;
    c.connections += t.connections;
  }
  const RuleCounter d = other.total(kNoRule);
  RuleCounter& c = base[rules_.size()];
  c.packets += d.packets;
  c.bytes += d.bytes;
  c.connections += d.connections;
}

}  // namespace bulkhead::dataplane
