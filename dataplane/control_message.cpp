#include "dataplane/control_message.h"

#include <climits>
#include <string_view>
#include <unordered_set>

#include "common/text.h"

namespace bulkhead::dataplane {
namespace {

bool valid_prefix(const pb::Prefix& p, std::string& error) {
  const size_t n = p.addr().size();
  if (n != 4 && n != 16) {
    error = "an address of " + std::to_string(n) + " bytes (4 or 16)";
    return false;
  }
  const uint32_t bits = static_cast<uint32_t>(n * 8);
  if (p.prefix_len() > bits) {
    error = "a prefix length of " + std::to_string(p.prefix_len()) + " for a " + std::to_string(bits) + "-bit address";
    return false;
  }
  const auto* a = reinterpret_cast<const uint8_t*>(p.addr().data());
  for (uint32_t bit = p.prefix_len(); bit < bits; ++bit) {
    if (a[bit / 8] & (0x80u >> (bit % 8))) {
      error = "a prefix /" + std::to_string(p.prefix_len()) + " with host bits set";
      return false;
    }
  }
  return true;
}

bool valid_prefixes(const google::protobuf::RepeatedPtrField<pb::Prefix>& side, std::string& error) {
  for (const auto& p : side)
    if (!valid_prefix(p, error)) return false;
  return true;
}

bool valid_ports(const google::protobuf::RepeatedPtrField<pb::PortRange>& ranges, std::string& error) {
  for (const auto& r : ranges) {
    if (r.lo() > r.hi() || r.hi() > 65535) {
      error = "a port range " + std::to_string(r.lo()) + "-" + std::to_string(r.hi());
      return false;
    }
  }
  return true;
}

bool valid_name(const std::string& name, std::string& error) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    error = name.empty() ? std::string("an empty name") : "a name of " + std::to_string(name.size()) + " bytes";
    return false;
  }
  return true;
}

std::string shown(const std::string& s) { return common::escaped(s); }

bool valid_rule(const pb::CompiledRule& r, std::string& error) {
  if (!valid_name(r.id(), error)) return false;
  if (!pb::Action_IsValid(r.action())) {
    error = "an unknown action " + std::to_string(r.action());
    return false;
  }
  if (!r.any_proto() && r.proto() > 255) {
    error = "protocol " + std::to_string(r.proto());
    return false;
  }
  if (r.expires_at() < 0) {
    error = "a negative expiry";
    return false;
  }
  return valid_prefixes(r.src(), error) && valid_prefixes(r.dst(), error) && valid_ports(r.sports(), error) &&
         valid_ports(r.dports(), error);
}

}  // namespace

PushCheck check_push(const void* data, size_t size, uint64_t running, uint64_t highest_term, pb::ControlMessage& m,
                     std::string& reason) {
  if (size > static_cast<size_t>(INT_MAX) || !m.ParseFromArray(data, static_cast<int>(size)) ||
      m.version() != kControlVersion || !m.has_push() || !m.push().has_rule_set()) {
    reason = "malformed message (not a version " + std::to_string(kControlVersion) + " rule set push)";
    return PushCheck::malformed;
  }
  const pb::PushRuleSet& p = m.push();
  if (p.base_generation() == 0 && p.pieces_size() != 0) {
    reason = "malformed push: a whole rule set with change pieces";
    return PushCheck::malformed;
  }
  if (p.base_generation() != 0) {
    if (p.rule_set().rules_size() != 0) {
      reason = "malformed push: a change that carries rules outside its pieces";
      return PushCheck::malformed;
    }
    for (int i = 0; i < p.pieces_size(); ++i) {
      const auto& piece = p.pieces(i);
      if (piece.piece_case() == pb::RulePiece::PIECE_NOT_SET || (piece.has_base() && piece.base().count() == 0)) {
        reason = "malformed push: change piece " + std::to_string(i) + " is empty";
        return PushCheck::malformed;
      }
    }
  }
  const uint64_t term = p.leader_term();
  if (term < highest_term) {
    reason = term == 0 ? "a push from a control plane that does not elect a leader (leader term 0) after leader term " +
                             std::to_string(highest_term) +
                             " was accepted; to return to a single control plane, stop the dataplane, remove "
                             "leader_term from its state directory and start it (docs/ha.md)"
                       : "leader term " + std::to_string(term) + " is lower than the highest accepted, " +
                             std::to_string(highest_term) + " (a deposed leader)";
    return PushCheck::deposed;
  }
  const uint64_t g = p.rule_set().generation();
  const bool new_leader = term > highest_term;
  if (g < running || (g == running && (!new_leader || g == 0))) {
    reason = "generation " + std::to_string(g) + " is not newer than the running " + std::to_string(running) +
             " (replayed or reordered)";
    return PushCheck::stale;
  }
  if (p.base_generation() != 0 && p.base_generation() >= g) {
    reason = "malformed push: generation " + std::to_string(g) + " as a change of generation " +
             std::to_string(p.base_generation());
    return PushCheck::malformed;
  }
  return PushCheck::accept;
}

bool map_change(const pb::PushRuleSet& push, uint32_t base_rules, std::vector<uint32_t>& base_of,
                std::vector<bool>& taken, std::string& error) {
  base_of.clear();
  taken.assign(base_rules, false);
  for (const auto& piece : push.pieces()) {
    if (piece.has_rule()) {
      base_of.push_back(kChangeNewRule);
      continue;
    }
    const uint64_t first = piece.base().first(), count = piece.base().count();
    if (!piece.has_base() || first + count > base_rules) {
      error = "a change names base rules outside the " + std::to_string(base_rules) + " of generation " +
              std::to_string(push.base_generation());
      return false;
    }
    for (uint64_t k = first; k < first + count; ++k) {
      if (taken[k]) {
        error = "a change names base rule " + std::to_string(k) + " twice";
        return false;
      }
      taken[k] = true;
      base_of.push_back(static_cast<uint32_t>(k));
    }
  }
  return true;
}

bool validate_rule_set(const pb::CompiledRuleSet& set, std::string& error) {
  if (set.format_version() != 1) {
    error = "rule set format version " + std::to_string(set.format_version()) + " is not supported";
    return false;
  }
  if (!pb::Action_IsValid(set.default_action()) || !pb::Mode_IsValid(set.mode())) {
    error = "an unknown default action or mode";
    return false;
  }
  std::unordered_set<std::string_view> names;
  names.reserve(static_cast<size_t>(set.segments_size()));
  for (int i = 0; i < set.segments_size(); ++i) {
    const auto& s = set.segments(i);
    std::string why;
    if (!valid_name(s.name(), why) || !valid_prefixes(s.prefixes(), why)) {
      error = "segment " + std::to_string(i) + " (" + shown(s.name()) + "): " + why;
      return false;
    }
    if (!names.insert(s.name()).second) {
      error = "segment " + shown(s.name()) + " is defined twice";
      return false;
    }
  }
  std::unordered_set<std::string_view> tenants;
  std::unordered_set<uint64_t> tenant_ids[2];  // endpoint ids, VNIs
  for (int i = 0; i < set.tenants_size(); ++i) {
    const auto& t = set.tenants(i);
    std::string why;
    if (!valid_name(t.name(), why)) {
      error = "tenant " + std::to_string(i) + " (" + shown(t.name()) + "): " + why;
      return false;
    }
    if (!pb::Tenant::Kind_IsValid(t.kind()) || (t.kind() == pb::Tenant::VNI && t.id() > 0xffffff)) {
      error = "tenant " + shown(t.name()) + ": an unknown kind of id or a VNI past 24 bits";
      return false;
    }
    if (!tenants.insert(t.name()).second || !tenant_ids[t.kind() == pb::Tenant::VNI].insert(t.id()).second) {
      error = "tenant " + shown(t.name()) + " repeats the name or id of another";
      return false;
    }
  }
  std::unordered_set<std::string_view> ids;
  ids.reserve(static_cast<size_t>(set.rules_size()));
  for (int i = 0; i < set.rules_size(); ++i) {
    const auto& r = set.rules(i);
    std::string why;
    if (!valid_rule(r, why)) {
      error = "rule " + std::to_string(i) + " (" + shown(r.id()) + "): " + why;
      return false;
    }
    if (!r.tenant().empty() && !tenants.count(r.tenant())) {
      error = "rule " + std::to_string(i) + " (" + shown(r.id()) + "): tenant " + shown(r.tenant()) + " is not listed";
      return false;
    }
    if (!ids.insert(r.id()).second) {
      error = "rule id " + shown(r.id()) + " is used twice";
      return false;
    }
  }
  return true;
}

}  // namespace bulkhead::dataplane
