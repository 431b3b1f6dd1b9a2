// The appliance's answers to the load balancers' health checks: TCP
// (SYN -> SYN-ACK; a FIN is answered and the connection closed) and HTTP
// (`GET /` or `GET <--health-path>` -> 200, any other request -> 404, with
// the connection closed), to its own address and --health-port, without a
// tunnel. Not an HTTP server: one request line's method and path are read,
// and one of two fixed answers sent.
//
// Built in the worker from the check's own frame, in place, with no state
// kept between segments: the answer's sequence numbers come from the
// segment it answers (our initial sequence number is a function of the
// checker's address and port, so a later segment says whether we have
// already closed). So a check is answered exactly while a worker runs its
// loop; with `healthy` false (a worker has stopped passing through its
// loop) nothing is answered, and the check fails. See docs/cloud.md for why
// the answer is built here rather than by a kernel stack.
//
// Pure: reads and writes only [frame, frame + capacity). Any thread, on its
// own frames.
#pragma once

#include <cstdint>

#include "dataplane/insertion/encap.h"

namespace bulkhead::dataplane::insertion {

enum class HealthAnswer : uint8_t {
  answered,   // the frame now holds the answer; its new length is returned
  quiet,      // a segment that needs no answer (a bare ACK, a RST)
  unhealthy,  // not answered: a worker has stopped
};

// Our initial sequence number toward a checker at `address` (host order)
// and `port`: a function of them, so that a later segment's acknowledgement
// says whether we have sent our answer.
inline uint32_t health_isn(uint32_t address, uint16_t port) noexcept {
  return 0x6b680000u + address + port * 0x10001u;
}

// `frame` (`len` bytes, room for `capacity`) is a TCP segment read by
// read_outer() as Outer::health. On HealthAnswer::answered `len` is the
// answer's length.
HealthAnswer answer_health(uint8_t* frame, uint32_t& len, uint32_t capacity, const Encap& e, const OuterConfig& cfg,
                           bool healthy) noexcept;

}  // namespace bulkhead::dataplane::insertion
