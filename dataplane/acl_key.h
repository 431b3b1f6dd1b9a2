// The key a packet is classified with, and the rte_acl field table that
// describes it: one definition, from which the classifier contexts are
// built (offsetof into the key) and the fast path fills keys.
//
// Every field is in network byte order, the protocol first (rte_acl wants a
// one-byte first field), the tenant last: one-armed insertion's tenant tag
// (ConnKey::tenant, 0 inline), which a tenant's rules match exactly and
// the shared rules ignore. It is one more 4-byte step of every lookup, and
// lookups happen only for a connection's first packet, never for the
// established traffic (docs/policy.md, "Tenants").
//
// After the tenant, two 4-byte BITMASK fields tell rules written with names
// apart (docs/egress.md, "How the dataplane decides"): `fqdn_bits` (bit b:
// rule b of those with `fqdn` may match by name) and `sni_bits` (bit b: the
// server name satisfies rule b of those with `sni`); numbering in
// dataplane/names/policy_names.h. A first lookup sets both to all ones; an
// entry of a rule without names masks them out. A context none of whose
// entries looks at them is built without these fields (acl_config's
// `names`), so a set without names classifies exactly as before they
// existed. Pure data; any thread.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

#include <rte_acl.h>

#include "dataplane/packet.h"

namespace bulkhead::dataplane {

struct alignas(8) AclKey4 {
  uint8_t proto;
  uint8_t pad[3];
  uint32_t src;
  uint32_t dst;
  uint16_t sport;
  uint16_t dport;
  uint32_t tenant;
  uint32_t fqdn_bits;  // network order, as every field
  uint32_t sni_bits;
};

struct alignas(8) AclKey6 {
  uint8_t proto;
  uint8_t pad[3];
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t sport;
  uint16_t dport;
  uint32_t tenant;
  uint32_t fqdn_bits;  // network order, as every field
  uint32_t sni_bits;
};

// Bits of a first lookup: every rule's name condition taken as met.
inline constexpr uint32_t kAllNameBits = 0xffffffffu;

inline void make_acl_key(const FlowTuple& t, uint16_t tenant, AclKey4& k, uint32_t fqdn_bits = kAllNameBits,
                         uint32_t sni_bits = kAllNameBits) noexcept {
  k.proto = t.proto;
  k.pad[0] = k.pad[1] = k.pad[2] = 0;
  std::memcpy(&k.src, t.src, 4);
  std::memcpy(&k.dst, t.dst, 4);
  k.sport = htons(t.sport);
  k.dport = htons(t.dport);
  k.tenant = htonl(tenant);
  k.fqdn_bits = htonl(fqdn_bits);
  k.sni_bits = htonl(sni_bits);
}

inline void make_acl_key(const FlowTuple& t, uint16_t tenant, AclKey6& k, uint32_t fqdn_bits = kAllNameBits,
                         uint32_t sni_bits = kAllNameBits) noexcept {
  k.proto = t.proto;
  k.pad[0] = k.pad[1] = k.pad[2] = 0;
  std::memcpy(k.src, t.src, 16);
  std::memcpy(k.dst, t.dst, 16);
  k.sport = htons(t.sport);
  k.dport = htons(t.dport);
  k.tenant = htonl(tenant);
  k.fqdn_bits = htonl(fqdn_bits);
  k.sni_bits = htonl(sni_bits);
}

// Fields of a classifier entry: proto, src, dst, sport, dport, tenant,
// fqdn_bits, sni_bits (IPv4); proto, four words each of src and dst, sport,
// dport, tenant, fqdn_bits, sni_bits (IPv6). The tenant is a MASK field:
// 32 bits for one tenant, 0 for all. The name fields are BITMASK fields:
// value = mask = the rule's bit, or 0 and 0 for a rule without that name
// condition.
inline constexpr uint32_t kAclFields4 = 8;
inline constexpr uint32_t kAclFields6 = 14;
inline constexpr uint32_t kAclTenant4 = 5;
inline constexpr uint32_t kAclTenant6 = 11;
inline constexpr uint32_t kAclFqdn4 = 6;
inline constexpr uint32_t kAclSni4 = 7;
inline constexpr uint32_t kAclFqdn6 = 12;
inline constexpr uint32_t kAclSni6 = 13;
// A tenant value no key holds (tags are 16 bits): the rules of a tenant
// this dataplane does not serve never match.
inline constexpr uint32_t kUnmatchedTenant = 0x10000;

RTE_ACL_RULE_DEF(AclRule4, kAclFields4);
RTE_ACL_RULE_DEF(AclRule6, kAclFields6);

// The rte_acl build configuration of each family: one category, the field
// table above; without the two name fields unless `names` (a context none
// of whose entries has a name condition).
void acl_config(rte_acl_config& cfg, bool v6, bool names) noexcept;

// True when an entry looks at the name fields.
inline bool has_name_condition(const AclRule4& x) noexcept {
  return x.field[kAclFqdn4].mask_range.u32 != 0 || x.field[kAclSni4].mask_range.u32 != 0;
}
inline bool has_name_condition(const AclRule6& x) noexcept {
  return x.field[kAclFqdn6].mask_range.u32 != 0 || x.field[kAclSni6].mask_range.u32 != 0;
}

// True when some key matches both entries (used to find which live entries
// can decide a key a removed entry used to decide).
bool entries_overlap(const AclRule4& a, const AclRule4& b) noexcept;
bool entries_overlap(const AclRule6& a, const AclRule6& b) noexcept;

}  // namespace bulkhead::dataplane
