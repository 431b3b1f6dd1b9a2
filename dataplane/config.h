// Dataplane configuration: command-line options after the EAL's `--`, and
// the same options from a config file (`--config FILE`, `key = value`).
//
// Parsed once on the main lcore at start-up; read-only afterwards.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/connection.h"
#include "dataplane/insertion/encap.h"

namespace bulkhead::dataplane {

enum class FragmentPolicy : uint8_t { follow, drop };
enum class ModeOverride : uint8_t { from_policy, enforce, audit, learn };

struct PortPair {
  uint16_t a;
  uint16_t b;
};

// The idle timeouts of the clouds' load balancers (AWS Gateway Load
// Balancer: TCP 350 s by default, 6,000 s at most; UDP 120 s): one-armed
// insertion's defaults are at least these.
inline constexpr uint32_t kCloudTcpIdleMs = 6'000'000;
inline constexpr uint32_t kCloudUdpIdleMs = 120'000;
// One-armed insertion's packet buffers hold a 9,216-byte frame whole
// (headroom included): AWS and GCP carry 8,500-byte packets in GENEVE.
inline constexpr uint16_t kJumboMbufSize = 9216 + 128;
inline constexpr uint16_t kJumboMtu = 9001;

// A tenant of one-armed insertion: the load-balancer endpoint (AWS GWLB
// endpoint id) or VNI its traffic comes under, and what it does with a
// mid-flow TCP packet of no known connection.
struct TenantConfig {
  std::string name;
  bool by_endpoint = true;  // id is an endpoint id (else a VNI)
  uint64_t id = 0;
  bool pickup = false;      // pickup: judged as if it opened the connection; strict: dropped
};

// One-armed insertion behind a cloud load balancer (docs/cloud.md).
struct InsertionConfig {
  insertion::Insertion mode = insertion::Insertion::inline_pair;
  std::vector<uint16_t> ports{0};           // each one-armed: what arrives leaves by the same port
  std::vector<std::array<uint8_t, 4>> addresses;  // the appliance's address on each of `ports`
  insertion::GeneveProfile profile = insertion::GeneveProfile::aws;
  uint16_t geneve_port = insertion::kGenevePort;
  insertion::VxlanTunnel vxlan[2] = {{10800, 800}, {10801, 801}};  // external, internal
  uint16_t health_port = 80;
  std::string health_path = "/";  // HTTP checks of it (and of /) are answered 200
  std::vector<TenantConfig> tenants;
  bool pickup = false;  // the tenants not listed: pickup (true) or strict

  bool one_armed() const noexcept { return mode != insertion::Insertion::inline_pair; }
  // The outer-header settings of ports[k].
  insertion::OuterConfig outer(size_t k) const noexcept;
};

struct Config {
  std::string policy_path;
  std::vector<PortPair> pairs{{0, 1}};
  InsertionConfig insertion;
  uint32_t mbufs = 16'383;
  uint16_t mbuf_data_size = 2048 + 128;  // RTE_MBUF_DEFAULT_BUF_SIZE
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  uint32_t conn_max = 262'144;
  ModeOverride mode = ModeOverride::from_policy;
  FragmentPolicy fragments = FragmentPolicy::follow;
  bool tcp_loose = false;  // accept mid-stream TCP (no SYN) as a new connection
  bool expired_finish = false;  // connections of an expired time-bound rule may finish
  bool promiscuous = true;
  Timeouts timeouts;
  uint32_t sweep_period_ms = 1000;  // each worker examines its whole share of the table once per period
  uint32_t sweep_per_poll = 4096;   // at most this many slots in one loop pass
  uint32_t stats_interval_s = 0;    // 0 = no periodic stats line
  // A worker that has received nothing for a millisecond sleeps this many
  // microseconds between polls (0: it always polls). For appliances that
  // share their cores; a sleeping worker adds up to this much latency to the
  // first packet after a quiet spell.
  uint32_t idle_sleep_us = 0;
  std::string pid_file;
  // Where the last good compiled rule set is kept, to boot with when the
  // policy source is missing or broken; empty: not kept.
  std::string state_dir;
  bool fail_open = false;  // with no rule set at all: forward (true) or drop (false)
  // Control channel (empty endpoint: none). The options as given, and their
  // lists (dataplane/controlplanes.h): endpoints, and one key file for all
  // or one per endpoint.
  std::string controlplane;
  std::string controlplane_key;
  std::vector<std::string> controlplanes;
  std::vector<std::string> controlplane_keys;
  std::string key;
  std::string id;
  uint64_t controlplane_max_message = 256u << 20;  // bytes; a larger frame closes the connection
  // Flow records (empty endpoint: not exported). Recorded when exported, or
  // when a test asks for them (record_flows) to drain them itself.
  std::string flow_export;
  std::vector<std::string> flow_exports;  // one, or one per control plane
  bool record_flows = false;
  uint32_t flow_sample = 1;        // 1 in N connections
  uint32_t flow_update_s = 60;     // long connections: an update record this often
  uint32_t flow_ring = 16'384;     // slots per worker ring (a power of two): an event takes one, one with names 2-7
  // Denied packets: one record per (source, destination, protocol,
  // destination port, rule) and interval, at most `denied_rate` records a
  // second per worker.
  uint32_t denied_interval_ms = 10'000;
  uint32_t denied_rate = 10'000;
  // Prometheus /metrics on ADDR:PORT ("": not served), and the most rules
  // with series of their own.
  std::string metrics_listen;
  uint32_t metrics_max_rules = 1000;
};

// The k-th server key file of the control planes or their collectors.
inline const std::string& controlplane_key_for(const Config& c, size_t k) {
  return c.controlplane_keys.size() > 1 ? c.controlplane_keys[k] : c.controlplane_keys.front();
}

// Parses the application arguments (argv after the EAL's). On error returns
// nullopt and sets `error` to one line; on --help prints usage, sets
// `help_shown` and returns nullopt with an empty error.
std::optional<Config> parse_config(int argc, char** argv, std::string& error, bool& help_shown);

}  // namespace bulkhead::dataplane
