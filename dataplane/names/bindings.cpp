#include "dataplane/names/bindings.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include <rte_pause.h>

#include "proto/names.pb.h"
#include "rules/names.h"

namespace bulkhead::dataplane::names {
namespace {

uint64_t word(const std::array<uint8_t, 16>& a, unsigned half) noexcept {
  uint64_t w;
  std::memcpy(&w, a.data() + 8 * half, 8);
  return w;
}

void unword(std::array<uint8_t, 16>& a, unsigned half, uint64_t w) noexcept { std::memcpy(a.data() + 8 * half, &w, 8); }

std::size_t text_hash(std::string_view s) noexcept { return std::hash<std::string_view>{}(s); }

}  // namespace

BindingTable::BindingTable(const Limits& limits, KeyedHash hash) : limits_(limits), hash_(hash) {
  if (limits_.names == 0) limits_.names = 1;
  bucket_count_ = (std::max<uint32_t>(limits_.bindings, 1) + kSlotsPerBucket - 1) / kSlotsPerBucket;
  buckets_ = std::make_unique<Bucket[]>(bucket_count_);
  names_ = std::make_unique<Name[]>(limits_.names);
  name_index_size_ = 2 * limits_.names;
  name_index_ = std::make_unique<uint32_t[]>(name_index_size_);
  free_names_ = std::make_unique<uint32_t[]>(limits_.names);
  free_name_count_ = limits_.names;
  for (uint32_t i = 0; i < limits_.names; ++i) free_names_[i] = limits_.names - 1 - i;
}

BindingTable::~BindingTable() = default;

std::size_t BindingTable::memory_bytes() const noexcept {
  return sizeof(*this) + std::size_t(bucket_count_) * sizeof(Bucket) + std::size_t(limits_.names) * sizeof(Name) +
         std::size_t(name_index_size_) * sizeof(uint32_t) + std::size_t(limits_.names) * sizeof(uint32_t);
}

uint32_t BindingTable::bucket_of(const BindingKey& k) const noexcept {
  const uint64_t w[5] = {word(k.client, 0), word(k.client, 1), word(k.server, 0), word(k.server, 1),
                         uint64_t(k.tenant) << 8 | k.family};
  return hash_(w) % bucket_count_;
}

BindingTable::Loaded BindingTable::load(const Slot& s) noexcept {
  Loaded v;
  unword(v.key.client, 0, s.w[0].load(std::memory_order_relaxed));
  unword(v.key.client, 1, s.w[1].load(std::memory_order_relaxed));
  unword(v.key.server, 0, s.w[2].load(std::memory_order_relaxed));
  unword(v.key.server, 1, s.w[3].load(std::memory_order_relaxed));
  const uint64_t meta = s.w[4].load(std::memory_order_relaxed);
  v.key.tenant = uint32_t(meta >> 32);
  v.key.family = uint8_t(meta >> 8);
  v.used = meta & 1;
  const uint64_t name = s.w[5].load(std::memory_order_relaxed);
  v.name = uint32_t(name >> 32);
  v.generation = uint32_t(name);
  const uint64_t times = s.w[6].load(std::memory_order_relaxed);
  v.bound_at = uint32_t(times >> 32);
  v.expires = uint32_t(times);
  return v;
}

void BindingTable::store(Slot& s, const Loaded& v) noexcept {
  s.w[0].store(word(v.key.client, 0), std::memory_order_relaxed);
  s.w[1].store(word(v.key.client, 1), std::memory_order_relaxed);
  s.w[2].store(word(v.key.server, 0), std::memory_order_relaxed);
  s.w[3].store(word(v.key.server, 1), std::memory_order_relaxed);
  s.w[4].store(uint64_t(v.key.tenant) << 32 | uint64_t(v.key.family) << 8 | (v.used ? 1 : 0),
               std::memory_order_relaxed);
  s.w[5].store(uint64_t(v.name) << 32 | v.generation, std::memory_order_relaxed);
  s.w[6].store(uint64_t(v.bound_at) << 32 | v.expires, std::memory_order_relaxed);
}

bool BindingTable::read_name(uint32_t id, uint32_t generation, std::array<char, kMaxNameText>& out,
                             uint32_t& len) const noexcept {
  const Name& n = names_[id];
  for (;;) {
    uint32_t before = n.seq.load(std::memory_order_acquire);
    if (!(before & 1)) {
      const bool same = n.generation.load(std::memory_order_relaxed) == generation;
      len = std::min<uint32_t>(n.len.load(std::memory_order_relaxed), kMaxNameText);
      for (unsigned i = 0; i * 8 < len; ++i) {
        uint64_t w = n.text[i].load(std::memory_order_relaxed);
        std::memcpy(out.data() + 8 * i, &w, std::min<std::size_t>(8, len - 8 * i));
      }
      std::atomic_thread_fence(std::memory_order_acquire);
      if (n.seq.load(std::memory_order_relaxed) == before) return same;
    }
    counters_.read_retries.fetch_add(1, std::memory_order_relaxed);
  }
}

void BindingTable::lock() noexcept {
  while (lock_.test_and_set(std::memory_order_acquire)) {
    while (lock_.test(std::memory_order_relaxed)) rte_pause();
  }
}

int64_t BindingTable::find_name(std::string_view name) const noexcept {
  for (uint32_t i = uint32_t(text_hash(name) % name_index_size_);; i = (i + 1) % name_index_size_) {
    const uint32_t e = name_index_[i];
    if (e == 0) return -1;
    const Name& n = names_[e - 1];
    const uint32_t len = n.len.load(std::memory_order_relaxed);
    if (len != name.size()) continue;
    bool same = true;
    for (unsigned w = 0; same && w * 8 < len; ++w) {
      uint64_t x = n.text[w].load(std::memory_order_relaxed);
      same = std::memcmp(&x, name.data() + 8 * w, std::min<std::size_t>(8, len - 8 * w)) == 0;
    }
    if (same) return e - 1;
  }
}

int64_t BindingTable::intern(std::string_view name) noexcept {
  if (int64_t id = find_name(name); id >= 0) return id;
  if (free_name_count_ == 0 || name.empty() || name.size() > kMaxNameText) return -1;
  const uint32_t id = free_names_[--free_name_count_];
  Name& n = names_[id];
  n.seq.fetch_add(1, std::memory_order_relaxed);  // odd: readers stand off
  std::atomic_thread_fence(std::memory_order_release);
  n.generation.fetch_add(1, std::memory_order_relaxed);
  n.len.store(uint32_t(name.size()), std::memory_order_relaxed);
  for (unsigned w = 0; w * 8 < name.size(); ++w) {
    uint64_t x = 0;
    std::memcpy(&x, name.data() + 8 * w, std::min<std::size_t>(8, name.size() - 8 * w));
    n.text[w].store(x, std::memory_order_relaxed);
  }
  n.seq.fetch_add(1, std::memory_order_release);
  n.addresses = 0;
  uint32_t i = uint32_t(text_hash(name) % name_index_size_);
  while (name_index_[i] != 0) i = (i + 1) % name_index_size_;
  name_index_[i] = id + 1;
  live_names_.fetch_add(1, std::memory_order_relaxed);
  return id;
}

// Drops one slot's hold on a name; the last one frees it (its index entry
// removed by backward shift, so probes never cross a hole).
void BindingTable::release(uint32_t id) noexcept {
  Name& n = names_[id];
  if (n.addresses > 1) {
    --n.addresses;
    return;
  }
  n.addresses = 0;
  std::array<char, kMaxNameText> text;
  const uint32_t len = n.len.load(std::memory_order_relaxed);
  for (unsigned w = 0; w * 8 < len; ++w) {
    uint64_t x = n.text[w].load(std::memory_order_relaxed);
    std::memcpy(text.data() + 8 * w, &x, std::min<std::size_t>(8, len - 8 * w));
  }
  uint32_t i = uint32_t(text_hash(std::string_view(text.data(), len)) % name_index_size_);
  while (name_index_[i] != id + 1) i = (i + 1) % name_index_size_;
  for (uint32_t j = (i + 1) % name_index_size_; name_index_[j] != 0; j = (j + 1) % name_index_size_) {
    const Name& m = names_[name_index_[j] - 1];
    std::array<char, kMaxNameText> mt;
    const uint32_t ml = m.len.load(std::memory_order_relaxed);
    for (unsigned w = 0; w * 8 < ml; ++w) {
      uint64_t x = m.text[w].load(std::memory_order_relaxed);
      std::memcpy(mt.data() + 8 * w, &x, std::min<std::size_t>(8, ml - 8 * w));
    }
    const uint32_t home = uint32_t(text_hash(std::string_view(mt.data(), ml)) % name_index_size_);
    // Move j's entry into the hole at i unless its home lies cyclically in (i, j].
    const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!stays) {
      name_index_[i] = name_index_[j];
      i = j;
    }
  }
  name_index_[i] = 0;
  // A reader holding (id, generation) sees the generation move on.
  n.seq.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  n.generation.fetch_add(1, std::memory_order_relaxed);
  n.seq.fetch_add(1, std::memory_order_release);
  free_names_[free_name_count_++] = id;
  live_names_.fetch_sub(1, std::memory_order_relaxed);
}

void BindingTable::free_slot(Slot& s, const Loaded& v) noexcept {
  Loaded empty;
  store(s, empty);
  release(v.name);
  live_bindings_.fetch_sub(1, std::memory_order_relaxed);
}

BindResult BindingTable::bind(const BindingKey& key, std::string_view name, uint32_t now, uint32_t expires) noexcept {
  lock();
  const int64_t id = intern(name);
  if (id < 0) {
    unlock();
    counters_.names_full.fetch_add(1, std::memory_order_relaxed);
    return BindResult::names_full;
  }
  Name& n = names_[id];
  ++n.addresses;  // held while binding: freeing an expired slot of this name must not free the name
  const uint32_t generation = n.generation.load(std::memory_order_relaxed);
  Bucket& b = buckets_[bucket_of(key)];
  b.seq.fetch_add(1, std::memory_order_relaxed);  // odd: readers stand off
  std::atomic_thread_fence(std::memory_order_release);

  BindResult result = BindResult::bound;
  Slot* target = nullptr;
  Slot* earliest = nullptr;
  uint32_t earliest_expiry = UINT32_MAX;
  for (Slot& s : b.slots) {
    Loaded v = load(s);
    if (v.used && v.key == key && v.name == uint32_t(id)) {
      if (expires > v.expires) v.expires = expires;
      v.bound_at = now;
      store(s, v);
      result = BindResult::refreshed;
      target = &s;
      break;
    }
    if (v.used && v.expires < now) {  // expired: give it back now
      free_slot(s, v);
      counters_.expired.fetch_add(1, std::memory_order_relaxed);
      v.used = false;
    }
    if (!v.used && !target) target = &s;
    if (v.used && v.expires < earliest_expiry) {
      earliest_expiry = v.expires;
      earliest = &s;
    }
  }
  if (result != BindResult::refreshed) {
    if (n.addresses - 1 >= limits_.max_addresses_per_name) {
      result = BindResult::name_cap;
    } else {
      if (!target) {
        target = earliest;
        free_slot(*target, load(*target));
        result = BindResult::evicted;
      }
      Loaded v;
      v.key = key;
      v.used = true;
      v.name = uint32_t(id);
      v.generation = generation;
      v.bound_at = now;
      v.expires = expires;
      store(*target, v);
      ++n.addresses;
      live_bindings_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  b.seq.fetch_add(1, std::memory_order_release);
  release(uint32_t(id));  // the hold taken above; frees a name interned for a refused binding
  unlock();
  switch (result) {
    case BindResult::bound: counters_.bound.fetch_add(1, std::memory_order_relaxed); break;
    case BindResult::refreshed: counters_.refreshed.fetch_add(1, std::memory_order_relaxed); break;
    case BindResult::evicted: counters_.evicted.fetch_add(1, std::memory_order_relaxed); break;
    case BindResult::name_cap: counters_.name_cap.fetch_add(1, std::memory_order_relaxed); break;
    case BindResult::names_full: break;
  }
  return result;
}

void BindingTable::save(uint32_t now, int64_t now_unix, pb::NameBindings& out) {
  out.Clear();
  out.set_saved_unix(now_unix);
  // One bucket at a time under the lock (its slots and their names stay as
  // they are while copied), encoded after: a worker binding an answer
  // meanwhile waits for one bucket's copy, never for the whole table's.
  struct Copy {
    Loaded v;
    uint32_t len;
    std::array<char, kMaxNameText> text;
  };
  Copy copies[kSlotsPerBucket];
  for (uint32_t i = 0; i < bucket_count_; ++i) {
    unsigned n = 0;
    lock();
    for (const Slot& s : buckets_[i].slots) {
      const Loaded v = load(s);
      if (!v.used || v.expires < now) continue;
      Copy& c = copies[n++];
      c.v = v;
      const Name& name = names_[v.name];
      c.len = std::min<uint32_t>(name.len.load(std::memory_order_relaxed), kMaxNameText);
      for (unsigned w = 0; w * 8 < c.len; ++w) {
        uint64_t x = name.text[w].load(std::memory_order_relaxed);
        std::memcpy(c.text.data() + 8 * w, &x, std::min<std::size_t>(8, c.len - 8 * w));
      }
    }
    unlock();
    for (unsigned k = 0; k < n; ++k) {
      const Loaded& v = copies[k].v;
      pb::NameBinding* b = out.add_bindings();
      const std::size_t width = v.key.family == 4 ? 4 : 16;
      b->set_tenant(v.key.tenant);
      b->set_client(v.key.client.data(), width);
      b->set_server(v.key.server.data(), width);
      b->set_name(copies[k].text.data(), copies[k].len);
      b->set_bound_unix(now_unix - int64_t(now - std::min(now, v.bound_at)));
      b->set_expires_unix(now_unix + int64_t(v.expires - now));
    }
  }
}

BindingTable::Restored BindingTable::restore(const pb::NameBindings& in, uint32_t now, int64_t now_unix) {
  Restored r;
  std::string error;
  for (const pb::NameBinding& b : in.bindings()) {
    const std::size_t width = b.client().size();
    const auto canonical = rules::canonical_name(b.name(), error);
    if ((width != 4 && width != 16) || b.server().size() != width || !canonical || *canonical != b.name() ||
        b.name().size() > kMaxNameText) {
      ++r.refused;
      continue;
    }
    if (b.expires_unix() < now_unix) {
      ++r.expired;
      continue;
    }
    BindingKey key;
    key.tenant = b.tenant();
    key.family = width == 4 ? 4 : 6;
    std::memcpy(key.client.data(), b.client().data(), width);
    std::memcpy(key.server.data(), b.server().data(), width);
    const int64_t left = std::min<int64_t>(b.expires_unix() - now_unix, int64_t(UINT32_MAX - now));
    const int64_t age = std::clamp<int64_t>(now_unix - b.bound_unix(), 0, now);
    const BindResult result = bind(key, b.name(), uint32_t(now - age), uint32_t(now + left));
    if (result == BindResult::name_cap || result == BindResult::names_full) {
      ++r.not_bound;
    } else {
      ++r.restored;
    }
  }
  return r;
}

uint32_t BindingTable::sweep(uint32_t now, uint32_t buckets) noexcept {
  // The writers' lock is taken for one bucket at a time, and only for a
  // bucket a lock-free look found something expired in: a sweeper that
  // loses its core (the main lcore is not a dedicated one) while holding it
  // stalls the workers' binds for one bucket's work at most, and rarely.
  uint32_t freed = 0;
  for (uint32_t k = 0; k < buckets && k < bucket_count_; ++k) {
    const uint32_t at = sweep_next_.fetch_add(1, std::memory_order_relaxed) % bucket_count_;
    Bucket& b = buckets_[at];
    bool stale = false;
    for (const Slot& s : b.slots) {
      const Loaded v = load(s);
      stale = stale || (v.used && v.expires < now);
    }
    if (!stale) continue;
    lock();
    bool odd = false;
    for (Slot& s : b.slots) {
      Loaded v = load(s);
      if (!v.used || v.expires >= now) continue;
      if (!odd) {
        b.seq.fetch_add(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        odd = true;
      }
      free_slot(s, v);
      ++freed;
    }
    if (odd) b.seq.fetch_add(1, std::memory_order_release);
    unlock();
  }
  counters_.expired.fetch_add(freed, std::memory_order_relaxed);
  return freed;
}

}  // namespace bulkhead::dataplane::names
