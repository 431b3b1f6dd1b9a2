// The dataplane's decoding of what the control channel brings: one frame
// through check_push, then, for a whole set, the rule-set validation, and
// for a change, the mapping of its pieces onto a base of 16 rules and the
// validation of the set it assembles. Whatever the frame, each step must
// end in accept or a refusal with a reason, and an accepted set must hold
// what validation promises.
#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <unordered_set>
#include <vector>

#include "dataplane/control_message.h"

using namespace bulkhead;
using namespace bulkhead::dataplane;

namespace {

constexpr uint32_t kBaseRules = 16;
constexpr uint64_t kRunning = 5;
// The highest leader term accepted so far: pushes under lower terms are
// deposed, a higher term may carry the running generation.
constexpr uint64_t kHighestTerm = 3;

const pb::CompiledRuleSet& base() {
  static const pb::CompiledRuleSet b = [] {
    pb::CompiledRuleSet s;
    s.set_format_version(1);
    s.set_generation(kRunning);
    for (uint32_t i = 0; i < kBaseRules; ++i) {
      auto* r = s.add_rules();
      r->set_id("b" + std::to_string(i));
      r->set_proto(6);
      auto* p = r->add_dports();
      p->set_lo(1000 + i);
      p->set_hi(1000 + i);
    }
    return s;
  }();
  return b;
}

void check_valid(const pb::CompiledRuleSet& s) {
  std::unordered_set<std::string> ids;
  for (const auto& r : s.rules()) {
    if (r.id().empty() || !ids.insert(r.id()).second) std::abort();
    for (const auto& p : r.src())
      if ((p.addr().size() != 4 && p.addr().size() != 16) || p.prefix_len() > p.addr().size() * 8) std::abort();
    for (const auto& p : r.dports())
      if (p.lo() > p.hi() || p.hi() > 65535) std::abort();
  }
}

}  // namespace

// protobuf logs every string of invalid UTF-8 it refuses; the daemons
// limit those lines (common/protobuf_log.h), the fuzzer drops them.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pb::ControlMessage m;
  std::string reason;
  const PushCheck c = check_push(data, size, kRunning, kHighestTerm, m, reason);
  if (c != PushCheck::accept) {
    if (reason.empty()) std::abort();
    if (c == PushCheck::deposed && m.push().leader_term() >= kHighestTerm) std::abort();
    return 0;
  }
  if (!m.has_push() || m.push().leader_term() < kHighestTerm) std::abort();
  const uint64_t g = m.push().rule_set().generation();
  if (g < kRunning || (g == kRunning && m.push().leader_term() == kHighestTerm)) std::abort();
  const pb::PushRuleSet& push = m.push();
  std::string error;
  if (push.base_generation() == 0) {
    if (validate_rule_set(push.rule_set(), error)) check_valid(push.rule_set());
    else if (error.empty()) std::abort();
    return 0;
  }
  std::vector<uint32_t> base_of;
  std::vector<bool> taken;
  if (!map_change(push, kBaseRules, base_of, taken, error)) {
    if (error.empty()) std::abort();
    return 0;
  }
  // Assemble as the engine does, then validate the result.
  pb::CompiledRuleSet next = push.rule_set();
  size_t k = 0;
  for (const auto& piece : push.pieces()) {
    if (piece.has_rule()) {
      if (base_of[k++] != kChangeNewRule) std::abort();
      *next.add_rules() = piece.rule();
      continue;
    }
    for (uint32_t i = 0; i < piece.base().count(); ++i) {
      const uint32_t b = base_of[k++];
      if (b >= kBaseRules || b != piece.base().first() + i) std::abort();
      *next.add_rules() = base().rules(static_cast<int>(b));
    }
  }
  if (k != base_of.size()) std::abort();
  if (validate_rule_set(next, error)) check_valid(next);
  else if (error.empty()) std::abort();
  return 0;
}
