// One burst's state as it moves through the worker's stages
// (dataplane/worker.cpp): what was parsed, the connection keys and what
// the table said about them, the classification batch, and each packet's
// fate. One instance per worker, reused burst after burst; only that
// worker touches it. Arrays are indexed by the packet's place in the burst
// unless their comment says otherwise.
#pragma once

#include <cstdint>
#include <cstring>

#include <rte_mbuf.h>

#include "dataplane/acl_key.h"
#include "dataplane/connection.h"
#include "dataplane/counters.h"
#include "dataplane/flow_record.h"
#include "dataplane/packet.h"

namespace bulkhead::dataplane {

inline constexpr uint16_t kBurst = 32;

// Where a packet stands. The stages move every packet to pass or drop.
enum class Fate : uint8_t {
  pending,         // a connection's first packet in this burst: to classify
  recheck,         // of a connection admitted under an older rule set: to classify again
  follow,          // another packet of a connection an earlier packet of this burst leads
  later_fragment,  // follows its datagram's first fragment
  pass,
  drop,
};

// The packets of one burst that go to one rte_acl_classify call per address
// family: keys, and the packet each key belongs to.
struct ClassifyBatch {
  AclKey4 k4[kBurst];
  AclKey6 k6[kBurst];
  const AclKey4* p4[kBurst];
  const AclKey6* p6[kBurst];
  uint16_t of4[kBurst];
  uint16_t of6[kBurst];
  uint16_t n4 = 0;
  uint16_t n6 = 0;

  void clear() noexcept { n4 = n6 = 0; }
  bool empty() const noexcept { return n4 + n6 == 0; }
  // `tenant`: the packet's ConnKey::tenant; the name bits as
  // make_acl_key's (all ones: a first lookup).
  void add(const FlowTuple& t, uint16_t tenant, uint16_t packet, uint32_t fqdn_bits = kAllNameBits,
           uint32_t sni_bits = kAllNameBits) noexcept {
    if (t.family == 4) {
      make_acl_key(t, tenant, k4[n4], fqdn_bits, sni_bits);
      p4[n4] = &k4[n4];
      of4[n4++] = packet;
    } else {
      make_acl_key(t, tenant, k6[n6], fqdn_bits, sni_bits);
      p6[n6] = &k6[n6];
      of6[n6++] = packet;
    }
  }
};

// The connections this burst touches more than once, by key: the first
// packet with a key leads, and the later ones follow it. Probed with the
// connection table's own (keyed) hash of the key.
class BurstGroups {
 public:
  void clear() noexcept { std::memset(index_, 0, sizeof(index_)); }
  // The earlier packet registered with the key of packet `i` (hash `h`),
  // or -1.
  int find(const ConnKey* keys, uint16_t i, uint32_t h) const noexcept {
    for (uint32_t slot = h & (kSlots - 1); index_[slot] != 0; slot = (slot + 1) & (kSlots - 1)) {
      const uint16_t j = static_cast<uint16_t>(index_[slot] - 1);
      if (hash_[slot] == h && std::memcmp(&keys[j], &keys[i], sizeof(ConnKey)) == 0) return j;
    }
    return -1;
  }
  // Registers packet `i` as the leader of its key (not registered yet).
  void add(uint16_t i, uint32_t h) noexcept {
    uint32_t slot = h & (kSlots - 1);
    while (index_[slot] != 0) slot = (slot + 1) & (kSlots - 1);
    index_[slot] = static_cast<uint8_t>(i + 1);
    hash_[slot] = h;
  }

 private:
  static constexpr uint32_t kSlots = 2 * kBurst;  // twice the burst: probes stay short
  uint8_t index_[kSlots] = {};
  uint32_t hash_[kSlots];
};

struct Burst {
  // The frame of packet i as the parse stage read it.
  const uint8_t* frame(uint16_t i) const noexcept { return rte_pktmbuf_mtod(pkts[i], const uint8_t*) + view[i]; }
  uint32_t frame_len(uint16_t i) const noexcept { return rte_pktmbuf_data_len(pkts[i]) - view[i]; }

  uint16_t n = 0;
  rte_mbuf* pkts[kBurst];
  PacketMeta meta[kBurst];
  uint32_t len[kBurst];  // bytes on the wire
  // Where the packet judged starts in the frame: 0, or (one-armed
  // insertion) the tunnelled packet's offset; meta's offsets are from there.
  uint16_t view[kBurst];
  // One-armed insertion (set by open_tunnels; not read inline): the
  // packet's tenant tag (ConnKey::tenant), and whether a mid-flow TCP
  // packet of no known connection may open one (pickup).
  uint16_t tenant[kBurst];
  bool pickup[kBurst];
  Fate fate[kBurst];
  DropReason reason[kBurst];  // when fate == drop

  // Connection lookup: the packets that have a connection key.
  ConnKey keys[kBurst];
  uint8_t dir[kBurst];      // the packet's direction in its key
  uint16_t leader[kBurst];  // for fate == follow: the packet it follows
  int32_t pos[kBurst];      // the table slot found, or created; < 0 none
  uint32_t hash[kBurst];    // the key's table hash, for an insert
  bool reuse[kBurst];       // pos holds an expired connection this packet may reopen
  const ConnKey* lookup_keys[kBurst];  // by lookup
  uint16_t lookup_of[kBurst];          // by lookup: its packet
  uint16_t nlookup = 0;

  // Classification of first packets and re-checks.
  ClassifyBatch batch;
  uint32_t rule[kBurst] = {};  // the rule that decided, for classified packets
  uint32_t judged = 0;    // bit i: rule[i] holds packet i's deciding rule
  // While a capture by rule is armed, a hit copies its connection's rule
  // (under the set's epoch) from the entry it already holds, so that the
  // capture stage does not visit the entries again.
  bool copy_hit_rules = false;
  uint32_t hit_ruled = 0;  // bit i: rule[i] holds the rule of packet i's connection
  BurstGroups groups;

  // Rules written with names: the packets whose first lookup found a rule
  // with `fqdn`, looked up again with the bits their bindings give
  // (`names_batch`), and what the bindings said (bit i of `noted`: note[i]).
  ClassifyBatch names_batch;
  NameNote note[kBurst];
  uint32_t noted = 0;
  // Bit i: packet i's first lookup found a rule with names of its own mode
  // (audit, learn: name_mode[i]) whose name condition then failed; its
  // denial runs in that mode.
  uint32_t name_relaxed = 0;
  Mode name_mode[kBurst];
  // Bit i: packet i, tracked, is TCP or UDP on port 53 at either end: what
  // the DNS snooping reads besides first packets (`judged`), so a burst
  // with neither passes it by at once.
  uint32_t dns_port = 0;
  uint32_t fqdn_bits[kBurst];  // bit i of noted: the bits its bindings gave

  // Packets that follow a leader, in arrival order.
  uint16_t followers[kBurst];
  uint16_t nfollow = 0;

  // How many packets each later stage has to settle, counted as their fate
  // is set, so a stage with none (a burst of hits) is skipped whole.
  uint16_t nrecheck = 0;    // fate == recheck, by update_hits
  uint16_t nfragments = 0;  // fate == later_fragment, by triage

  // When an earlier packet of this burst leads packet i's key, i follows
  // it (and true); false when i is the first of its key.
  bool follow_earlier(uint16_t i) noexcept {
    const int l = groups.find(keys, i, hash[i]);
    if (l < 0) return false;
    fate[i] = Fate::follow;
    leader[i] = static_cast<uint16_t>(l);
    followers[nfollow++] = i;
    return true;
  }
};

}  // namespace bulkhead::dataplane
