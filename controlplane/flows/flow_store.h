// The flow store: what the network did, aggregated by (source address,
// destination address, protocol, destination port).
//
// Each aggregate keeps connection counts by verdict, how many of them the
// learner may learn from (not denied in enforce mode), how many ended
// answered and how many ended with nothing back, packets and bytes (counted when a connection ends), and first
// and last seen. Memory is bounded: at most `capacity` aggregates; an
// aggregate not seen for `retention` is dropped, and when the store is full
// the least recently seen sixteenth is evicted to make room (counted). The
// whole store is saved to and restored from one file (FlowSnapshot),
// written atomically.
//
// Names: an aggregate keeps the DNS names its records say bound the
// destination for the source (FlowRecord.dns_name), the most recent last,
// at most kMaxAggregateNames, and likewise the server names of their
// connections' ClientHellos (FlowRecord.sni); the names of both kinds are
// kept once each for the whole store, at most kMaxDnsNames of them (past
// that, new names are not kept, and counted).
//
// Thread-safety: none; the control plane guards it with one mutex.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane::flows {

inline constexpr size_t kMaxAggregateNames = 4;
inline constexpr size_t kMaxDnsNames = 262144;

struct FlowStoreOptions {
  size_t capacity = 2'000'000;
  int64_t retention_ms = 30LL * 24 * 3600 * 1000;
};

struct FlowQuery {
  int64_t since_ms = 0;  // aggregates seen at or after (0: all)
  int64_t until_ms = 0;  // and first seen at or before (0: no bound)
  bool denied_only = false;
  std::string host;      // 4 or 16 bytes; empty: any
  std::string segment;
  uint32_t port = 0;
  uint32_t top = 0;      // most flows first, at most `top` (0: all, unordered)
};

class FlowStore {
 public:
  explicit FlowStore(FlowStoreOptions options = {});

  // Adds one record that passed validate() and orient().
  void ingest(const pb::FlowRecord& r);
  // Whether the record's aggregate is kept (ingesting it adds none).
  bool holds(const pb::FlowRecord& r) const {
    return map_.count(key_of(r.src(), r.dst(), r.protocol(), r.dst_port())) != 0;
  }
  // Drops aggregates last seen before now - retention.
  void expire(int64_t now_ms);

  std::vector<pb::FlowAggregate> query(const FlowQuery& q) const;
  // Calls f(const pb::FlowAggregate&) for every aggregate.
  template <class F>
  void each(F&& f) const {
    pb::FlowAggregate a;
    for (const auto& [k, v] : map_) {
      fill(k, v, a);
      f(a);
    }
  }

  size_t size() const noexcept { return map_.size(); }
  pb::FlowStoreInfo info() const;
  void add_lost(uint64_t n) noexcept { lost_ += n; }
  void add_suppressed(uint64_t n) noexcept { suppressed_ += n; }
  void count_rejected(uint64_t records, uint64_t batches) noexcept {
    rejected_records_ += records;
    rejected_batches_ += batches;
  }

  pb::FlowSnapshot snapshot(int64_t now_ms) const;
  // Replaces the content with a snapshot's; false (store untouched) when
  // the snapshot holds malformed aggregates.
  bool restore(const pb::FlowSnapshot& s, std::string& error);
  bool save(const std::string& path, int64_t now_ms, std::string& error) const;
  // A missing file is an empty store (true); an unreadable one is an error.
  bool load(const std::string& path, std::string& error);

 private:
  struct Key {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t dport;
    uint8_t proto;
    uint8_t family;
    bool operator==(const Key& o) const noexcept { return std::memcmp(this, &o, sizeof(Key)) == 0; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept;
  };
  using Names = std::array<uint32_t, kMaxAggregateNames>;
  struct Agg {
    uint64_t flows = 0, packets = 0, bytes = 0;
    uint64_t allowed = 0, denied = 0, would_deny = 0, learnable = 0, answered = 0, unanswered = 0;
    int64_t first_ms = 0, last_ms = 0;
    uint16_t src_segment = 0, dst_segment = 0;  // interned; 0: none
    uint16_t src_port = 0;
    // Ids in dns_names_ (0: none), the most recent last.
    Names dns{};
    Names sni{};  // server names, likewise
  };

  static Key key_of(const std::string& src, const std::string& dst, uint32_t proto, uint32_t dport);
  void fill(const Key& k, const Agg& v, pb::FlowAggregate& out) const;
  uint16_t intern(const std::string& name);
  uint32_t intern_dns(const std::string& name);
  // Adds a name to an aggregate's (its dns or sni), as the most recent.
  static void add_name(Names& names, uint32_t id);
  void make_room();
  // First and last seen over the whole store: kept as records arrive,
  // recounted only when aggregates leave (status is asked often).
  void recompute_span();

  FlowStoreOptions opt_;
  std::unordered_map<Key, Agg, KeyHash> map_;
  std::vector<std::string> names_{""};
  std::unordered_map<std::string, uint16_t> name_ids_;
  std::vector<std::string> dns_names_{""};
  std::unordered_map<std::string, uint32_t> dns_ids_;
  uint64_t dns_names_full_ = 0;
  uint64_t records_ = 0, rejected_records_ = 0, rejected_batches_ = 0, evicted_ = 0, lost_ = 0, suppressed_ = 0;
  int64_t oldest_ms_ = 0, newest_ms_ = 0;
};

}  // namespace bulkhead::controlplane::flows
