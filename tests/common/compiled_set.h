// Compiled rule sets as tests compare them: prefixes as text, and a set's
// meaning without where its parts were written (so a policy and its
// canonical form compare equal). Header-only; needs proto/ and rules/.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "proto/bulkhead.pb.h"
#include "rules/prefix.h"

namespace bulkhead::test {

inline std::vector<std::string> prefix_texts(const google::protobuf::RepeatedPtrField<pb::Prefix>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) {
    rules::Prefix x;
    x.family = p.addr().size() == 4 ? 4 : 6;
    std::copy(p.addr().begin(), p.addr().end(), x.addr.begin());
    x.len = static_cast<uint8_t>(p.prefix_len());
    out.push_back(rules::format_prefix(x));
  }
  return out;
}

// The set without its source's name and digest and its parts' locations.
inline std::string meaning(pb::CompiledRuleSet set) {
  set.clear_source_name();
  set.clear_source_sha256();
  for (auto& r : *set.mutable_rules()) r.clear_location();
  for (auto& s : *set.mutable_segments()) {
    s.clear_line();
    s.clear_column();
  }
  for (auto& t : *set.mutable_tenants()) t.clear_location();
  return set.SerializeAsString();
}

}  // namespace bulkhead::test
