#include "controlplane/rule_change.h"

#include <string_view>
#include <unordered_map>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

namespace bulkhead::controlplane {

namespace {

// The encoding of a rule without its source location: a rule that only
// moved in the file is the same rule (the dataplane does not use locations).
std::string encode_rule(const pb::CompiledRule& rule, std::string& scratch) {
  rule.SerializeToString(&scratch);
  std::string out;
  out.reserve(scratch.size());
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(scratch.data()),
                                            static_cast<int>(scratch.size()));
  for (;;) {
    const int start = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0 || !google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) break;
    if (google::protobuf::internal::WireFormatLite::GetTagFieldNumber(tag) != pb::CompiledRule::kLocationFieldNumber)
      out.append(scratch, static_cast<size_t>(start), static_cast<size_t>(in.CurrentPosition() - start));
  }
  return out;
}

}  // namespace

std::vector<std::string> encode_rules(const pb::CompiledRuleSet& set) {
  std::vector<std::string> out(static_cast<size_t>(set.rules_size()));
  std::string scratch;
  for (int i = 0; i < set.rules_size(); ++i) out[static_cast<size_t>(i)] = encode_rule(set.rules(i), scratch);
  return out;
}

void copy_header(const pb::CompiledRuleSet& from, pb::CompiledRuleSet& to) {
  to.Clear();
  to.set_format_version(from.format_version());
  to.set_generation(from.generation());
  to.set_default_action(from.default_action());
  to.set_mode(from.mode());
  *to.mutable_segments() = from.segments();
  to.set_source_name(from.source_name());
  to.set_source_sha256(from.source_sha256());
  *to.mutable_tenants() = from.tenants();
  if (from.has_names()) *to.mutable_names() = from.names();
}

bool make_change(const pb::CompiledRuleSet& base, const std::vector<std::string>& base_rules,
                 const pb::CompiledRuleSet& next, const std::vector<std::string>& next_rules,
                 pb::PushRuleSet& push) {
  // Rule ids are unique within a set: a rule is the base's when the base
  // has its id with the same encoding.
  std::unordered_map<std::string_view, uint32_t> by_id;
  by_id.reserve(static_cast<size_t>(base.rules_size()));
  for (int i = 0; i < base.rules_size(); ++i) by_id.emplace(base.rules(i).id(), static_cast<uint32_t>(i));
  push.Clear();
  push.set_base_generation(base.generation());
  copy_header(next, *push.mutable_rule_set());
  size_t own = 0;
  pb::RuleRun* run = nullptr;
  for (int i = 0; i < next.rules_size(); ++i) {
    const auto it = by_id.find(next.rules(i).id());
    const bool same = it != by_id.end() && base_rules[it->second] == next_rules[static_cast<size_t>(i)];
    if (!same) {
      *push.add_pieces()->mutable_rule() = next.rules(i);
      run = nullptr;
      if (++own * 2 > static_cast<size_t>(next.rules_size())) return false;
      continue;
    }
    if (run != nullptr && run->first() + run->count() == it->second) {
      run->set_count(run->count() + 1);
      continue;
    }
    run = push.add_pieces()->mutable_base();
    run->set_first(it->second);
    run->set_count(1);
  }
  return true;
}

}  // namespace bulkhead::controlplane
