// Flow records as they arrive from outside (a dataplane's batch, a capture):
// checked, oriented so the service is the destination, and written as JSON
// lines for a SIEM. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane::flows {

// Refuses a record no dataplane writes: unknown kind or verdict, addresses
// that are not both 4 or both 16 bytes, ports or protocol out of range,
// times before 2000 or counters that cannot be real. `why` says which.
bool validate(const pb::FlowRecord& r, std::string& why);
// A name a record may carry (dns_name, sni): 1 to 253 printable ASCII
// characters, no space.
bool plausible_name(const std::string& name);

// Records whose opening packet was not seen (UDP, a TCP connection picked
// up mid-stream) may name the client as the destination. Decides which side
// is the service, in this order: a well-known port (< 1024) against a
// higher one; with `by_peers`, an endpoint (address, protocol, port) that
// many distinct peers talk to in `records` against one few do; a port
// outside the ephemeral range (32768-65535) against one inside it. Swaps
// the sides where the source is the service; returns how many were swapped.
//
// `by_peers` needs every record of a connection in the same call (a
// capture's batch holds both its start and its end); records from
// dataplanes arrive in separate batches and are oriented by ports alone,
// so the start and the end of a connection always land on the same side.
template <class Records>
size_t orient(Records& records, bool by_peers = true);
// Swaps source and destination (addresses, ports, segments, counters).
void swap_sides(pb::FlowRecord& r);

// "10.0.1.5" or "fd00::1" from 4 or 16 bytes.
std::string format_address(const std::string& bytes);
// Parses an address into 4 or 16 bytes; false when it is not one.
bool parse_address(const std::string& text, std::string& bytes);

// The record's flow's Community ID (community_id.h): "1:..." , one for both
// directions; "" for addresses that are not both 4 or both 16 bytes.
std::string community_id(const pb::FlowRecord& r);

const char* kind_name(pb::FlowRecord::Kind k);
const char* verdict_name(pb::FlowRecord::Verdict v);
const char* end_reason_name(pb::FlowRecord::EndReason r);

// A record or an aggregate as a JSON object (keys in a fixed order: the
// flow log's and `bulkhead flows --json`'s format, docs/learning.md), and
// as one line of text (no newline).
nlohmann::ordered_json json_object(const pb::FlowRecord& r, const std::string& dataplane);
nlohmann::ordered_json json_object(const pb::FlowAggregate& a);
std::string dump(const nlohmann::ordered_json& j);
std::string to_json(const pb::FlowRecord& r, const std::string& dataplane);
std::string to_json(const pb::FlowAggregate& a);

}  // namespace bulkhead::controlplane::flows
