// Compiler from the Policy model to the compiled rule set (proto/), the
// object every other part consumes: segments resolved to disjoint prefixes
// (with `except` subtracted), rules with their address sets, families,
// protocol and port ranges, names (`fqdn`, `sni`) and modes, in match
// order: each tenant's rules (docs/policy.md, "Tenants"), then the shared
// rules; and, when a rule uses names, the `dns:`/`tls:` settings with the
// trusted resolvers resolved to prefixes.
#pragma once

#include "proto/bulkhead.pb.h"
#include "rules/diagnostic.h"
#include "rules/policy.h"

namespace bulkhead::rules {

inline constexpr uint32_t kFormatVersion = 1;

// A rule stands for (source x destination prefixes of each family) x
// source port ranges x destination port ranges classifier entries; a
// policy whose rules add up to more is refused with an error naming the
// rule where the sum passes it (the dataplane's classifier refuses the
// same, dataplane/acl_entries.h).
inline constexpr uint64_t kMaxClassifierEntries = 4'000'000;

// Rules written with names are told apart in the classifier by one bit each
// (dataplane/acl_key.h): a set holds at most this many rules with `fqdn`
// and this many with `sni`; the compiler refuses more, naming the first
// rule past the limit.
inline constexpr uint32_t kMaxFqdnRules = 32;
inline constexpr uint32_t kMaxSniRules = 32;

// The `dns:` and `tls:` settings a policy leaves unset, and the range each
// may take (docs/egress.md, "Writing rules with names"). The dataplane's
// binding table takes its default caps from here.
struct NameSettingRange {
  uint32_t default_value, min, max;
};
struct NameDefaults {
  NameSettingRange grace{60, 0, 86'400};
  NameSettingRange max_addresses_per_name{1024, 1, 65'536};
  NameSettingRange max_names{16'384, 1, 1u << 20};
  NameSettingRange max_bindings{65'536, 8, 1u << 24};
  NameSettingRange hello_packets{8, 1, 64};
  NameSettingRange hello_ms{3000, 1, 60'000};
  uint16_t tls_port = 443;   // tls.ports and tls.quic_ports
};
inline constexpr NameDefaults kNameDefaults;

Result<pb::CompiledRuleSet> compile(const Policy& policy);

}  // namespace bulkhead::rules
