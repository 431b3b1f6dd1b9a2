#include "dataplane/ports.h"

#include <algorithm>
#include <atomic>
#include <map>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "dataplane/log.h"

namespace bulkhead::dataplane {
namespace {

// A Toeplitz key of repeated 0x6d5a hashes (a,b) and (b,a) alike, so a NIC
// with RSS keeps both directions of a connection on one queue index.
uint8_t kSymmetricRssKey[40] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a};

struct PortPlan {
  uint16_t port;
  uint16_t peer;
  uint16_t rxq;
  uint16_t txq;
};

bool configure_port(const Config& cfg, const PortPlan& plan, rte_mempool* pool, std::string& error) {
  rte_eth_dev_info info{};
  int rc = rte_eth_dev_info_get(plan.port, &info);
  if (rc != 0) {
    error = "port " + std::to_string(plan.port) + ": cannot read device info: " + strerror(-rc);
    return false;
  }
  rte_eth_conf conf{};
  if (plan.rxq > 1) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = kSymmetricRssKey;
    conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(kSymmetricRssKey);
    conf.rx_adv_conf.rss_conf.rss_hf =
        info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
  }
  if (cfg.insertion.one_armed()) {
    // Jumbo frames where the device takes them (the clouds' 8,500-byte
    // inner packets); otherwise the device's own largest.
    const uint32_t by_frame = info.max_rx_pktlen > RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN
                                  ? info.max_rx_pktlen - RTE_ETHER_HDR_LEN - RTE_ETHER_CRC_LEN
                                  : 0;
    conf.rxmode.mtu = std::min<uint32_t>({kJumboMtu, info.max_mtu, by_frame});
    if (conf.rxmode.mtu < kJumboMtu)
      BH_LOG(NOTICE, "port %u: MTU %u (the device's largest): tunnelled packets above %u bytes will not pass",
             plan.port, conf.rxmode.mtu, conf.rxmode.mtu > 68 ? conf.rxmode.mtu - 68 : 0);
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
  rc = rte_eth_dev_configure(plan.port, plan.rxq, plan.txq, &conf);
  if (rc != 0) {
    error = "port " + std::to_string(plan.port) + ": configure failed: " + strerror(-rc);
    return false;
  }
  uint16_t rxd = cfg.rx_desc, txd = cfg.tx_desc;
  rte_eth_dev_adjust_nb_rx_tx_desc(plan.port, &rxd, &txd);
  const int socket = rte_eth_dev_socket_id(plan.port);
  for (uint16_t q = 0; q < plan.rxq; ++q) {
    rc = rte_eth_rx_queue_setup(plan.port, q, rxd, socket < 0 ? SOCKET_ID_ANY : socket, nullptr, pool);
    if (rc != 0) {
      error = "port " + std::to_string(plan.port) + ": RX queue " + std::to_string(q) +
              " setup failed: " + strerror(-rc) + " (too few --mbufs?)";
      return false;
    }
  }
  rte_eth_txconf txconf = info.default_txconf;
  txconf.offloads = conf.txmode.offloads;
  for (uint16_t q = 0; q < plan.txq; ++q) {
    rc = rte_eth_tx_queue_setup(plan.port, q, txd, socket < 0 ? SOCKET_ID_ANY : socket, &txconf);
    if (rc != 0) {
      error = "port " + std::to_string(plan.port) + ": TX queue " + std::to_string(q) + " setup failed: " +
              strerror(-rc);
      return false;
    }
  }
  rc = rte_eth_dev_start(plan.port);
  if (rc != 0) {
    error = "port " + std::to_string(plan.port) + ": start failed: " + strerror(-rc);
    return false;
  }
  if (cfg.promiscuous) {
    rc = rte_eth_promiscuous_enable(plan.port);
    if (rc != 0 && rc != -ENOTSUP)
      BH_LOG(WARNING, "port %u: cannot enable promiscuous mode: %s", plan.port, strerror(-rc));
  }
  return true;
}

}  // namespace

bool setup_ports(const Config& cfg, uint32_t workers, PortsSetup& out, std::string& error) {
  const uint16_t available = rte_eth_dev_count_avail();
  std::vector<PortPlan> plans;
  // (port, where its packets leave): both ways of each pair, or, one-armed,
  // each port to itself.
  std::vector<std::pair<uint16_t, uint16_t>> ways;
  if (cfg.insertion.one_armed()) {
    for (uint16_t p : cfg.insertion.ports) ways.emplace_back(p, p);
  } else {
    for (const auto& pair : cfg.pairs) {
      ways.emplace_back(pair.a, pair.b);
      ways.emplace_back(pair.b, pair.a);
    }
  }
  for (auto [p, peer] : ways) {
    if (!rte_eth_dev_is_valid_port(p)) {
      error = "port " + std::to_string(p) + " does not exist (" + std::to_string(available) +
              " ports available; add devices with -a or --vdev)";
      return false;
    }
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(p, &info) != 0) {
      error = "port " + std::to_string(p) + ": cannot read device info";
      return false;
    }
    PortPlan plan{p, peer, 1, 1};
    plan.rxq = static_cast<uint16_t>(std::clamp<uint32_t>(workers, 1, std::max<uint16_t>(info.max_rx_queues, 1)));
    plan.txq = static_cast<uint16_t>(std::clamp<uint32_t>(workers, 1, std::max<uint16_t>(info.max_tx_queues, 1)));
    plans.push_back(plan);
  }

  static std::atomic<uint32_t> pool_seq{0};
  const std::string pool_name = "bh_pool" + std::to_string(pool_seq.fetch_add(1));
  out.pool = rte_pktmbuf_pool_create(pool_name.c_str(), cfg.mbufs, 256, 0, cfg.mbuf_data_size,
                                     static_cast<int>(rte_socket_id()));
  if (out.pool == nullptr) {
    error = "cannot create a pool of " + std::to_string(cfg.mbufs) + " packet buffers: " +
            rte_strerror(rte_errno) + " (lower --mbufs or raise -m)";
    return false;
  }

  // RX queues to workers, round robin over every (port, queue).
  out.per_worker.assign(workers, {});
  std::map<uint16_t, std::vector<uint32_t>> senders;  // tx port -> workers sending there
  uint32_t next = 0;
  for (const auto& plan : plans) {
    for (uint16_t q = 0; q < plan.rxq; ++q) {
      const uint32_t w = next++ % workers;
      out.per_worker[w].push_back(QueueAssignment{plan.port, q, plan.peer, 0, nullptr});
      auto& s = senders[plan.peer];
      if (std::find(s.begin(), s.end(), w) == s.end()) s.push_back(w);
    }
  }
  // TX queues: distinct per sending worker when the device has enough.
  for (const auto& plan : plans) {
    const auto& s = senders[plan.port];
    std::vector<rte_spinlock_t*> locks(plan.txq, nullptr);
    if (s.size() > plan.txq) {
      BH_LOG(WARNING, "port %u has %u TX queues for %zu workers: TX queues are shared under a lock", plan.port,
             plan.txq, s.size());
      for (auto& l : locks) {
        out.tx_locks.push_back(std::make_unique<rte_spinlock_t>());
        rte_spinlock_init(out.tx_locks.back().get());
        l = out.tx_locks.back().get();
      }
    }
    for (size_t k = 0; k < s.size(); ++k) {
      for (auto& qa : out.per_worker[s[k]]) {
        if (qa.tx_port != plan.port) continue;
        qa.tx_queue = static_cast<uint16_t>(k % plan.txq);
        qa.tx_lock = locks[qa.tx_queue];
      }
    }
  }

  for (const auto& plan : plans) {
    if (!configure_port(cfg, plan, out.pool, error)) return false;
    out.ports.push_back(plan.port);
  }
  return true;
}

void stop_ports(PortsSetup& setup, bool close) noexcept {
  for (uint16_t p : setup.ports) {
    rte_eth_dev_stop(p);
    if (close) rte_eth_dev_close(p);
  }
  setup.ports.clear();
  rte_mempool_free(setup.pool);
  setup.pool = nullptr;
}

}  // namespace bulkhead::dataplane
