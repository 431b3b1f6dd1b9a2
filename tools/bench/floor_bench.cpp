// The floor under any connection tracker on this machine.
//
// It forwards as testpmd's io mode does (each burst received on port 0 is
// sent on port 1) and, for each packet, makes only the memory accesses a
// connection table cannot do without: a hash of the frame's addresses and
// ports picks an entry of a table of --entries entries, and the entry is
// read and written, as a hit's state is. --lines L makes an entry L adjacent
// cache lines (a connection slot of 96 bytes spans two). --rounds R makes it
// R dependent accesses: each of the first R-1 reads one line whose contents
// the next address depends on (a table that finds its slot through a
// bucket takes two rounds). Every round runs burst-wide, all its lines
// prefetched before the first is read, as the connection table's bulk
// lookup does. With --rounds 0 it is io forwarding.
//
//   bulkhead-bench-floor EAL-ARGS -- [--entries N] [--rounds R] [--lines L]
//                                    [--mbufs N] [--mbuf-size BYTES]
//
// Its rate against testpmd's, on the same vdevs and capture, bounds the
// ratio any design keeping per-connection state in memory can reach here,
// whatever it does besides.
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "dataplane/eal_runtime.h"
#include "dataplane/table_memory.h"

namespace {

using bulkhead::dataplane::TableMemory;

constexpr uint16_t kBurst = 32;
constexpr uint16_t kRingSize = 1024;

struct alignas(64) Line {
  uint64_t next;  // always 0, but the next round's address depends on it
  uint64_t packets;
  uint64_t pad[6];
};
static_assert(sizeof(Line) == 64);

struct Options {
  uint64_t entries = uint64_t{1} << 20;
  unsigned rounds = 1;
  unsigned lines = 1;
  unsigned mbufs = 262143;
  unsigned mbuf_size = 256;
};

std::atomic<bool> stop{false};

void on_signal(int) { stop.store(true, std::memory_order_relaxed); }

// The options after EAL's: `argv[0]` is the program's name. False (with
// a line naming the option) when one is unknown, not a number, or out of
// its range.
bool parse(int argc, char** argv, Options& o) {
  namespace po = boost::program_options;
  uint64_t entries = o.entries, rounds = o.rounds, lines = o.lines, mbufs = o.mbufs, mbuf_size = o.mbuf_size;
  po::options_description desc("bulkhead-bench-floor options");
  desc.add_options()("entries", po::value(&entries), "table entries")("rounds", po::value(&rounds),
                                                                        "dependent accesses per packet (0-8)")(
      "lines", po::value(&lines), "cache lines per entry (1-4)")("mbufs", po::value(&mbufs), "mbufs in the pool")(
      "mbuf-size", po::value(&mbuf_size), "bytes per mbuf");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "bulkhead-bench-floor: %s\n", e.what());
    return false;
  }
  // Unsigned values are read as 64 bits: "-1" becomes 2^64 - 1 and fails
  // its range like any other value too large.
  auto bad = [&](const char* name) {
    std::fprintf(stderr, "bulkhead-bench-floor: bad option or value: --%s %s\n", name,
                 vm[name].empty() ? "" : std::to_string(vm[name].as<uint64_t>()).c_str());
    return false;
  };
  if (entries == 0 || entries > (uint64_t{1} << 30)) return bad("entries");  // entries * lines < 2^32
  if (rounds > 8) return bad("rounds");
  if (lines < 1 || lines > 4) return bad("lines");
  if (mbufs == 0 || mbufs >= (uint64_t{1} << 32)) return bad("mbufs");
  if (mbuf_size < RTE_PKTMBUF_HEADROOM + 64 || mbuf_size > 65535) return bad("mbuf-size");
  o.entries = entries;
  o.rounds = static_cast<unsigned>(rounds);
  o.lines = static_cast<unsigned>(lines);
  o.mbufs = static_cast<unsigned>(mbufs);
  o.mbuf_size = static_cast<unsigned>(mbuf_size);
  return true;
}

bool start_port(uint16_t port, rte_mempool* pool) {
  rte_eth_conf conf{};
  if (rte_eth_dev_configure(port, 1, 1, &conf) != 0) return false;
  const int socket = rte_eth_dev_socket_id(port);
  const unsigned s = socket < 0 ? 0u : static_cast<unsigned>(socket);
  return rte_eth_rx_queue_setup(port, 0, kRingSize, s, nullptr, pool) == 0 &&
         rte_eth_tx_queue_setup(port, 0, kRingSize, s, nullptr) == 0 && rte_eth_dev_start(port) == 0;
}

struct Forwarder {
  Line* table;
  uint64_t entries;  // of `lines` lines each
  unsigned rounds;
  unsigned lines;
};

// The hash of an IPv4 frame's addresses and ports (anything else hashes
// what lies at the same offsets: the floor needs spread, not meaning).
inline uint32_t frame_hash(const rte_mbuf* m) {
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  if (rte_pktmbuf_data_len(m) < 38) return 0;
  uint64_t a;
  uint32_t b;
  std::memcpy(&a, p + 26, 8);
  std::memcpy(&b, p + 34, 4);
  return rte_hash_crc_4byte(b, rte_hash_crc_8byte(a, 0x9e3779b9));
}

// A 32-bit hash onto [0, n) by multiplication, not division.
inline uint64_t spread(uint32_t h, uint64_t n) { return (uint64_t{h} * n) >> 32; }

// The first line of the access of round `r` (0-based) for hash `h`: a single
// line in the rounds before the last, the first of an entry's in the last.
inline uint64_t first_line(const Forwarder& f, unsigned r, uint32_t h) {
  return r + 1 < f.rounds ? spread(h, f.entries * f.lines) : spread(h, f.entries) * f.lines;
}

int forward(void* arg) {
  const Forwarder& f = *static_cast<const Forwarder*>(arg);
  rte_mbuf* pkts[kBurst];
  uint32_t h[kBurst];
  uint64_t at[kBurst];
  while (!stop.load(std::memory_order_relaxed)) {
    const uint16_t n = rte_eth_rx_burst(0, 0, pkts, kBurst);
    if (n == 0) continue;
    for (unsigned r = 0; r < f.rounds; ++r) {
      const unsigned width = r + 1 < f.rounds ? 1 : f.lines;
      for (uint16_t i = 0; i < n; ++i) {
        // Round 0 hashes the frame; each later round's address depends on
        // what the round before read.
        h[i] = r == 0 ? frame_hash(pkts[i])
                      : static_cast<uint32_t>(((h[i] + f.table[at[i]].next + r) * 0x9e3779b97f4a7c15ull) >> 32);
        at[i] = first_line(f, r, h[i]);
        for (unsigned l = 0; l < width; ++l) rte_prefetch0(&f.table[at[i] + l]);
      }
    }
    if (f.rounds > 0)
      for (uint16_t i = 0; i < n; ++i)
        for (unsigned l = 0; l < f.lines; ++l) f.table[at[i] + l].packets += 1;
    const uint16_t sent = rte_eth_tx_burst(1, 0, pkts, n);
    if (sent < n) rte_pktmbuf_free_bulk(pkts + sent, n - sent);
  }
  return 0;
}

// Sets up the ports and the table, forwards until SIGINT or SIGTERM, and
// releases what it took (the table before the EAL goes: a small one comes
// from the EAL heap). Returns the exit status.
int run(const Options& o) {
  if (rte_eth_dev_count_avail() < 2) {
    std::fprintf(stderr, "bulkhead-bench-floor: needs two ports (receive on 0, send on 1)\n");
    return 1;
  }
  const unsigned worker = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
  if (worker >= RTE_MAX_LCORE) {
    std::fprintf(stderr, "bulkhead-bench-floor: needs a worker lcore (-l 0,1)\n");
    return 1;
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("floor", o.mbufs, 256, 0, static_cast<uint16_t>(o.mbuf_size),
                                              static_cast<int>(rte_socket_id()));
  if (pool == nullptr || !start_port(0, pool) || !start_port(1, pool)) {
    std::fprintf(stderr, "bulkhead-bench-floor: port set-up failed (mbufs: %u)\n", o.mbufs);
    return 1;
  }
  TableMemory mem;
  if (o.rounds > 0) {
    mem = TableMemory::allocate("floor_table", o.entries * o.lines * sizeof(Line));
    if (mem.data() == nullptr) {
      std::fprintf(stderr, "bulkhead-bench-floor: no memory for %llu entries\n",
                   static_cast<unsigned long long>(o.entries));
      return 1;
    }
  }
  Forwarder f{static_cast<Line*>(mem.data()), o.entries, o.rounds, o.lines};
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::printf("bulkhead-bench-floor: %u round(s) into %llu entries (%llu MiB)\n", o.rounds,
              static_cast<unsigned long long>(o.entries), static_cast<unsigned long long>(mem.bytes() >> 20));
  std::fflush(stdout);
  rte_eal_remote_launch(forward, &f, worker);
  rte_eal_mp_wait_lcore();
  for (uint16_t port = 0; port < 2; ++port) {
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
  }
  rte_mempool_free(pool);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int used = rte_eal_init(argc, argv);
  if (used < 0) {
    std::fprintf(stderr, "bulkhead-bench-floor: EAL initialisation failed\n");
    return 1;
  }
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  Options o;
  const int status = parse(argc - used, argv + used, o) ? run(o) : 2;
  rte_eal_cleanup();
  bulkhead::dataplane::remove_eal_runtime_dir(runtime_dir);
  return status;
}
