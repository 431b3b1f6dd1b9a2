#include "dataplane/names/conn_names.h"

#include <algorithm>
#include <cstring>

namespace bulkhead::dataplane::names {

ConnNames::ConnNames(uint32_t capacity)
    : capacity_(std::min<uint32_t>(capacity, kNotKept - 1)),
      entries_(new Entry[capacity_]),
      free_(new uint32_t[capacity_]),
      free_count_(capacity_) {
  // Handles from 1; the lowest on top.
  for (uint32_t i = 0; i < capacity_; ++i) free_[i] = capacity_ - i;
}

uint32_t ConnNames::acquire(uint8_t outcome, std::string_view name, uint32_t bound_at, uint32_t age_s) noexcept {
  lock();
  if (free_count_ == 0) {
    unlock();
    full_.fetch_add(1, std::memory_order_relaxed);
    return kNotKept;
  }
  const uint32_t h = free_[--free_count_];
  unlock();
  Entry& e = entries_[h - 1];
  e.bound_at = bound_at;
  e.age_s = age_s;
  e.outcome = outcome;
  e.sni_len.store(0, std::memory_order_relaxed);
  e.kept_until.store(0, std::memory_order_relaxed);
  e.kept_evictions.store(0, std::memory_order_relaxed);
  e.len = static_cast<uint8_t>(std::min(name.size(), kMaxNameText));
  name.copy(e.text, e.len);  // not memcpy: an empty view may hold no pointer
  in_use_.fetch_add(1, std::memory_order_relaxed);
  return h;
}

void ConnNames::set_sni(uint32_t handle, std::string_view sni, bool cut) noexcept {
  if (!kept(handle) || handle > capacity_) return;
  Entry& e = entries_[handle - 1];
  const auto len = static_cast<uint8_t>(std::min(sni.size(), kMaxServerName));
  sni.copy(e.sni_text, len);
  e.sni_cut = cut;
  e.sni_len.store(len, std::memory_order_release);
}

void ConnNames::release(uint32_t handle) noexcept {
  if (!kept(handle) || handle > capacity_) return;
  lock();
  free_[free_count_++] = handle;
  unlock();
  in_use_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace bulkhead::dataplane::names
