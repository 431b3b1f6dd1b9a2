#include "dataplane/acl_entries.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

#include <arpa/inet.h>

#include "dataplane/verdict.h"

namespace bulkhead::dataplane {
namespace {

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
constexpr size_t kSingleContextMax = 2048;  // classifier entries
constexpr size_t kMinShardEntries = 64;
constexpr size_t kMixedShare = 10;  // split when over a tenth of the entries is open on each side

std::string unique_name(const char* what) {
  return std::string(what) + std::to_string(g_name_seq.fetch_add(1));
}


// FNV-1a over the bytes of a context's entries.
template <class AclRule>
uint64_t fingerprint(const AclRule* rules, size_t count) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const uint8_t*>(rules);
  for (size_t i = 0; i < count * sizeof(AclRule); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h ^ count;
}

// How wide an address side is: any, wide (shorter than 3/4 of the
// address), narrow. Sum of the four words' prefix bits for IPv6.
template <class AclRule>
int side_width(const AclRule& x, bool source) {
  constexpr bool kV6 = std::is_same_v<AclRule, AclRule6>;
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

// Whether over a tenth of the entries is open on the source and over a
// tenth on the destination.
template <class AclRule>
bool mixed_wildcards(const std::vector<AclRule>& acl) {
  size_t any_source = 0, any_destination = 0;
  for (const AclRule& x : acl) {
    any_source += side_width<AclRule>(x, true) == 0;
    any_destination += side_width<AclRule>(x, false) == 0;
  }
  return any_source * kMixedShare > acl.size() && any_destination * kMixedShare > acl.size();
}

// rte_acl's build time and memory explode when many rules open on the
// source and many open on the destination share one trie (fw1_10k: 3.1-4.5 s
// and 1.4 GiB as one context). Such sets are split by shape — the width of
// each address side — into contexts built separately; classification asks
// every context and keeps the lowest rule index, so any partition is exact.
// Every other set is one context, however large: each context is one more
// walk for every new connection (acl1_10k: 2,038 instructions a new
// connection in five contexts, 1,155 in one), and such sets build as fast
// whole (acl1_10k 0.35 s, ipc1_10k 0.38 s against 0.76 s split, acl1_50k
// 0.61 s). Reorders `acl` and returns the [first, last) range of each
// context.
template <class AclRule>
std::vector<std::pair<size_t, size_t>> shard_ranges(std::vector<AclRule>& acl) {
  if (acl.size() <= kSingleContextMax || !mixed_wildcards(acl)) return {{0, acl.size()}};
  auto shape = [](const AclRule& x) { return side_width<AclRule>(x, true) * 3 + side_width<AclRule>(x, false); };
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

}  // namespace

namespace acl {

template <class AclRule>
std::shared_ptr<AclContext> build_context(const AclRule* rules, size_t count, std::string& error) {
  constexpr bool kV6 = std::is_same_v<AclRule, AclRule6>;
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
    acl_config(cfg, kV6, std::any_of(rules, rules + count, [](const AclRule& x) { return has_name_condition(x); }));
    rc = rte_acl_build(ctx, &cfg);
  }
  if (rc != 0) {
    error = std::string("classifier build failed: ") + strerror(-rc);
    rte_acl_free(ctx);
    return nullptr;
  }
  auto context = std::make_shared<AclContext>();
  context->ctx = ctx;
  context->fingerprint = fingerprint(rules, count);
  context->count = static_cast<uint32_t>(count);
  const auto* bytes = reinterpret_cast<const uint8_t*>(rules);
  context->entries.assign(bytes, bytes + count * sizeof(AclRule));
  return context;
}

// Appends the classifier entries of rule `index` (of `rule_count`) for one
// family; userdata = index + 1. `total` guards the whole set's expansion.
TenantValues::TenantValues(const pb::CompiledRuleSet& set) {
  for (int k = 0; k < set.tenants_size(); ++k) {
    const auto& t = set.tenants(k);
    by_name_.emplace_back(t.name(), t.tag() != 0 ? t.tag() : static_cast<uint32_t>(k + 1));
  }
  std::sort(by_name_.begin(), by_name_.end());
}

uint32_t TenantValues::of(const pb::CompiledRule& r) const {
  if (r.tenant().empty()) return 0;
  const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), r.tenant(),
                                   [](const auto& e, const std::string& name) { return e.first < name; });
  // A tenant the set does not list (validate_rule_set refuses such a set):
  // a value no packet carries.
  return it != by_name_.end() && it->first == r.tenant() ? it->second : kUnmatchedTenant;
}

template <class AclRule>
bool expand_rule(const pb::CompiledRule& r, uint32_t tenant, RuleBits bits, uint32_t index, uint32_t rule_count,
                 std::vector<AclRule>& acl, uint64_t& total, std::string& error) {
  constexpr bool kV6 = std::is_same_v<AclRule, AclRule6>;
  const size_t addr_len = kV6 ? 16 : 4;
  if (kV6 ? !r.v6() : !r.v4()) return true;
  std::vector<Pfx> srcs, dsts;
  if (!side_prefixes(r.src(), addr_len, srcs)) return true;
  // The address part: with `fqdn`, only the addresses written beside the
  // names (none: no address part). The name part: any destination of the
  // family, on condition of the rule's fqdn bit.
  const bool by_name = r.fqdn_size() > 0 && bits.fqdn != names::PolicyNames::kNoBit;
  const bool by_address = by_name ? r.dst_size() > 0 && side_prefixes(r.dst(), addr_len, dsts)
                                  : side_prefixes(r.dst(), addr_len, dsts);
  const size_t address_parts = by_address ? dsts.size() : 0;
  if (by_name) dsts.push_back(Pfx{{}, 0});
  const size_t parts = address_parts + (by_name ? 1 : 0);
  if (parts == 0) return true;
  const auto sp = ranges(r.sports());
  const auto dp = ranges(r.dports());
  total += static_cast<uint64_t>(srcs.size()) * parts * sp.size() * dp.size();
  if (total > rules::kMaxClassifierEntries) {
    error = "rule set expands to more than " + std::to_string(rules::kMaxClassifierEntries) + " classifier entries (rule '" +
            r.id() + "' and earlier)";
    return false;
  }
  const uint32_t sni_mask = bits.sni != names::PolicyNames::kNoBit ? 1u << bits.sni : 0;
  for (const auto& s : srcs)
    for (size_t di = 0; di < parts; ++di) {
      const Pfx& d = dsts[by_address ? di : address_parts];
      const uint32_t fqdn_mask = di >= address_parts ? 1u << bits.fqdn : 0;
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
            x.field[kAclTenant6].value.u32 = tenant;
            x.field[kAclTenant6].mask_range.u32 = tenant != 0 ? 32 : 0;
            x.field[kAclFqdn6].value.u32 = x.field[kAclFqdn6].mask_range.u32 = fqdn_mask;
            x.field[kAclSni6].value.u32 = x.field[kAclSni6].mask_range.u32 = sni_mask;
          } else {
            x.field[1].value.u32 = word(s.addr, 0);
            x.field[1].mask_range.u32 = s.len;
            x.field[2].value.u32 = word(d.addr, 0);
            x.field[2].mask_range.u32 = d.len;
            x.field[3].value.u16 = a.lo;
            x.field[3].mask_range.u16 = a.hi;
            x.field[4].value.u16 = b.lo;
            x.field[4].mask_range.u16 = b.hi;
            x.field[kAclTenant4].value.u32 = tenant;
            x.field[kAclTenant4].mask_range.u32 = tenant != 0 ? 32 : 0;
            x.field[kAclFqdn4].value.u32 = x.field[kAclFqdn4].mask_range.u32 = fqdn_mask;
            x.field[kAclSni4].value.u32 = x.field[kAclSni4].mask_range.u32 = sni_mask;
          }
          acl.push_back(x);
        }
    }
  return true;
}

RuleBits bits_of(const names::PolicyNames* names, uint32_t rule) noexcept {
  if (names == nullptr) return RuleBits{};
  return RuleBits{names->fqdn_bit(rule), names->sni_bit(rule)};
}

// One context over `count` entries whose userdata is a rule index + 1.
// Rule numbers are made local to the context, in rule order: the context's
// content then depends only on its own rules, so a change elsewhere leaves
// it identical, and a context of `previous` with the same content is shared
// rather than rebuilt. (A range may hold several shapes, so its entries are
// not in rule order: the rules are ranked.)
template <class AclRule>
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
  shard.context = build_context<AclRule>(acl, count, error);
  return shard.context != nullptr;
}

template bool expand_rule<AclRule4>(const pb::CompiledRule&, uint32_t, RuleBits, uint32_t, uint32_t,
                                    std::vector<AclRule4>&, uint64_t&, std::string&);
template bool expand_rule<AclRule6>(const pb::CompiledRule&, uint32_t, RuleBits, uint32_t, uint32_t,
                                    std::vector<AclRule6>&, uint64_t&, std::string&);
template bool make_shard<AclRule4>(AclRule4*, size_t, const std::vector<AclShard>*, uint32_t&, AclShard&,
                                   std::string&);
template bool make_shard<AclRule6>(AclRule6*, size_t, const std::vector<AclShard>*, uint32_t&, AclShard&,
                                   std::string&);
template std::shared_ptr<AclContext> build_context<AclRule4>(const AclRule4*, size_t, std::string&);
template std::shared_ptr<AclContext> build_context<AclRule6>(const AclRule6*, size_t, std::string&);

}  // namespace acl

namespace {

// Builds one family's classifier contexts.
template <class AclRule>
bool build_shards(const pb::CompiledRuleSet& set, const std::vector<bool>& active, const names::PolicyNames* names,
                  const AclFamily* previous, AclFamily& out, uint32_t& reused, std::string& error) {
  const auto rule_count = static_cast<uint32_t>(set.rules_size());
  std::vector<AclRule> acl;
  uint64_t total = 0;
  const acl::TenantValues tenants(set);
  for (uint32_t i = 0; i < rule_count; ++i) {
    if (!active[i]) continue;
    const auto& r = set.rules(static_cast<int>(i));
    if (!acl::expand_rule<AclRule>(r, tenants.of(r), acl::bits_of(names, i), i, rule_count, acl, total, error))
      return false;
  }
  out = AclFamily{};
  out.entries = static_cast<uint32_t>(acl.size());
  if (acl.empty()) return true;
  for (const auto& [first, last] : shard_ranges<AclRule>(acl)) {
    AclShard shard;
    if (!acl::make_shard<AclRule>(acl.data() + first, last - first, previous ? &previous->shards : nullptr, reused,
                                  shard, error))
      return false;
    out.shards.push_back(std::move(shard));
  }
  return true;
}

}  // namespace

AclContext::~AclContext() {
  if (ctx != nullptr) rte_acl_free(ctx);
}

bool build_family(const pb::CompiledRuleSet& set, const std::vector<bool>& active, const names::PolicyNames* names,
                  bool v6, const AclFamily* previous, AclFamily& out, uint32_t& reused, std::string& error) {
  return v6 ? build_shards<AclRule6>(set, active, names, previous, out, reused, error)
            : build_shards<AclRule4>(set, active, names, previous, out, reused, error);
}

}  // namespace bulkhead::dataplane
