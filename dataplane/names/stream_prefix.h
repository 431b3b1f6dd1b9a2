// The first bytes of a byte stream, put together from pieces that arrive at
// any offset: TCP payload for the TLS reader, CRYPTO frames for the QUIC one.
//
// Fixed capacity, no allocation: bytes at offsets at or past kCapacity are
// not kept. A byte already held is never overwritten, so a retransmission
// that disagrees with the first copy changes nothing (first copy wins).
// Bytes after a gap are kept and the prefix grows once the gap is filled.
// Cost: each write is linear in the bytes it brings (clipped to the
// capacity), and the prefix only moves forward.
//
// Owned by one connection's reader; not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bulkhead::dataplane::names {

template <size_t kCapacity>
class StreamPrefix {
  static_assert(kCapacity % 8 == 0, "whole bytes of the presence map");

 public:
  static constexpr size_t kSize = kCapacity;

  // Keeps the bytes of [offset, offset + len) below the capacity that are
  // not held yet. `offset` may be anything (a QUIC offset reaches 2^62).
  void write(uint64_t offset, const uint8_t* data, size_t len) noexcept {
    if (offset >= kCapacity || len == 0) return;
    size_t begin = static_cast<size_t>(offset);
    size_t end = std::min(kCapacity, begin + std::min(len, kCapacity));
    if (end <= contiguous_) return;  // all held already
    if (begin < contiguous_) {
      data += contiguous_ - begin;
      begin = contiguous_;
    }
    if (begin == contiguous_ && furthest_ <= contiguous_) {
      // In order, nothing held past it: the common case, one copy.
      std::memcpy(bytes_ + begin, data, end - begin);
      contiguous_ = furthest_ = end;
      return;
    }
    for (size_t i = begin; i < end; ++i, ++data) {
      if (held(i)) continue;
      bytes_[i] = *data;
      present_[i / 8] = static_cast<uint8_t>(present_[i / 8] | (1u << (i % 8)));
    }
    furthest_ = std::max(furthest_, end);
    if (begin == contiguous_) contiguous_ = end;
    while (contiguous_ < furthest_ && held(contiguous_)) ++contiguous_;
  }

  // Forgets everything, for a reader taken up by another connection.
  void reset() noexcept {
    std::memset(present_, 0, sizeof present_);
    contiguous_ = furthest_ = 0;
  }

  // Bytes [0, contiguous()) are all held.
  size_t contiguous() const noexcept { return contiguous_; }
  bool full() const noexcept { return contiguous_ == kCapacity; }
  // The held prefix. Writable so that a reader may rework the bytes below
  // contiguous() in place (the TLS reader strips its record headers there);
  // bytes past it belong to the pieces not yet joined.
  uint8_t* data() noexcept { return bytes_; }
  const uint8_t* data() const noexcept { return bytes_; }

 private:
  // Below contiguous_ everything is held whatever the map says (the fast
  // path does not mark it); past it the map is exact.
  bool held(size_t i) const noexcept { return i < contiguous_ || (present_[i / 8] >> (i % 8)) & 1u; }

  uint8_t bytes_[kCapacity];
  uint8_t present_[kCapacity / 8] = {};
  size_t contiguous_ = 0;
  size_t furthest_ = 0;  // one past the last byte held
};

}  // namespace bulkhead::dataplane::names
