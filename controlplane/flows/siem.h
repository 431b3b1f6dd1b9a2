// Flow records in the shapes SIEMs read (`bulkhead-controlplane
// --flow-log-format`): native (record.h's own JSON), ECS (Elastic Common
// Schema: source.*, destination.*, network.*, event.*, rule.*) and OCSF
// Network Activity (class 4001). One JSON object per record; all three
// carry the flow's Community ID (community_id.h). Field lists and an example
// line of each: docs/operations.md. Pure; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane::flows {

enum class LogFormat : uint8_t { native, ecs, ocsf };

// "native", "ecs", "ocsf"; false for anything else.
bool parse_log_format(std::string_view text, LogFormat& out);
const char* log_format_name(LogFormat f);

nlohmann::ordered_json ecs_object(const pb::FlowRecord& r, const std::string& dataplane);
nlohmann::ordered_json ocsf_object(const pb::FlowRecord& r, const std::string& dataplane);
// The record in `format`, as one line (no newline).
std::string format_record(const pb::FlowRecord& r, const std::string& dataplane, LogFormat format);

}  // namespace bulkhead::controlplane::flows
