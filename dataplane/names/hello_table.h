// A worker's connections waiting for their ClientHello: those a rule with
// `sni` admitted provisionally (docs/egress.md, "Server names"). Each holds
// the reader of its client's first flight — TLS records over TCP
// (ClientHelloAssembler) or QUIC Initials (QuicHelloAssembler) — and what
// the decision needs: the fqdn bits its first packet was judged with, when
// it started, how many client packets have come.
//
// A fixed pool of kSlots entries, taken once at construction (about 36 KiB
// an entry): at most that many connections per worker wait at once; one that
// finds the pool full is decided at once as if its ClientHello had not come
// (NameSettings.timeout). An entry is found by the connection's slot in the
// connection table, by a scan of the pool (only packets of waiting
// connections look).
//
// Threads: one per worker, used by that worker only: the client direction of
// a connection reaches the worker that admitted it.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/names/quic.h"
#include "dataplane/names/tls.h"

namespace bulkhead::dataplane::names {

class HelloTable {
 public:
  static constexpr unsigned kSlots = 64;

  struct Entry {
    int32_t pos = -1;        // the connection's slot; -1: free
    bool quic = false;
    uint16_t packets = 0;    // client packets that carried payload
    uint32_t isn = 0;        // TCP: the client's initial sequence number
    uint32_t fqdn_bits = 0;  // the bits its first packet was judged with
    uint32_t start_ms = 0;
    uint32_t next = 0;       // TCP: the stream offset up to which the client's bytes came in order
    bool fqdn_known = false; // fqdn_bits came from the bindings (else: to be looked up)
    ClientHelloAssembler tls;
    QuicHelloAssembler quic_hello;

    const ClientHello& hello() const noexcept { return quic ? quic_hello.hello() : tls.hello(); }
  };

  HelloTable() : entries_(new Entry[kSlots]) {}

  // The entry of connection `pos`, or nullptr.
  Entry* find(int32_t pos) noexcept {
    for (unsigned k = 0; k < kSlots; ++k)
      if (entries_[k].pos == pos) return &entries_[k];
    return nullptr;
  }
  // A free entry for connection `pos`, reset; nullptr when none is free.
  // An entry whose connection waited past `stale_ms` since `start_ms`
  // (ended or cut without its entry being given back) is taken back first.
  Entry* take(int32_t pos, bool quic, uint32_t now_ms, uint32_t stale_ms) noexcept {
    Entry* free = nullptr;
    for (unsigned k = 0; k < kSlots && free == nullptr; ++k) {
      Entry& e = entries_[k];
      if (e.pos < 0 || static_cast<int32_t>(now_ms - e.start_ms) > static_cast<int32_t>(stale_ms)) free = &e;
    }
    if (free == nullptr) return nullptr;
    if (free->pos < 0) ++in_use_;
    free->pos = pos;
    free->quic = quic;
    free->next = 0;
    free->packets = 0;
    free->start_ms = now_ms;
    if (quic) free->quic_hello.reset();
    else free->tls.reset();
    return free;
  }
  void give_back(Entry& e) noexcept {
    e.pos = -1;
    --in_use_;
  }
  unsigned in_use() const noexcept { return in_use_; }

 private:
  std::unique_ptr<Entry[]> entries_;
  unsigned in_use_ = 0;
};

}  // namespace bulkhead::dataplane::names
