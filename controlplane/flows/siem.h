// Flow records in the shapes SIEMs read (`bulkhead-controlplane
// --flow-log-format`): native (record.h's own JSON), ECS (Elastic Common
// Schema: source.*, destination.*, network.*, event.*, rule.*) and OCSF
// Network Activity (class 4001). One JSON object per record; all three
// carry the flow's Community ID (community_id.h). Field lists and an example
// line of each: docs/operations.md. Pure; any thread. RecordLines: the lines
// of one batch, made once for every sink that shares its format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// One batch of records as sent by `dataplane`, and their lines in one
// format, each made at most once and only when a sink first asks for it:
// the flow log and the syslog sink, given the same RecordLines, share each
// line when their formats agree, and a record no sink takes (over the
// log's rate, past the syslog queue) is never formatted at all.
//
// Ownership: holds pointers to the records, which must outlive it, and its
// own copy of the dataplane's name. Thread-safety: none; one thread at a
// time (the collector's, under its lock).
class RecordLines {
 public:
  template <class Records>
  RecordLines(const Records& records, std::string dataplane, LogFormat format)
      : dataplane_(std::move(dataplane)), format_(format) {
    records_.reserve(static_cast<size_t>(records.size()));
    for (const pb::FlowRecord& r : records) records_.push_back(&r);
    lines_.resize(records_.size());
  }
  RecordLines(const RecordLines&) = delete;
  RecordLines& operator=(const RecordLines&) = delete;

  size_t size() const noexcept { return records_.size(); }
  const pb::FlowRecord& record(size_t i) const { return *records_[i]; }
  const std::string& dataplane() const noexcept { return dataplane_; }
  LogFormat format() const noexcept { return format_; }
  // Record i's line in format(), made on the first call for i.
  const std::string& line(size_t i);
  // How many lines have been made.
  size_t made() const noexcept { return made_; }

 private:
  std::vector<const pb::FlowRecord*> records_;
  std::vector<std::string> lines_;  // "" until made: a line is never empty
  std::string dataplane_;
  const LogFormat format_;
  size_t made_ = 0;
};

}  // namespace bulkhead::controlplane::flows
