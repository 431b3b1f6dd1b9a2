// The learner's inference: from flow aggregates to what the evidence
// supports, before any of it is written down. learner.cpp turns an
// Inference into a rules::Policy and a report; nothing here knows the
// policy language's syntax.
//
// How it decides is described in learner.h and docs/learning.md.
// Thread-safety: a pure function of its inputs.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "controlplane/learn/learner.h"
#include "proto/bulkhead.pb.h"
#include "rules/prefix.h"

namespace bulkhead::controlplane::learn {

struct InferredSegment {
  std::string name;
  std::vector<rules::Prefix> cidrs;
  std::vector<rules::Prefix> except;
  size_t hosts = 0;   // observed hosts in it
  std::string why;    // how its hosts were grouped ("inventory" for the inventory's)
};

// One side of a rule: a segment, individual addresses, or (a destination)
// a name DNS answers bound its addresses to.
struct InferredSide {
  std::string segment;                 // "" for addresses and names
  std::vector<rules::Prefix> addresses;
  std::string name;                    // a destination by name (fqdn)
  std::string label;                   // for people and rule ids: the segment, an address, or "N hosts"
};

struct InferredRule {
  InferredSide from, to;
  uint8_t proto = 0;
  std::set<uint16_t> ports;  // service ports; ICMP: the types
  uint64_t flows = 0;        // answered (or still open) connections behind it
  size_t clients = 0;        // distinct source addresses
  size_t servers = 0;        // distinct destination addresses
  int64_t first_ms = 0, last_ms = 0;
};

struct Inference {
  // The segments the policy needs, in the order to write them: the
  // inventory's (every one with prefixes), or the inferred ones some rule
  // uses; then `internet` when a rule uses it.
  std::vector<InferredSegment> segments;
  bool from_inventory = false;
  std::vector<InferredRule> rules;        // busiest first
  // The resolvers the clients of rules by name asked (port 53), whose
  // answers the policy must trust.
  std::vector<rules::Prefix> resolvers;
  std::vector<SegmentReport> reported;    // the segments for the report
  std::vector<std::string> not_learned;   // most significant first
  uint64_t flows_total = 0;
  // Connections behind the rules, each once (an address answered for
  // several names counts in each of their rules' evidence).
  uint64_t flows_used = 0;
  uint64_t flows_scan = 0;
  uint64_t flows_unanswered = 0;
  uint64_t flows_below_threshold = 0;
  uint64_t flows_denied = 0;
  int64_t first_ms = 0, last_ms = 0;
};

// `s` with every character a name may not hold (anything but letters,
// digits, '-' and '_') made a '-'.
std::string safe_name(std::string s);

Inference infer(const std::vector<pb::FlowAggregate>& flows, const pb::CompiledRuleSet* inventory,
                const LearnOptions& options);

}  // namespace bulkhead::controlplane::learn
