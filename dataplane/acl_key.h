// The key a packet is classified with, and the rte_acl field table that
// describes it: one definition, from which the classifier contexts are
// built (offsetof into the key) and the fast path fills keys.
//
// Every field is in network byte order, the protocol first (rte_acl wants a
// one-byte first field). Pure data; any thread.
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
};

struct alignas(8) AclKey6 {
  uint8_t proto;
  uint8_t pad[3];
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t sport;
  uint16_t dport;
};

inline void make_acl_key(const FlowTuple& t, AclKey4& k) noexcept {
  k.proto = t.proto;
  k.pad[0] = k.pad[1] = k.pad[2] = 0;
  std::memcpy(&k.src, t.src, 4);
  std::memcpy(&k.dst, t.dst, 4);
  k.sport = htons(t.sport);
  k.dport = htons(t.dport);
}

inline void make_acl_key(const FlowTuple& t, AclKey6& k) noexcept {
  k.proto = t.proto;
  k.pad[0] = k.pad[1] = k.pad[2] = 0;
  std::memcpy(k.src, t.src, 16);
  std::memcpy(k.dst, t.dst, 16);
  k.sport = htons(t.sport);
  k.dport = htons(t.dport);
}

// Fields of a classifier entry: proto, src, dst, sport, dport (IPv4); proto,
// four words each of src and dst, sport, dport (IPv6).
inline constexpr uint32_t kAclFields4 = 5;
inline constexpr uint32_t kAclFields6 = 11;

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
