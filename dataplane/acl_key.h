// The key a packet is classified with, and the rte_acl field table that
// describes it: one definition, from which the classifier contexts are
// built (offsetof into the key) and the fast path fills keys.
//
// Every field is in network byte order, the protocol first (rte_acl wants a
// one-byte first field), the tenant last: one-armed insertion's tenant tag
// (ConnKey::tenant, 0 inline), which a tenant's rules match exactly and
// the shared rules ignore. It is one more 4-byte step of every lookup, and
// lookups happen only for a connection's first packet, never for the
// established traffic (docs/policy.md, "Tenants"). Pure data; any thread.
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
};

struct alignas(8) AclKey6 {
  uint8_t proto;
  uint8_t pad[3];
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t sport;
  uint16_t dport;
  uint32_t tenant;
};

inline void make_acl_key(const FlowTuple& t, uint16_t tenant, AclKey4& k) noexcept {
  k.proto = t.proto;
  k.pad[0] = k.pad[1] = k.pad[2] = 0;
  std::memcpy(&k.src, t.src, 4);
  std::memcpy(&k.dst, t.dst, 4);
  k.sport = htons(t.sport);
  k.dport = htons(t.dport);
  k.tenant = htonl(tenant);
}

inline void make_acl_key(const FlowTuple& t, uint16_t tenant, AclKey6& k) noexcept {
  k.proto = t.proto;
  k.pad[0] = k.pad[1] = k.pad[2] = 0;
  std::memcpy(k.src, t.src, 16);
  std::memcpy(k.dst, t.dst, 16);
  k.sport = htons(t.sport);
  k.dport = htons(t.dport);
  k.tenant = htonl(tenant);
}

// Fields of a classifier entry: proto, src, dst, sport, dport, tenant
// (IPv4); proto, four words each of src and dst, sport, dport, tenant
// (IPv6). The tenant is a MASK field: 32 bits for one tenant, 0 for all.
inline constexpr uint32_t kAclFields4 = 6;
inline constexpr uint32_t kAclFields6 = 12;
inline constexpr uint32_t kAclTenant4 = 5;
inline constexpr uint32_t kAclTenant6 = 11;
// A tenant value no key holds (tags are 16 bits): the rules of a tenant
// this dataplane does not serve never match.
inline constexpr uint32_t kUnmatchedTenant = 0x10000;

RTE_ACL_RULE_DEF(AclRule4, kAclFields4);
RTE_ACL_RULE_DEF(AclRule6, kAclFields6);

// The rte_acl build configuration of each family: one category, the field
// table above.
void acl_config(rte_acl_config& cfg, bool v6) noexcept;

// True when some key matches both entries (used to find which live entries
// can decide a key a removed entry used to decide).
bool entries_overlap(const AclRule4& a, const AclRule4& b) noexcept;
bool entries_overlap(const AclRule6& a, const AclRule6& b) noexcept;

}  // namespace bulkhead::dataplane
