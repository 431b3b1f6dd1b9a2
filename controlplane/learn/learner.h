// The learner: from observed flows to a least-privilege policy.
//
// Input is the flow store's aggregates (from the control plane, or from
// captures through the same store). Output is a complete policy in the
// policy language — default deny, one allow rule per service that the
// evidence supports, each rule's evidence in its description — and a
// report of how it decided: the segments and why their members belong
// together, and what was seen but not learned (scan-like sources, attempts
// never answered, one-off flows, connections the running policy denied in
// enforce mode).
//
// Inference (inference.h) and output (learner.cpp) are apart: the evidence
// is weighed into segments and rules first, then written as a rules::Policy
// that rules::format_policy prints.
//
// How it decides (docs/learning.md):
//  - Only learnable connections count: those not denied in enforce mode,
//    and, for TCP and ICMP echo, not ended unanswered: attempts no server
//    ever answered (a SYN without a SYN-ACK) are reported, never learned.
//  - A source is scan-like when it tried at least `scan_targets` distinct
//    (host, protocol, port) targets and most of them never answered, or
//    touched `scan_ports` ports of one host with a connection or two each;
//    none of its flows is learned.
//  - Addresses map to segments from the inventory when there is one;
//    otherwise internal (private) hosts are grouped by subnet (/24, /64)
//    and, within it, by the services they offer, or for pure clients by
//    the services they use. A group that holds every observed host of its
//    subnet is written as the subnet.
//  - Addresses outside every segment stay individual addresses, unless at
//    least `public_peers` distinct public addresses use one service (or
//    are reached through it): then that side is `internet` (everything but
//    private and inventory space).
//  - A (source segment, destination segment, protocol, port) becomes a rule
//    with at least `min_flows` connections; ports of one segment pair merge
//    into one rule; never an any-port rule. A rule's evidence counts its
//    connections and its distinct client and server addresses.
// Thread-safety: pure function of its inputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane::learn {

struct LearnOptions {
  uint64_t min_flows = 3;
  uint32_t scan_targets = 16;
  uint32_t scan_ports = 24;
  uint32_t public_peers = 16;
  bool subnets = true;            // write a group as its subnet when it fills it
  std::string mode = "enforce";   // the proposed policy's mode
  std::string source_note;        // what was learned from, for the header
};

struct SegmentReport {
  std::string name;
  std::vector<std::string> cidrs;
  size_t hosts = 0;
  std::string why;
};

struct Proposal {
  std::string policy;                     // the policy text
  std::vector<SegmentReport> segments;
  std::vector<std::string> not_learned;   // one line each, most significant first
  uint64_t rules = 0;
  uint64_t flows_used = 0;                // connections behind the rules
  uint64_t flows_total = 0;
  uint64_t flows_scan = 0;
  uint64_t flows_unanswered = 0;          // attempts never answered (TCP, ICMP echo)
  uint64_t flows_below_threshold = 0;
  uint64_t flows_denied = 0;              // denied in enforce mode
  int64_t first_ms = 0, last_ms = 0;
};

// `inventory`: compiled segments (rules::load_inventory_file), or nullptr
// to infer them.
Proposal propose(const std::vector<pb::FlowAggregate>& flows, const pb::CompiledRuleSet* inventory,
                 const LearnOptions& options);

// The report as text, for people.
std::string format_report(const Proposal& p);

}  // namespace bulkhead::controlplane::learn
