#include "dataplane/capture.h"

#include <algorithm>

namespace bulkhead::dataplane {

std::unique_ptr<CaptureTap> CaptureTap::create(uint32_t workers, std::string& error) {
  std::unique_ptr<CaptureTap> t(new CaptureTap());
  for (uint32_t w = 0; w < workers; ++w) {
    const std::string name = "bh_capture" + std::to_string(w);
    rte_ring* r = rte_ring_create_elem(name.c_str(), sizeof(CaptureRecord), kCaptureRing, SOCKET_ID_ANY,
                                       RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
    if (r == nullptr) {
      error = "cannot create the capture ring (" + std::to_string(kCaptureRing * sizeof(CaptureRecord) / 1024) +
              " KiB per worker)";
      return nullptr;
    }
    t->rings_.push_back(r);
  }
  return t;
}

CaptureTap::~CaptureTap() {
  for (auto* r : rings_) rte_ring_free(r);
}

void CaptureTap::arm(const CaptureFilter& f, uint32_t epoch, uint32_t rule) noexcept {
  filter_ = f;
  const auto workers = static_cast<uint32_t>(std::max<size_t>(rings_.size(), 1));
  worker_rate_ = std::max<uint32_t>(1, f.rate / workers);
  retarget(epoch, rule);
  if (++arms_ == 0) arms_ = 1;
  armed_.store(arms_, std::memory_order_release);
}

void CaptureTap::retarget(uint32_t epoch, uint32_t rule) noexcept {
  rule_target_.store(uint64_t{epoch} << 32 | rule, std::memory_order_relaxed);
}

void CaptureTap::disarm(rte_rcu_qsbr* qsbr) noexcept {
  armed_.store(0, std::memory_order_release);
  rte_rcu_qsbr_synchronize(qsbr, RTE_QSBR_THRID_INVALID);
  for (auto* r : rings_) {
    CaptureRecord rec;
    while (rte_ring_sc_dequeue_elem(r, &rec, sizeof(rec)) == 0) {
    }
  }
}

size_t CaptureTap::drain(CaptureRecord* out, size_t max) noexcept {
  constexpr unsigned kEach = 16;  // from each ring in turn: no worker waits behind a busy one
  size_t got = 0;
  for (size_t k = 0; k < rings_.size() && got < max; ++k) {
    rte_ring* r = rings_[next_ring_];
    next_ring_ = (next_ring_ + 1) % static_cast<uint32_t>(rings_.size());
    const auto want = static_cast<unsigned>(std::min<size_t>(kEach, max - got));
    got += rte_ring_sc_dequeue_burst_elem(r, out + got, sizeof(CaptureRecord), want, nullptr);
  }
  return got;
}

}  // namespace bulkhead::dataplane
