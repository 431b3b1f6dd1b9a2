// The built-in `internet` segment: every address outside the ranges that
// are not reachable across the internet, IPv4 and IPv6. A policy that
// names `internet` without defining it gets this one; a policy may define
// its own `internet`, which then replaces it.
//
// Left out: private (RFC 1918; unique-local fc00::/7), shared address space
// (RFC 6598, 100.64.0.0/10), loopback, link-local, multicast, "this
// network" (0.0.0.0/8, which holds the unspecified address), the limited
// broadcast address, and the IPv6 unspecified address. The documentation
// ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32)
// stay inside, so labs can stand hosts there for the internet.
#pragma once

#include <string_view>

#include "rules/policy.h"

namespace bulkhead::rules {

inline constexpr std::string_view kInternetSegment = "internet";

// The segment as a policy would write it: cidrs 0.0.0.0/0 and ::/0, and
// the ranges above as except. `builtin` is set.
SegmentDef internet_segment();

}  // namespace bulkhead::rules
