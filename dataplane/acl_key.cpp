#include "dataplane/acl_key.h"

#include <algorithm>
#include <cstddef>

namespace bulkhead::dataplane {
namespace {

rte_acl_field_def field(uint8_t type, uint8_t size, uint8_t index, uint8_t input, uint32_t offset) {
  rte_acl_field_def d{};
  d.type = type;
  d.size = size;
  d.field_index = index;
  d.input_index = input;
  d.offset = offset;
  return d;
}

// A MASK field holds a prefix: value and its length in bits.
bool prefixes_overlap(const rte_acl_field& a, const rte_acl_field& b) noexcept {
  const uint32_t bits = std::min(a.mask_range.u32, b.mask_range.u32);
  if (bits == 0) return true;
  const uint32_t mask = bits >= 32 ? ~0u : ~(~0u >> bits);
  return (a.value.u32 & mask) == (b.value.u32 & mask);
}

bool ranges_overlap(const rte_acl_field& a, const rte_acl_field& b) noexcept {
  return a.value.u16 <= b.mask_range.u16 && b.value.u16 <= a.mask_range.u16;
}

bool protos_overlap(const rte_acl_field& a, const rte_acl_field& b) noexcept {
  const uint8_t both = a.mask_range.u8 & b.mask_range.u8;
  return (a.value.u8 & both) == (b.value.u8 & both);
}

bool bits_overlap(const rte_acl_field& a, const rte_acl_field& b) noexcept {
  const uint32_t both = a.mask_range.u32 & b.mask_range.u32;
  return (a.value.u32 & both) == (b.value.u32 & both);
}

}  // namespace

void acl_config(rte_acl_config& cfg, bool v6, bool names) noexcept {
  cfg = {};
  cfg.num_categories = 1;
  if (!v6) {
    cfg.num_fields = names ? kAclFields4 : kAclFields4 - 2;
    cfg.defs[0] = field(RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, offsetof(AclKey4, proto));
    cfg.defs[1] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 1, 1, offsetof(AclKey4, src));
    cfg.defs[2] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 2, 2, offsetof(AclKey4, dst));
    cfg.defs[3] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 3, 3, offsetof(AclKey4, sport));
    cfg.defs[4] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 4, 3, offsetof(AclKey4, dport));
    cfg.defs[5] = field(RTE_ACL_FIELD_TYPE_MASK, 4, kAclTenant4, 4, offsetof(AclKey4, tenant));
    cfg.defs[6] = field(RTE_ACL_FIELD_TYPE_BITMASK, 4, kAclFqdn4, 5, offsetof(AclKey4, fqdn_bits));
    cfg.defs[7] = field(RTE_ACL_FIELD_TYPE_BITMASK, 4, kAclSni4, 6, offsetof(AclKey4, sni_bits));
    return;
  }
  cfg.num_fields = names ? kAclFields6 : kAclFields6 - 2;
  cfg.defs[0] = field(RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, offsetof(AclKey6, proto));
  for (uint8_t i = 0; i < 4; ++i) {
    cfg.defs[1 + i] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 1 + i, 1 + i, offsetof(AclKey6, src) + 4 * i);
    cfg.defs[5 + i] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 5 + i, 5 + i, offsetof(AclKey6, dst) + 4 * i);
  }
  cfg.defs[9] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 9, 9, offsetof(AclKey6, sport));
  cfg.defs[10] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 10, 9, offsetof(AclKey6, dport));
  cfg.defs[11] = field(RTE_ACL_FIELD_TYPE_MASK, 4, kAclTenant6, 10, offsetof(AclKey6, tenant));
  cfg.defs[12] = field(RTE_ACL_FIELD_TYPE_BITMASK, 4, kAclFqdn6, 11, offsetof(AclKey6, fqdn_bits));
  cfg.defs[13] = field(RTE_ACL_FIELD_TYPE_BITMASK, 4, kAclSni6, 12, offsetof(AclKey6, sni_bits));
}

bool entries_overlap(const AclRule4& a, const AclRule4& b) noexcept {
  return protos_overlap(a.field[0], b.field[0]) && prefixes_overlap(a.field[1], b.field[1]) &&
         prefixes_overlap(a.field[2], b.field[2]) && ranges_overlap(a.field[3], b.field[3]) &&
         ranges_overlap(a.field[4], b.field[4]) && prefixes_overlap(a.field[kAclTenant4], b.field[kAclTenant4]) &&
         bits_overlap(a.field[kAclFqdn4], b.field[kAclFqdn4]) && bits_overlap(a.field[kAclSni4], b.field[kAclSni4]);
}

bool entries_overlap(const AclRule6& a, const AclRule6& b) noexcept {
  if (!protos_overlap(a.field[0], b.field[0])) return false;
  for (unsigned w = 1; w <= 8; ++w)
    if (!prefixes_overlap(a.field[w], b.field[w])) return false;
  return ranges_overlap(a.field[9], b.field[9]) && ranges_overlap(a.field[10], b.field[10]) &&
         prefixes_overlap(a.field[kAclTenant6], b.field[kAclTenant6]) &&
         bits_overlap(a.field[kAclFqdn6], b.field[kAclFqdn6]) && bits_overlap(a.field[kAclSni6], b.field[kAclSni6]);
}

}  // namespace bulkhead::dataplane
