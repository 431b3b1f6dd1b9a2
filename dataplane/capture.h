// Packet capture on a running dataplane, the fast path's side: the filter
// the workers apply while a capture is armed, and one ring per worker that
// carries copies of the matching packets to the capture thread
// (dataplane/capture_server.h), which sends them to `bulkhead capture`.
//
// Disarmed, a worker pays one load of `armed` per burst. Armed, it looks at
// the burst's fates after every stage has settled them, before transmit,
// and copies what matches into its ring: at most `rate` copies a second
// (over it: capture_over_rate), and a full ring loses the copy
// (capture_lost), never the packet. Nothing here allocates, locks or logs.
//
// Who writes and who reads each field:
// * `armed_`: the capture thread (release store of a new arm number, or 0);
//   every worker, once per burst (acquire).
// * `filter_`, `worker_rate_`: the capture thread, only while disarmed and
//   after disarm()'s grace period; workers read them after seeing `armed_`.
// * `rule_target_`: the capture thread, while armed (relaxed); workers
//   (relaxed). The rule filter's index under one epoch: a worker whose set
//   has another epoch compares the rule's id instead.
// * each ring: single producer, its worker; single consumer, the capture
//   thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "dataplane/capture_request.h"

namespace bulkhead::dataplane {

// Bytes kept of a packet; a longer one is cut (its record keeps the length
// it had on the wire).
inline constexpr uint32_t kCaptureSnap = 2016;
// Copies a worker's ring holds for the capture thread.
inline constexpr unsigned kCaptureRing = 256;
// A record's rule when no rule judged the packet (malformed, non-IP, a
// later fragment), and the rule filter's target when the set has no rule of
// that id.
inline constexpr uint32_t kCaptureNoRule = UINT32_MAX - 1;
inline constexpr uint32_t kCaptureNoMatch = UINT32_MAX - 2;

// One copied packet, as a worker puts it on its ring.
struct CaptureRecord {
  uint64_t tsc;     // when it was copied
  uint32_t rule;    // the deciding rule's index under `epoch`; kNoRule, kCaptureNoRule
  uint32_t epoch;
  uint32_t length;  // bytes on the wire
  uint16_t caplen;  // bytes in `data`
  uint16_t port;    // the port it arrived on
  uint8_t dropped;
  uint8_t reason;   // DropReason, when dropped
  uint8_t mode;     // Mode of the set that judged it
  uint8_t pad[5];
  uint8_t data[kCaptureSnap];
};
static_assert(sizeof(CaptureRecord) == 2048 && sizeof(CaptureRecord) % 4 == 0);

class CaptureTap {
 public:
  static std::unique_ptr<CaptureTap> create(uint32_t workers, std::string& error);
  ~CaptureTap();
  CaptureTap(const CaptureTap&) = delete;
  CaptureTap& operator=(const CaptureTap&) = delete;

  // Workers. The arm number (0: disarmed); a new number is a new capture.
  uint32_t armed() const noexcept { return armed_.load(std::memory_order_acquire); }
  const CaptureFilter& filter() const noexcept { return filter_; }
  uint32_t worker_rate() const noexcept { return worker_rate_; }  // copies a second, per worker
  uint64_t rule_target() const noexcept { return rule_target_.load(std::memory_order_relaxed); }
  rte_ring* ring(uint32_t worker) const noexcept { return rings_[worker]; }

  // The capture thread; one capture at a time.
  // Sets the filter and arms the workers (disarmed before). `rule` is the
  // rule filter's index under `epoch` (kCaptureNoMatch: no such rule).
  void arm(const CaptureFilter& f, uint32_t epoch, uint32_t rule) noexcept;
  void retarget(uint32_t epoch, uint32_t rule) noexcept;
  // Disarms and waits until no worker is still in a burst that saw the
  // capture armed (a QSBR grace period); then empties the rings.
  void disarm(rte_rcu_qsbr* qsbr) noexcept;
  // Moves up to `max` records into `out`, a few from each worker's ring in
  // turn; returns how many.
  size_t drain(CaptureRecord* out, size_t max) noexcept;

 private:
  CaptureTap() = default;
  std::atomic<uint32_t> armed_{0};
  uint32_t arms_ = 0;
  CaptureFilter filter_;
  uint32_t worker_rate_ = 0;
  std::atomic<uint64_t> rule_target_{0};
  std::vector<rte_ring*> rings_;
  uint32_t next_ring_ = 0;
};

}  // namespace bulkhead::dataplane
