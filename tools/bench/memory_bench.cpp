// What this machine's memory allows a lookup table: the time per random
// access (both lines of a 128-byte slot) to a table of a given size, one
// access after the other (each address depends on the last value read: the
// latency) and in batches whose lines are all prefetched before the first
// is read (as the connection table's bulk lookup does for a burst).
//
//   bulkhead-bench-memory [MiB ...]        default: 8 128
//
// The ratio of the two is the memory-level parallelism a burst can use: on
// a machine where it is near 1, a lookup costs a full memory latency
// whatever the code does, and the fewer cache lines a packet touches the
// better.
#include <sys/mman.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kSlot = 128;  // two cache lines, like a connection slot and more

struct Table {
  char* base = nullptr;
  size_t bytes = 0;
  void* mapped = nullptr;
};

Table make_table(size_t bytes) {
  void* p = mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  Table t;
  t.mapped = p;
  t.base = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(p) + kHugePage - 1) & ~(kHugePage - 1));
  t.bytes = bytes;
  madvise(t.base, bytes, MADV_HUGEPAGE);  // the connection table's memory without hugepages
  std::memset(t.base, 1, bytes);
  return t;
}

// Nanoseconds per access over `idx`, each address depending on the last
// value read (every byte is 1, so the dependency adds nothing).
double chase(const Table& t, const std::vector<uint32_t>& idx, uint64_t& sink) {
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t dep = 0;
  for (uint32_t i : idx) {
    const char* q = t.base + (size_t{i} + dep) * kSlot;
    dep = static_cast<uint64_t>(q[0] + q[64]) - 2;
    sink += dep;
  }
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(idx.size());
}

// Nanoseconds per access over `idx`, `batch` at a time.
double run(const Table& t, const std::vector<uint32_t>& idx, size_t batch, uint64_t& sink) {
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t b = 0; b + batch <= idx.size(); b += batch) {
    for (size_t i = 0; i < batch; ++i) {
      const char* q = t.base + size_t{idx[b + i]} * kSlot;
      __builtin_prefetch(q);
      __builtin_prefetch(q + 64);
    }
    for (size_t i = 0; i < batch; ++i) {
      const char* q = t.base + size_t{idx[b + i]} * kSlot;
      sink += static_cast<uint64_t>(q[0]) + static_cast<uint64_t>(q[64]);
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(idx.size() / batch * batch);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::strtoul(argv[i], nullptr, 10));
  if (sizes.empty()) sizes = {8, 128};
  std::printf("%10s %14s %14s %14s %8s\n", "table MiB", "one by one", "8 at a time", "32 at a time", "1 / 32");
  uint64_t sink = 0;
  for (size_t mib : sizes) {
    const Table t = make_table(mib << 20);
    std::vector<uint32_t> idx(size_t{1} << 22);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (auto& i : idx) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      i = static_cast<uint32_t>(x % (t.bytes / kSlot));
    }
    const double one = chase(t, idx, sink), eight = run(t, idx, 8, sink), many = run(t, idx, 32, sink);
    std::printf("%10zu %11.1f ns %11.1f ns %11.1f ns %7.1fx\n", mib, one, eight, many, one / many);
    munmap(t.mapped, t.bytes + kHugePage);
  }
  return sink == 42 ? 1 : 0;
}
