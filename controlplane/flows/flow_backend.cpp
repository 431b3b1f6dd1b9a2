#include "controlplane/flows/flow_backend.h"

#include <iostream>

#include "common/time.h"

namespace bulkhead::controlplane::flows {

std::unique_ptr<MemoryFlowBackend> MemoryFlowBackend::open(const FlowStoreOptions& options,
                                                           const std::string& snapshot_path, int64_t save_period_ms,
                                                           std::string& error) {
  std::unique_ptr<MemoryFlowBackend> b(new MemoryFlowBackend(options));
  b->path_ = snapshot_path;
  b->save_period_ms_ = save_period_ms;
  if (!snapshot_path.empty() && !b->store_.load(snapshot_path, error)) return nullptr;
  return b;
}

void MemoryFlowBackend::ingest(const google::protobuf::RepeatedPtrField<pb::FlowRecord>& records) {
  std::lock_guard lock(mu_);
  for (const auto& r : records) store_.ingest(r);
}

bool MemoryFlowBackend::query(const FlowQuery& q, std::vector<pb::FlowAggregate>& out, std::string&) {
  std::lock_guard lock(mu_);
  out = store_.query(q);
  return true;
}

void MemoryFlowBackend::fill_info(pb::FlowStoreInfo& info) {
  std::lock_guard lock(mu_);
  info.MergeFrom(store_.info());
}

void MemoryFlowBackend::save(int64_t now_ms) {
  if (path_.empty()) return;
  std::string error;
  std::lock_guard lock(mu_);
  store_.expire(now_ms);
  if (!store_.save(path_, now_ms, error)) std::cerr << "bulkhead-controlplane: cannot save the flow store: " << error << '\n';
}

void MemoryFlowBackend::tick(int64_t now_ms) {
  if (saved_ms_ == 0) saved_ms_ = now_ms;
  if (now_ms - saved_ms_ < save_period_ms_) return;
  saved_ms_ = now_ms;
  save(now_ms);
}

void MemoryFlowBackend::close() { save(common::now_unix_ms()); }

}  // namespace bulkhead::controlplane::flows
