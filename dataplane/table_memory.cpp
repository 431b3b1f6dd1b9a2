#include "dataplane/table_memory.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstring>

#include <rte_eal.h>
#include <rte_malloc.h>

namespace bulkhead::dataplane {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

}  // namespace

TableMemory& TableMemory::operator=(TableMemory&& o) noexcept {
  if (this != &o) {
    release();
    data_ = o.data_;
    bytes_ = o.bytes_;
    mapped_ = o.mapped_;
    mapped_bytes_ = o.mapped_bytes_;
    o.data_ = o.mapped_ = nullptr;
    o.bytes_ = o.mapped_bytes_ = 0;
  }
  return *this;
}

TableMemory::~TableMemory() { release(); }

void TableMemory::release() noexcept {
  if (mapped_ != nullptr) munmap(mapped_, mapped_bytes_);
  else rte_free(data_);
  data_ = mapped_ = nullptr;
  bytes_ = mapped_bytes_ = 0;
}

TableMemory TableMemory::allocate(const char* name, size_t bytes) noexcept {
  TableMemory m;
  if (bytes == 0) bytes = 64;
  if (rte_eal_has_hugepages() != 0 || bytes < kHugePage) {
    m.data_ = rte_malloc(name, bytes, 64);
    if (m.data_ == nullptr) return m;
  } else {
    // Over-map by one huge page so the table can start on a boundary. No
    // MAP_NORESERVE: a table the machine cannot hold fails here, cleanly,
    // rather than when it is written through.
    const size_t len = (bytes + kHugePage - 1) / kHugePage * kHugePage + kHugePage;
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return m;
    m.mapped_ = p;
    m.mapped_bytes_ = len;
    const auto start = (reinterpret_cast<uintptr_t>(p) + kHugePage - 1) & ~(kHugePage - 1);
    m.data_ = reinterpret_cast<void*>(start);
    madvise(m.data_, (bytes + kHugePage - 1) / kHugePage * kHugePage, MADV_HUGEPAGE);  // advice: may be ignored
  }
  m.bytes_ = bytes;
  std::memset(m.data_, 0, bytes);  // fault every page in now, not on the fast path
  return m;
}

size_t TableMemory::huge_bytes() const noexcept {
  if (mapped_ == nullptr) return 0;
  // Sum AnonHugePages of the mappings inside this table.
  FILE* f = std::fopen("/proc/self/smaps", "r");
  if (f == nullptr) return 0;
  const auto lo = reinterpret_cast<uintptr_t>(mapped_), hi = lo + mapped_bytes_;
  char line[256];
  bool inside = false;
  size_t kb = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    unsigned long a, b;
    if (std::sscanf(line, "%lx-%lx ", &a, &b) == 2) {  // a mapping's first line
      inside = a >= lo && b <= hi;
      continue;
    }
    unsigned long v;
    if (inside && std::sscanf(line, "AnonHugePages: %lu kB", &v) == 1) kb += v;
  }
  std::fclose(f);
  return kb * 1024;
}

}  // namespace bulkhead::dataplane
