#include "dataplane/config.h"

#include <arpa/inet.h>

#include <boost/program_options.hpp>
#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/metrics_server.h"
#include "common/option_needs.h"
#include "dataplane/controlplanes.h"

namespace bulkhead::dataplane {
namespace po = boost::program_options;

namespace {

bool parse_u16(std::string_view s, uint16_t& out) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

// "0:1,2:3" -> pairs
bool parse_pairs(const std::string& text, std::vector<PortPair>& pairs, std::string& error) {
  pairs.clear();
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto colon = item.find(':');
    PortPair p{};
    if (colon == std::string::npos || !parse_u16(std::string_view(item).substr(0, colon), p.a) ||
        !parse_u16(std::string_view(item).substr(colon + 1), p.b) || p.a == p.b) {
      error = "--pairs: '" + item + "' is not PORT:PORT with two different port ids";
      return false;
    }
    for (const auto& q : pairs) {
      if (q.a == p.a || q.a == p.b || q.b == p.a || q.b == p.b) {
        error = "--pairs: port used in more than one pair in '" + text + "'";
        return false;
      }
    }
    pairs.push_back(p);
  }
  if (pairs.empty()) {
    error = "--pairs: no port pair given";
    return false;
  }
  return true;
}

// "PORT:VNI" -> a VXLAN tunnel
bool parse_tunnel(const std::string& text, const char* option, insertion::VxlanTunnel& t, std::string& error) {
  const auto colon = text.find(':');
  uint16_t port = 0;
  unsigned vni = 0;
  const std::string_view v = colon == std::string::npos ? std::string_view{} : std::string_view(text).substr(colon + 1);
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), vni);
  if (colon == std::string::npos || !parse_u16(std::string_view(text).substr(0, colon), port) || port == 0 ||
      ec != std::errc() || p != v.data() + v.size() || vni > 0xffffff) {
    error = std::string("--") + option + ": '" + text + "' is not UDP-PORT:VNI (VNI below 2^24)";
    return false;
  }
  t = {port, vni};
  return true;
}

// The one-armed options: --insertion, --ports, --address, the tunnels.
struct InsertionText {
  std::string mode = "inline";
  std::string ports = "0";
  std::vector<std::string> addresses;
  std::string profile = "aws";
  std::string vxlan_external = "10800:800";
  std::string vxlan_internal = "10801:801";
  std::vector<std::string> tenants;
  std::string pickup = "strict";
};

// "NAME:endpoint=0xHEX[:pickup|strict]" or "NAME:vni=N[:...]"
bool parse_tenant(const std::string& text, TenantConfig& t, std::string& error) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
  const auto bad = [&](const std::string& why) {
    error = "--tenant: '" + text + "': " + why + " (NAME:endpoint=0xHEX or NAME:vni=N, then :pickup or :strict)";
    return false;
  };
  if (parts.size() < 2 || parts.size() > 3) return bad("not two or three fields");
  t.name = parts[0];
  if (t.name.empty() || t.name.size() > 63 || t.name.find_first_of(" \t=,") != std::string::npos)
    return bad("the name is empty, too long or has a space, '=' or ','");
  const std::string& id = parts[1];
  const bool endpoint = id.rfind("endpoint=0x", 0) == 0, vni = id.rfind("vni=", 0) == 0;
  if (!endpoint && !vni) return bad("no endpoint=0x... or vni=...");
  const std::string_view digits = std::string_view(id).substr(endpoint ? 11 : 4);
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), t.id, endpoint ? 16 : 10);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || (vni && t.id > 0xffffff))
    return bad("the id is not a 64-bit hex number or a 24-bit VNI");
  t.by_endpoint = endpoint;
  if (parts.size() == 3) {
    if (parts[2] == "pickup") t.pickup = true;
    else if (parts[2] == "strict") t.pickup = false;
    else return bad("'" + parts[2] + "' is not pickup or strict");
  }
  return true;
}

bool parse_insertion(const InsertionText& text, InsertionConfig& c, std::string& error) {
  using insertion::Insertion;
  if (text.mode == "inline") c.mode = Insertion::inline_pair;
  else if (text.mode == "geneve") c.mode = Insertion::geneve;
  else if (text.mode == "vxlan") c.mode = Insertion::vxlan;
  else {
    error = "--insertion: '" + text.mode + "' is not inline, geneve or vxlan";
    return false;
  }
  if (text.profile == "aws") c.profile = insertion::GeneveProfile::aws;
  else if (text.profile == "gcp") c.profile = insertion::GeneveProfile::gcp;
  else if (text.profile == "generic") c.profile = insertion::GeneveProfile::generic;
  else {
    error = "--geneve-profile: '" + text.profile + "' is not aws, gcp or generic";
    return false;
  }
  if (!parse_tunnel(text.vxlan_external, "vxlan-external", c.vxlan[0], error) ||
      !parse_tunnel(text.vxlan_internal, "vxlan-internal", c.vxlan[1], error))
    return false;
  if (c.vxlan[0].port == c.vxlan[1].port) {
    error = "--vxlan-external and --vxlan-internal: the two tunnels need two UDP ports";
    return false;
  }
  if (!c.one_armed()) return true;  // its options are refused by parse_config when given
  c.ports.clear();
  std::stringstream ss(text.ports);
  std::string item;
  while (std::getline(ss, item, ',')) {
    uint16_t p = 0;
    if (!parse_u16(item, p)) {
      error = "--ports: '" + item + "' is not a port id";
      return false;
    }
    for (uint16_t q : c.ports) {
      if (q == p) {
        error = "--ports: port " + item + " given twice";
        return false;
      }
    }
    c.ports.push_back(p);
  }
  if (c.ports.empty()) {
    error = "--ports: no port given";
    return false;
  }
  if (c.health_path.empty() || c.health_path[0] != '/' || c.health_path.size() > 63 ||
      c.health_path.find_first_of(" \t\r\n") != std::string::npos) {
    error = "--health-path: '" + c.health_path + "' is not a path of at most 63 characters starting with /";
    return false;
  }
  if (c.health_port == 0) {
    error = "--health-port: not 0";
    return false;
  }
  if (text.pickup == "pickup") c.pickup = true;
  else if (text.pickup == "strict") c.pickup = false;
  else {
    error = "--pickup: '" + text.pickup + "' is not strict or pickup";
    return false;
  }
  // Tenant tags are 1..N in --tenant order (ConnKey::tenant); unlisted
  // endpoints get tags of 0x8000 and above.
  if (text.tenants.size() > 1024) {
    error = "--tenant: at most 1024 tenants";
    return false;
  }
  for (const auto& t : text.tenants) {
    TenantConfig tc;
    if (!parse_tenant(t, tc, error)) return false;
    for (const auto& o : c.tenants) {
      if (o.name == tc.name || (o.by_endpoint == tc.by_endpoint && o.id == tc.id)) {
        error = "--tenant: '" + t + "' repeats the name or id of '" + o.name + "'";
        return false;
      }
    }
    c.tenants.push_back(tc);
  }
  if (text.addresses.size() != c.ports.size()) {
    error = "--insertion " + text.mode + ": one --address per port (" + std::to_string(c.ports.size()) + " port" +
            (c.ports.size() == 1 ? "" : "s") + ", " + std::to_string(text.addresses.size()) + " given)";
    return false;
  }
  for (const auto& a : text.addresses) {
    std::array<uint8_t, 4> b{};
    if (inet_pton(AF_INET, a.c_str(), b.data()) != 1) {
      error = "--address: '" + a + "' is not an IPv4 address";
      return false;
    }
    c.addresses.push_back(b);
  }
  return true;
}

// The connection timeouts, each an option in seconds.
struct TimeoutOption {
  const char* name;
  uint32_t Timeouts::*field;
  const char* help;
};
constexpr TimeoutOption kTimeoutOptions[] = {
    {"tcp-syn-timeout", &Timeouts::tcp_syn_ms, "seconds a TCP connection is kept idle before its handshake completes"},
    {"tcp-established-timeout", &Timeouts::tcp_established_ms, "seconds an established TCP connection is kept idle"},
    {"tcp-fin-timeout", &Timeouts::tcp_fin_ms, "seconds a TCP connection is kept idle once a side has sent FIN"},
    {"tcp-closed-timeout", &Timeouts::tcp_closed_ms, "seconds a TCP connection is kept after both FINs or a RST"},
    {"udp-timeout", &Timeouts::udp_ms, "seconds a UDP flow is kept idle"},
    {"icmp-timeout", &Timeouts::icmp_ms, "seconds an ICMP echo (or other ICMP flow) is kept idle"},
    {"other-timeout", &Timeouts::other_ms, "seconds a flow of any other protocol is kept idle"},
};
constexpr size_t kTimeouts = sizeof(kTimeoutOptions) / sizeof(kTimeoutOptions[0]);

po::options_description make_options(Config& c, std::string& pairs, std::string& mode, std::string& frags,
                                     std::string& expired, std::string& no_policy, uint32_t (&timeout_s)[kTimeouts],
                                     uint32_t& denied_interval_s, InsertionText& ins) {
  po::options_description o("bulkhead-dataplane [EAL options] -- [options]");
  // clang-format off
  o.add_options()
    ("help,h", "show this help")
    ("config", po::value<std::string>(), "read options from FILE (name = value lines, the names below; none by default)")
    ("policy", po::value(&c.policy_path), "policy file to enforce, reloaded on SIGHUP (none: the rule set kept in --state-dir, else --no-policy)")
    ("pairs", po::value(&pairs)->default_value("0:1"), "port pairs A:B[,C:D]: what enters A leaves by B and back")
    ("mbufs", po::value(&c.mbufs)->default_value(c.mbufs), "packet buffers in the pool")
    ("mbuf-size", po::value(&c.mbuf_data_size)->default_value(c.mbuf_data_size), (std::string("data room per packet buffer, bytes (one-armed: ") + std::to_string(kJumboMbufSize) + " unless given: a jumbo frame in its tunnel)").c_str())
    ("rx-desc", po::value(&c.rx_desc)->default_value(c.rx_desc), "RX descriptors per queue")
    ("tx-desc", po::value(&c.tx_desc)->default_value(c.tx_desc), "TX descriptors per queue")
    ("conn-max", po::value(&c.conn_max)->default_value(c.conn_max), "maximum tracked connections")
    ("mode", po::value(&mode)->default_value("policy"), "enforce | audit | learn | policy (use the policy's default)")
    ("fragments", po::value(&frags)->default_value("follow"), "later fragments: follow (their first fragment's verdict) | drop")
    ("tcp-loose", po::bool_switch(&c.tcp_loose), "accept TCP without SYN as a new connection (mid-stream pick-up)")
    ("expired-connections", po::value(&expired)->default_value("cut"), "when a time-bound rule expires, its connections are cut | finish")
    ("no-promiscuous", "leave ports out of promiscuous mode")
    ("sweep-period", po::value(&c.sweep_period_ms)->default_value(c.sweep_period_ms), "milliseconds in which each worker checks its whole share of the connection table for expiry")
    ("sweep-per-poll", po::value(&c.sweep_per_poll)->default_value(c.sweep_per_poll), "most connection slots checked in one loop pass (whole buckets of 16)")
    ("idle-sleep", po::value(&c.idle_sleep_us)->default_value(c.idle_sleep_us), "microseconds a worker sleeps between polls after a millisecond without packets (0: always poll)")
    ("stats-interval", po::value(&c.stats_interval_s)->default_value(0), "log a counters line every N seconds (0: never)")
    ("pid-file", po::value(&c.pid_file), "write the process id to FILE (none by default)")
    ("state-dir", po::value(&c.state_dir), "keep the last good compiled rule set in DIR and boot with it when the policy is missing or broken (none by default: nothing kept)")
    ("no-policy", po::value(&no_policy)->default_value("fail-closed"), "with no rule set at all: fail-closed (drop) | fail-open (forward)")
    ("controlplane", po::value(&c.controlplane), "control plane endpoint, e.g. tcp://10.0.0.1:7300, or several separated by commas (control planes that elect a leader; docs/ha.md) (none by default: the policy file alone)")
    ("controlplane-key", po::value(&c.controlplane_key), "the control plane's public key file, the only server accepted (needed with --controlplane and --flow-export); with several endpoints, one file for all or one per endpoint, in order, separated by commas")
    ("key", po::value(&c.key), "this dataplane's key pair file, from bulkhead keys generate (needed with --controlplane and --flow-export)")
    ("id", po::value(&c.id), "this dataplane's name on the control channel and in its flow records (default: host name)")
    ("controlplane-max-message", po::value(&c.controlplane_max_message)->default_value(c.controlplane_max_message), "with --controlplane: the largest control message accepted, in bytes (a larger one is dropped with its connection)")
    ("flow-export", po::value(&c.flow_export), "send flow records to the control plane at ENDPOINT (CURVE, the control channel's keys), e.g. tcp://10.0.0.1:7301; with several --controlplane endpoints, one per control plane in the same order, and records go to the followed leader's (none by default: no flow records)")
    ("flow-sample", po::value(&c.flow_sample)->default_value(c.flow_sample), "with --flow-export: record 1 in N connections (and denied packets)")
    ("flow-update", po::value(&c.flow_update_s)->default_value(c.flow_update_s), "with --flow-export: seconds between update records of a long connection")
    ("flow-ring", po::value(&c.flow_ring)->default_value(c.flow_ring), "with --flow-export: ring slots per worker (a power of two); a flow record takes one, one with names 2-7")
    ("flow-denied-interval", po::value(&denied_interval_s)->default_value(c.denied_interval_ms / 1000), "with --flow-export: seconds one record of denied packets gathers packets of the same source, destination, protocol, port and rule")
    ("flow-denied-rate", po::value(&c.denied_rate)->default_value(c.denied_rate), "with --flow-export: records of denied packets a second, at most, per worker")
    ("metrics-listen", po::value(&c.metrics_listen), "serve Prometheus metrics at http://ADDR:PORT/metrics, e.g. 127.0.0.1:9400 (none by default: no metrics endpoint)")
    ("metrics-max-rules", po::value(&c.metrics_max_rules)->default_value(c.metrics_max_rules), "with --metrics-listen: per-rule series for at most this many rules; the rest are summed as rule=\"_other\"")
    ("insertion", po::value(&ins.mode)->default_value(ins.mode), "inline (port pairs) | geneve (AWS, GCP) | vxlan (Azure): one-armed behind a cloud load balancer")
    ("ports", po::value(&ins.ports)->default_value(ins.ports), "one-armed: the ports, each answering on itself, e.g. 0,1")
    ("address", po::value(&ins.addresses)->composing(), "one-armed: the appliance's IPv4 address on each port, in --ports order (repeat per port; needed with geneve and vxlan)")
    ("geneve-profile", po::value(&ins.profile)->default_value(ins.profile), "with --insertion geneve: its options: aws (endpoint id, attachment id, cookie required; tenant = endpoint id) | gcp | generic (tenant = VNI)")
    ("geneve-port", po::value(&c.insertion.geneve_port)->default_value(c.insertion.geneve_port), "with --insertion geneve: its UDP port")
    ("vxlan-external", po::value(&ins.vxlan_external)->default_value(ins.vxlan_external), "with --insertion vxlan: Azure's external tunnel UDP-PORT:VNI")
    ("vxlan-internal", po::value(&ins.vxlan_internal)->default_value(ins.vxlan_internal), "with --insertion vxlan: Azure's internal tunnel UDP-PORT:VNI")
    ("health-port", po::value(&c.insertion.health_port)->default_value(c.insertion.health_port), "one-armed: TCP port of the health checks to the appliance's address")
    ("health-path", po::value(&c.insertion.health_path)->default_value(c.insertion.health_path), "one-armed: HTTP health checks of this path (and of /) are answered 200")
    ("tenant", po::value(&ins.tenants)->composing(), "one-armed: NAME:endpoint=0xHEX or NAME:vni=N, then :pickup or :strict (repeat per tenant): the name flow records carry, and its mid-flow policy (none by default: every tenant unnamed, --pickup)")
    ("pickup", po::value(&ins.pickup)->default_value(ins.pickup), "one-armed: mid-flow TCP of no known connection for tenants not listed: strict (dropped) | pickup (judged as an opener, then tracked)");
  // clang-format on
  const Timeouts defaults;
  for (size_t k = 0; k < kTimeouts; ++k) {
    const auto& t = kTimeoutOptions[k];
    // One-armed, the defaults follow a cloud load balancer's idle timeouts
    // (parse_config); the help says so where that changes them.
    std::string help = t.help;
    if (t.field == &Timeouts::tcp_established_ms && kCloudTcpIdleMs > defaults.tcp_established_ms)
      help += " (one-armed: " + std::to_string(kCloudTcpIdleMs / 1000) + " unless given)";
    if (t.field == &Timeouts::udp_ms && kCloudUdpIdleMs > defaults.udp_ms)
      help += " (one-armed: " + std::to_string(kCloudUdpIdleMs / 1000) + " unless given)";
    o.add_options()(t.name, po::value(&timeout_s[k])->default_value(defaults.*t.field / 1000), help.c_str());
  }
  return o;
}

}  // namespace

insertion::OuterConfig InsertionConfig::outer(size_t k) const noexcept {
  insertion::OuterConfig o;
  o.insertion = mode;
  o.profile = profile;
  std::memcpy(o.address, addresses[k].data(), 4);
  o.health_port = health_port;
  o.health_path_len = static_cast<uint8_t>(std::min(health_path.size(), sizeof(o.health_path) - 1));
  std::memcpy(o.health_path, health_path.data(), o.health_path_len);
  o.health_path[o.health_path_len] = '\0';
  o.geneve_port = geneve_port;
  o.vxlan[0] = vxlan[0];
  o.vxlan[1] = vxlan[1];
  return o;
}

namespace {

// The comma-separated lists of the channel options: several control planes
// (docs/ha.md), one server key for all or one each, and a flow collector
// for all or one each.
bool parse_channel_lists(Config& c, std::string& error) {
  if (!c.controlplane.empty() && !parse_list(c.controlplane, "--controlplane", true, c.controlplanes, error))
    return false;
  if (!c.flow_export.empty() && !parse_list(c.flow_export, "--flow-export", true, c.flow_exports, error))
    return false;
  if (!c.controlplane_key.empty() && !parse_list(c.controlplane_key, "--controlplane-key", false, c.controlplane_keys, error))
    return false;
  const size_t planes = std::max<size_t>(c.controlplanes.size(), 1);
  if (c.flow_exports.size() > 1 && c.flow_exports.size() != planes) {
    error = "--flow-export: " + std::to_string(c.flow_exports.size()) + " endpoints for " + std::to_string(planes) +
            " control plane" + (planes > 1 ? "s" : "") + " (one for all, or one per --controlplane endpoint)";
    return false;
  }
  const size_t ends = std::max(c.controlplanes.size(), c.flow_exports.size());
  if (c.controlplane_keys.size() > 1 && c.controlplane_keys.size() != ends) {
    error = "--controlplane-key: " + std::to_string(c.controlplane_keys.size()) + " key files for " +
            std::to_string(ends) + " endpoints (one for all, or one per --controlplane endpoint)";
    return false;
  }
  return true;
}

}  // namespace

std::optional<Config> parse_config(int argc, char** argv, std::string& error, bool& help_shown) {
  Config c;
  std::string pairs, mode, frags, expired, no_policy;
  uint32_t timeout_s[kTimeouts] = {};
  uint32_t denied_interval_s = 0;
  InsertionText ins;
  auto desc = make_options(c, pairs, mode, frags, expired, no_policy, timeout_s, denied_interval_s, ins);
  po::variables_map vm;
  help_shown = false;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    if (vm.count("help")) {
      std::cout << desc << '\n';
      help_shown = true;
      return std::nullopt;
    }
    if (vm.count("config")) {
      const auto path = vm["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) {
        error = "--config: cannot open '" + path + "'";
        return std::nullopt;
      }
      po::store(po::parse_config_file(in, desc), vm);
    }
    po::notify(vm);
    if (vm.count("no-promiscuous")) c.promiscuous = false;
  } catch (const po::error& e) {
    error = e.what();
    return std::nullopt;
  }
  // One-armed options with --insertion inline, flow-record tuning without
  // --flow-export and the like would be ignored: refused instead.
  const bool channel = !c.controlplane.empty() || !c.flow_export.empty();
  const bool one_armed = ins.mode == "geneve" || ins.mode == "vxlan";
  if (const std::string why = common::unmet_option_need(vm, {
          {{"controlplane-max-message"}, !c.controlplane.empty(), "--controlplane"},
          {{"controlplane-key", "key", "id"}, channel, "--controlplane or --flow-export"},
          {{"flow-sample", "flow-update", "flow-ring", "flow-denied-interval", "flow-denied-rate"}, !c.flow_export.empty(),
           "--flow-export"},
          {{"metrics-max-rules"}, !c.metrics_listen.empty(), "--metrics-listen"},
          {{"ports", "address", "tenant", "pickup", "health-port", "health-path"}, one_armed,
           "--insertion geneve or vxlan"},
          {{"geneve-profile", "geneve-port"}, ins.mode == "geneve", "--insertion geneve"},
          {{"vxlan-external", "vxlan-internal"}, ins.mode == "vxlan", "--insertion vxlan"},
      });
      !why.empty()) {
    error = why;
    return std::nullopt;
  }
  if (c.policy_path.empty() && c.state_dir.empty() && c.controlplane.empty()) {
    error = "--policy FILE, --state-dir DIR or --controlplane ENDPOINT is required";
    return std::nullopt;
  }
  if (!c.controlplane.empty() && (c.controlplane_key.empty() || c.key.empty())) {
    error = "--controlplane needs --controlplane-key and --key";
    return std::nullopt;
  }
  if (!c.flow_export.empty() && (c.controlplane_key.empty() || c.key.empty())) {
    error = "--flow-export needs --controlplane-key and --key";
    return std::nullopt;
  }
  if (!parse_channel_lists(c, error)) return std::nullopt;
  c.record_flows = !c.flow_export.empty();
  if (c.flow_sample == 0) {
    error = "--flow-sample: at least 1";
    return std::nullopt;
  }
  if (c.flow_update_s == 0 || c.flow_update_s > 24 * 3600) {
    error = "--flow-update: between 1 and 86400 seconds";
    return std::nullopt;
  }
  if (c.idle_sleep_us > 100'000) {
    error = "--idle-sleep: at most 100000 microseconds";
    return std::nullopt;
  }
  if (c.flow_ring < 256 || c.flow_ring > (1u << 24) || (c.flow_ring & (c.flow_ring - 1)) != 0) {
    error = "--flow-ring: a power of two between 256 and 16777216";
    return std::nullopt;
  }
  if (no_policy == "fail-closed") c.fail_open = false;
  else if (no_policy == "fail-open") c.fail_open = true;
  else {
    error = "--no-policy: '" + no_policy + "' is not fail-closed or fail-open";
    return std::nullopt;
  }
  if (!parse_pairs(pairs, c.pairs, error)) return std::nullopt;
  if (!parse_insertion(ins, c.insertion, error)) return std::nullopt;
  if (c.insertion.one_armed() && !vm["pairs"].defaulted()) {
    error = "--pairs: not with --insertion " + ins.mode + " (every port of --ports is one-armed)";
    return std::nullopt;
  }
  if (mode == "policy") c.mode = ModeOverride::from_policy;
  else if (mode == "enforce") c.mode = ModeOverride::enforce;
  else if (mode == "audit") c.mode = ModeOverride::audit;
  else if (mode == "learn") c.mode = ModeOverride::learn;
  else {
    error = "--mode: '" + mode + "' is not one of enforce, audit, learn, policy";
    return std::nullopt;
  }
  if (frags == "follow") c.fragments = FragmentPolicy::follow;
  else if (frags == "drop") c.fragments = FragmentPolicy::drop;
  else {
    error = "--fragments: '" + frags + "' is not follow or drop";
    return std::nullopt;
  }
  if (expired == "cut") c.expired_finish = false;
  else if (expired == "finish") c.expired_finish = true;
  else {
    error = "--expired-connections: '" + expired + "' is not cut or finish";
    return std::nullopt;
  }
  if (c.mbufs < 1024) {
    error = "--mbufs: at least 1024 packet buffers are needed";
    return std::nullopt;
  }
  if (c.conn_max < 1024) {
    error = "--conn-max: at least 1024 connections";
    return std::nullopt;
  }
  // Ages are compared as signed 32-bit milliseconds (workers' clocks are
  // read at slightly different moments), which bounds a timeout below 24.8 days.
  const uint32_t max_s = 20 * 24 * 3600;
  for (size_t k = 0; k < kTimeouts; ++k) {
    if (timeout_s[k] == 0 || timeout_s[k] > max_s) {
      error = std::string("--") + kTimeoutOptions[k].name + ": between 1 and " + std::to_string(max_s) + " seconds";
      return std::nullopt;
    }
    c.timeouts.*kTimeoutOptions[k].field = timeout_s[k] * 1000;
  }
  // Behind a cloud load balancer a flow lives as long as the balancer keeps
  // it: AWS's idle timeout is 350 s for TCP (up to 6,000 s) and 120 s for
  // UDP. Timeouts left at their defaults follow the longest of those.
  if (c.insertion.one_armed()) {
    // Frames of 8,568 bytes (an 8,500-byte packet in GENEVE) in one buffer.
    if (vm["mbuf-size"].defaulted()) c.mbuf_data_size = kJumboMbufSize;
    if (vm["tcp-established-timeout"].defaulted())
      c.timeouts.tcp_established_ms = std::max<uint32_t>(c.timeouts.tcp_established_ms, kCloudTcpIdleMs);
    if (vm["udp-timeout"].defaulted()) c.timeouts.udp_ms = std::max<uint32_t>(c.timeouts.udp_ms, kCloudUdpIdleMs);
  }
  if (denied_interval_s == 0 || denied_interval_s > 3600) {
    error = "--flow-denied-interval: between 1 and 3600 seconds";
    return std::nullopt;
  }
  c.denied_interval_ms = denied_interval_s * 1000;
  if (c.denied_rate == 0) {
    error = "--flow-denied-rate: at least 1";
    return std::nullopt;
  }
  if (common::HostPort hp; !c.metrics_listen.empty() && !common::parse_host_port(c.metrics_listen, hp, error)) {
    error = "--metrics-listen: " + error;
    return std::nullopt;
  }
  if (c.sweep_per_poll == 0) c.sweep_per_poll = 1;
  if (c.sweep_period_ms == 0) c.sweep_period_ms = 1;
  return c;
}

}  // namespace bulkhead::dataplane
