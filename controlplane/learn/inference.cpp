#include "controlplane/learn/inference.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "common/protocols.h"
#include "controlplane/flows/flow_store.h"
#include "rules/match.h"
#include "rules/prefix.h"
#include "rules/segment_index.h"

namespace bulkhead::controlplane::learn {
namespace {

using Addr = std::array<uint8_t, 16>;

constexpr int kUngrouped = -1;
// A destination by name: group kNamed - (the name's id).
constexpr int kNamed = -2;

struct AddrHash {
  size_t operator()(const std::pair<Addr, uint8_t>& a) const noexcept {
    uint64_t x, y;
    std::memcpy(&x, a.first.data(), 8);
    std::memcpy(&y, a.first.data() + 8, 8);
    x = (x ^ (y * 0x9E3779B97F4A7C15ull) ^ a.second) * 0xff51afd7ed558ccdull;
    return static_cast<size_t>(x ^ (x >> 29));
  }
};

struct Host {
  Addr addr{};
  uint8_t family = 4;
  bool internal = false;
  bool scanner = false;
  int group = kUngrouped;
  std::vector<uint32_t> offered;  // service codes (proto << 16 | port), sorted unique
  std::vector<uint32_t> used;
};

struct Edge {
  uint32_t src, dst;
  uint8_t proto;
  uint16_t port;        // service port; ICMP: the type
  uint64_t flows;       // evidence: learnable connections not known to be unanswered
  uint64_t unanswered;  // attempts that ended with nothing back (TCP, ICMP echo)
  bool silent;          // as a target: it ended with nothing back and never answered
  int64_t first, last;
  // The names DNS answers bound the destination to for the source (ids in
  // Learner::names_, 0: none).
  std::array<uint32_t, flows::kMaxAggregateNames> names{};
};

struct Group {
  std::string name;
  bool servers = false;                 // inferred: grouped by what they offer (else by what they use)
  std::map<uint32_t, uint64_t> traffic; // inferred: connections per service, to it (servers) or from it
  std::string suffix;  // the subnet, to tell groups of the same name apart
  std::vector<uint32_t> hosts;
  std::vector<rules::Prefix> cidrs;
  std::string why;
};

using common::has_ports;
using common::is_icmp;

bool is_private(uint8_t family, const Addr& a) {
  if (family == 4)
    return a[0] == 10 || (a[0] == 172 && (a[1] & 0xF0) == 16) || (a[0] == 192 && a[1] == 168) ||
           (a[0] == 100 && (a[1] & 0xC0) == 64) || (a[0] == 169 && a[1] == 254) || a[0] == 127;
  return (a[0] & 0xFE) == 0xFC || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80);
}

const char* service_name(uint8_t proto, uint16_t port) {
  static const std::map<uint16_t, const char*> tcp = {
      {22, "ssh"}, {25, "smtp"}, {53, "dns"}, {80, "http"}, {88, "kerberos"}, {389, "ldap"}, {443, "https"},
      {445, "smb"}, {587, "smtp"}, {636, "ldaps"}, {873, "rsync"}, {993, "imaps"}, {1433, "mssql"},
      {1521, "oracle"}, {2049, "nfs"}, {3306, "mysql"}, {3389, "rdp"}, {5432, "postgres"}, {5672, "amqp"},
      {6379, "redis"}, {8080, "http-alt"}, {8443, "https-alt"}, {9092, "kafka"}, {9100, "metrics"},
      {9200, "elasticsearch"}, {11211, "memcached"}, {27017, "mongodb"}};
  static const std::map<uint16_t, const char*> udp = {{53, "dns"}, {67, "dhcp"}, {123, "ntp"}, {161, "snmp"},
                                                      {514, "syslog"}, {1812, "radius"}, {4789, "vxlan"}};
  const auto& m = proto == common::kProtoUdp ? udp : tcp;
  if (!has_ports(proto)) return nullptr;
  auto it = m.find(port);
  return it == m.end() ? nullptr : it->second;
}

std::string service_text(uint32_t code) {
  const auto proto = static_cast<uint8_t>(code >> 16);
  const auto port = static_cast<uint16_t>(code & 0xFFFF);
  if (is_icmp(proto)) return rules::proto_name(proto);
  if (!has_ports(proto)) return rules::proto_name(proto);
  return rules::proto_name(proto) + "/" + std::to_string(port);
}

std::string format_host(const Host& h) { return rules::format_address(h.family, h.addr); }

rules::Prefix host_prefix(const Host& h) {
  rules::Prefix p;
  p.family = h.family;
  p.addr = h.addr;
  p.len = p.max_len();
  return p;
}

// Protocols whose connections are attempts a server answers (a TCP SYN, an
// ICMP echo request): one left unanswered is not evidence of a service.
// UDP and the rest carry one-way services (syslog, NetFlow, statsd), whose
// silence is normal.
bool answer_expected(uint8_t proto) { return proto == common::kProtoTcp || is_icmp(proto); }


// A compiled prefix as a Prefix value.
rules::Prefix prefix_of(const pb::Prefix& pfx) {
  rules::Prefix p;
  p.family = pfx.addr().size() == 16 ? 6 : 4;
  std::copy_n(pfx.addr().begin(), std::min<size_t>(pfx.addr().size(), 16), p.addr.begin());
  p.len = static_cast<uint8_t>(pfx.prefix_len());
  return p;
}

// The subnet a host is grouped within: /24 for IPv4, /64 for IPv6.
rules::Prefix subnet_of(const Host& h) {
  rules::Prefix p;
  p.family = h.family;
  p.len = h.family == 4 ? 24 : 64;
  const unsigned bytes = p.len / 8;
  std::copy_n(h.addr.begin(), bytes, p.addr.begin());
  return p;
}

class Learner {
 public:
  Learner(const pb::CompiledRuleSet* inventory, const LearnOptions& opt) : opt_(opt) {
    if (inventory != nullptr) {
      inventory_ = inventory;
      index_ = rules::SegmentIndex(*inventory);
    }
  }

  Inference run(const std::vector<pb::FlowAggregate>& flows) {
    load(flows);
    find_scanners();
    if (inventory_ != nullptr) group_by_inventory();
    else infer_groups();
    build_rules();
    choose_segments();
    return std::move(p_);
  }

 private:
  uint32_t host_id(const std::string& bytes) {
    std::pair<Addr, uint8_t> key{};
    std::memcpy(key.first.data(), bytes.data(), std::min<size_t>(bytes.size(), 16));
    key.second = bytes.size() == 16 ? 6 : 4;
    auto [it, fresh] = host_ids_.try_emplace(key, static_cast<uint32_t>(hosts_.size()));
    if (fresh) {
      Host h;
      h.addr = key.first;
      h.family = key.second;
      h.internal = is_private(h.family, h.addr);
      hosts_.push_back(std::move(h));
    }
    return it->second;
  }

  void load(const std::vector<pb::FlowAggregate>& flows) {
    edges_.reserve(flows.size());
    host_ids_.reserve(flows.size() / 2 + 16);
    for (const auto& a : flows) {
      p_.flows_total += a.flows();
      if (a.first_ms() != 0 && (p_.first_ms == 0 || a.first_ms() < p_.first_ms)) p_.first_ms = a.first_ms();
      p_.last_ms = std::max(p_.last_ms, a.last_ms());
      if (a.learnable() == 0) {
        p_.flows_denied += a.flows();
        continue;
      }
      p_.flows_denied += a.flows() - std::min(a.flows(), a.learnable());
      Edge e;
      e.src = host_id(a.src());
      e.dst = host_id(a.dst());
      e.proto = static_cast<uint8_t>(a.protocol());
      e.port = is_icmp(e.proto) ? static_cast<uint16_t>(a.src_port()) : has_ports(e.proto) ? static_cast<uint16_t>(a.dst_port()) : 0;
      e.unanswered = answer_expected(e.proto) ? std::min(a.unanswered(), a.learnable()) : 0;
      e.flows = a.learnable() - e.unanswered;
      // Ended with nothing back and never answered (an aggregate saved
      // before unanswered ones were counted shows it by its packets).
      e.silent = a.answered() == 0 && (a.unanswered() > 0 || a.packets() > 0);
      e.first = a.first_ms();
      e.last = a.last_ms();
      for (int i = 0; i < a.dns_names_size() && i < static_cast<int>(e.names.size()); ++i)
        e.names[static_cast<size_t>(i)] = name_id(a.dns_names(i));
      edges_.push_back(e);
    }
  }

  void find_scanners() {
    struct Tally {
      uint32_t targets = 0, unanswered = 0;
      uint32_t most_ports = 0;  // the most ports of one destination host with <= 2 connections each
    };
    std::vector<Tally> by_src(hosts_.size());
    std::unordered_map<uint64_t, uint32_t> light_ports;  // (source, destination) -> such ports
    light_ports.reserve(edges_.size());
    for (size_t i = 0; i < edges_.size(); ++i) {
      const Edge& e = edges_[i];
      Tally& t = by_src[e.src];
      ++t.targets;
      if (e.silent) ++t.unanswered;
      if (e.flows + e.unanswered <= 2 && has_ports(e.proto))
        t.most_ports = std::max(t.most_ports, ++light_ports[static_cast<uint64_t>(e.src) << 32 | e.dst]);
    }
    for (uint32_t src = 0; src < by_src.size(); ++src) {
      const Tally& t = by_src[src];
      if (t.targets == 0) continue;
      const uint32_t most_ports = t.most_ports;
      const bool sweep = t.targets >= opt_.scan_targets && t.unanswered * 2 > t.targets;
      const bool port_scan = most_ports >= opt_.scan_ports;
      if (!sweep && !port_scan) continue;
      hosts_[src].scanner = true;
      scanner_lines_.push_back(format_host(hosts_[src]) + ": scan-like (" + std::to_string(t.targets) + " targets, " +
                               std::to_string(t.unanswered) + " unanswered" +
                               (port_scan ? ", " + std::to_string(most_ports) + " ports of one host" : "") +
                               "): nothing learned from it");
    }
    std::sort(scanner_lines_.begin(), scanner_lines_.end());
    std::vector<Edge> kept;
    kept.reserve(edges_.size());
    for (const Edge& e : edges_) {
      if (hosts_[e.src].scanner) p_.flows_scan += e.flows + e.unanswered;
      else kept.push_back(e);
    }
    edges_.swap(kept);
  }

  void group_by_inventory() {
    groups_.resize(index_.names().size());
    for (size_t g = 0; g < groups_.size(); ++g) {
      groups_[g].name = index_.names()[g];
      groups_[g].why = "inventory";
    }
    for (uint32_t i = 0; i < hosts_.size(); ++i) {
      Host& h = hosts_[i];
      h.group = index_.find(h.family, h.addr);
      if (h.group >= 0) groups_[static_cast<size_t>(h.group)].hosts.push_back(i);
    }
  }

  void infer_groups() {
    // What each internal host offers and uses: only answered traffic says
    // a host offers a service.
    for (const Edge& e : edges_) {
      if (e.flows == 0) continue;
      const uint32_t code = static_cast<uint32_t>(e.proto) << 16 | e.port;
      hosts_[e.dst].offered.push_back(code);
      hosts_[e.src].used.push_back(code);
    }
    for (Host& h : hosts_) {
      std::sort(h.offered.begin(), h.offered.end());
      h.offered.erase(std::unique(h.offered.begin(), h.offered.end()), h.offered.end());
      std::sort(h.used.begin(), h.used.end());
      h.used.erase(std::unique(h.used.begin(), h.used.end()), h.used.end());
    }
    // Per subnet, cluster hosts whose signatures overlap (Jaccard >= 1/2).
    std::map<rules::Prefix, std::vector<uint32_t>> subnets;
    std::map<rules::Prefix, size_t> subnet_population;
    // A scan-like host still belongs with its peers as a destination: only
    // what it sent was left out.
    for (uint32_t i = 0; i < hosts_.size(); ++i) {
      if (!hosts_[i].internal) continue;
      if (hosts_[i].offered.empty() && hosts_[i].used.empty()) continue;
      subnets[subnet_of(hosts_[i])].push_back(i);
    }
    for (const auto& [net, members] : subnets) {
      struct Cluster {
        bool servers;
        std::vector<uint32_t> signature;
        std::vector<uint32_t> hosts;
      };
      std::vector<Cluster> clusters;
      for (uint32_t i : members) {
        const Host& h = hosts_[i];
        const bool server = !h.offered.empty();
        const auto& sig = server ? h.offered : h.used;
        Cluster* home = nullptr;
        for (auto& c : clusters) {
          if (c.servers != server) continue;
          std::vector<uint32_t> both;
          std::set_intersection(sig.begin(), sig.end(), c.signature.begin(), c.signature.end(), std::back_inserter(both));
          const size_t either = sig.size() + c.signature.size() - both.size();
          if (both.size() * 2 >= either) {
            home = &c;
            break;
          }
        }
        if (home == nullptr) {
          clusters.push_back(Cluster{server, {}, {}});
          home = &clusters.back();
        }
        std::vector<uint32_t> merged;
        std::set_union(sig.begin(), sig.end(), home->signature.begin(), home->signature.end(), std::back_inserter(merged));
        home->signature = std::move(merged);
        home->hosts.push_back(i);
      }
      for (auto& c : clusters) {
        Group g;
        g.hosts = c.hosts;
        std::string services;
        for (size_t k = 0; k < c.signature.size() && k < 6; ++k) services += (k ? ", " : "") + service_text(c.signature[k]);
        if (c.signature.size() > 6) services += ", …";
        g.why = (c.servers ? "offer " : "use ") + services;
        g.servers = c.servers;
        const std::string net_text = rules::format_prefix(net);
        if (opt_.subnets && clusters.size() == 1 && c.hosts.size() >= 2) {
          g.cidrs.push_back(net);
          g.why += "; every host seen in " + net_text;
        } else {
          for (uint32_t i : c.hosts) g.cidrs.push_back(host_prefix(hosts_[i]));
          g.why += "; in " + net_text;
        }
        g.suffix = safe_name(net_text.substr(0, net_text.find('/')));
        const int id = static_cast<int>(groups_.size());
        for (uint32_t i : c.hosts) hosts_[i].group = id;
        groups_.push_back(std::move(g));
      }
    }
    // Names from the traffic each group serves or makes.
    for (const Edge& e : edges_) {
      const uint32_t code = static_cast<uint32_t>(e.proto) << 16 | e.port;
      if (const int g = hosts_[e.dst].group; g >= 0 && groups_[static_cast<size_t>(g)].servers)
        groups_[static_cast<size_t>(g)].traffic[code] += e.flows;
      if (const int g = hosts_[e.src].group; g >= 0 && !groups_[static_cast<size_t>(g)].servers)
        groups_[static_cast<size_t>(g)].traffic[code] += e.flows;
    }
    for (auto& g : groups_) g.name = g.servers ? service_label(g) : service_label(g) + "-clients";
    // Readable, unique names: the subnet is added only where the name alone
    // is not unique.
    std::map<std::string, int> base_count;
    for (const auto& g : groups_) ++base_count[g.name];
    std::set<std::string> used;
    for (auto& g : groups_) {
      std::string name = base_count[g.name] == 1 ? g.name : g.name + "-" + g.suffix;
      std::string unique = name;
      for (int n = 2; used.count(unique) || unique == "any" || unique == "internet"; ++n) unique = name + "-" + std::to_string(n);
      used.insert(unique);
      g.name = unique;
    }
  }

  // A name from the service that brings the group (servers) or takes from
  // it (clients) the most connections, preferring for servers a named
  // application service over the administrative ones every server offers
  // (ssh, metrics, backups).
  std::string service_label(const Group& g) {
    const bool servers = g.servers;
    if (g.traffic.empty()) return "hosts";
    const auto& by_service = g.traffic;
    auto generic = [&](uint32_t c) {
      const uint16_t port = static_cast<uint16_t>(c & 0xFFFF);
      return servers && (c >> 16) == common::kProtoTcp &&
             (port == 22 || port == 9100 || port == 873 || port == 3389 || port == 5985);
    };
    auto rank = [&](uint32_t x) {
      return std::tuple(!generic(x), service_name(static_cast<uint8_t>(x >> 16), static_cast<uint16_t>(x & 0xFFFF)) != nullptr,
                        by_service.at(x));
    };
    uint32_t best = by_service.begin()->first;
    for (const auto& [c, n] : by_service)
      if (rank(c) > rank(best)) best = c;
    const auto proto = static_cast<uint8_t>(best >> 16);
    const auto port = static_cast<uint16_t>(best & 0xFFFF);
    if (const char* n = service_name(proto, port)) return n;
    return safe_name(rules::proto_name(proto)) + (has_ports(proto) ? std::to_string(port) : "") + (servers ? "-servers" : "");
  }

  struct Candidate {
    uint64_t flows = 0, unanswered = 0;
    int64_t first = 0, last = 0;
    std::vector<uint32_t> srcs, dsts;  // sorted and unique once every edge is in
  };
  struct CandidateKey {
    int src_group, dst_group;
    uint32_t service;  // proto << 16 | port
    bool operator==(const CandidateKey&) const = default;
  };
  struct CandidateKeyHash {
    size_t operator()(const CandidateKey& k) const noexcept {
      uint64_t x = (static_cast<uint64_t>(static_cast<uint32_t>(k.src_group)) << 32 | static_cast<uint32_t>(k.dst_group)) *
                   0x9E3779B97F4A7C15ull;
      return static_cast<size_t>(x ^ (x >> 31) ^ (static_cast<uint64_t>(k.service) * 0xff51afd7ed558ccdull));
    }
  };
  // A rule being gathered: the services of one side pair and protocol.
  struct Merged {
    InferredRule rule;
    std::set<uint32_t> srcs, dsts;
  };

  uint32_t name_id(const std::string& name) {
    if (name.empty()) return 0;
    auto [it, fresh] = name_ids_.try_emplace(name, static_cast<uint32_t>(names_.size()));
    if (fresh) names_.push_back(name);
    return it->second;
  }

  // An edge to the internet whose destination DNS answers named: learned
  // as rules to the names, not to addresses that rotate.
  bool named(const Edge& e) const {
    return e.names[0] != 0 && !hosts_[e.dst].internal && hosts_[e.dst].group == kUngrouped;
  }

  // A side of a rule: its group, `internet`, its addresses, or a name.
  InferredSide side_of(int group, const std::vector<uint32_t>& hosts) {
    InferredSide side;
    if (group <= kNamed) {
      side.name = side.label = names_[static_cast<size_t>(kNamed - group)];
      return side;
    }
    if (group != kUngrouped) {
      side.segment = side.label = groups_[static_cast<size_t>(group)].name;
      return side;
    }
    const bool all_public = std::all_of(hosts.begin(), hosts.end(), [&](uint32_t h) { return !hosts_[h].internal; });
    if (all_public && hosts.size() >= opt_.public_peers) {
      side.segment = side.label = "internet";
      return side;
    }
    for (uint32_t h : hosts) side.addresses.push_back(host_prefix(hosts_[h]));
    std::sort(side.addresses.begin(), side.addresses.end());
    side.label = side.addresses.size() == 1 ? rules::prefix_text(side.addresses[0]) : std::to_string(side.addresses.size()) + " hosts";
    return side;
  }

  // The key that merges candidates into one rule: both sides and the protocol.
  static std::string merge_key(const InferredSide& from, const InferredSide& to, uint8_t proto) {
    std::string k = from.segment + '\n' + to.segment + '\n' + to.name + '\n' + std::to_string(proto) + '\n';
    for (const auto* side : {&from, &to}) {
      for (const auto& a : side->addresses) k += rules::prefix_text(a) + ',';
      k += '\n';
    }
    return k;
  }

  void build_rules() {
    std::unordered_map<CandidateKey, Candidate, CandidateKeyHash> by_key;
    for (const Edge& e : edges_) {
      const uint32_t service = static_cast<uint32_t>(e.proto) << 16 | e.port;
      auto add = [&](int dst_group) {
        Candidate& c = by_key[{hosts_[e.src].group, dst_group, service}];
        c.flows += e.flows;
        c.unanswered += e.unanswered;
        c.first = c.first == 0 ? e.first : std::min(c.first, e.first);
        c.last = std::max(c.last, e.last);
        if (e.flows == 0) return;  // only answered traffic puts a host on a side
        c.srcs.push_back(e.src);
        c.dsts.push_back(e.dst);
      };
      if (!named(e)) {
        add(hosts_[e.dst].group);
        continue;
      }
      // One rule per name: an address answered for several names counts
      // for each, since the connection was for one of them.
      for (uint32_t id : e.names)
        if (id != 0) add(kNamed - static_cast<int>(id));
    }
    // In a stable order, so the same flows always give the same policy.
    std::vector<std::pair<CandidateKey, Candidate>> cands(std::make_move_iterator(by_key.begin()),
                                                          std::make_move_iterator(by_key.end()));
    std::sort(cands.begin(), cands.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first.src_group, a.first.dst_group, a.first.service) <
             std::tie(b.first.src_group, b.first.dst_group, b.first.service);
    });
    for (auto& [key, c] : cands) {
      for (auto* v : {&c.srcs, &c.dsts}) {
        std::sort(v->begin(), v->end());
        v->erase(std::unique(v->begin(), v->end()), v->end());
      }
    }
    // Attempts no one answered, by the hosts that made and ignored them.
    std::unordered_map<CandidateKey, std::pair<std::vector<uint32_t>, std::vector<uint32_t>>, CandidateKeyHash> silent;
    for (const Edge& e : edges_) {
      if (e.unanswered == 0) continue;
      const uint32_t service = static_cast<uint32_t>(e.proto) << 16 | e.port;
      auto add = [&](int dst_group) {
        auto& [srcs, dsts] = silent[{hosts_[e.src].group, dst_group, service}];
        srcs.push_back(e.src);
        dsts.push_back(e.dst);
      };
      if (!named(e)) {
        add(hosts_[e.dst].group);
        continue;
      }
      for (uint32_t id : e.names)
        if (id != 0) add(kNamed - static_cast<int>(id));
    }
    std::map<std::string, Merged> merged;
    std::unordered_set<CandidateKey, CandidateKeyHash> learned;
    std::vector<std::pair<uint64_t, std::string>> below, unanswered;
    for (auto& [key, c] : cands) {
      const int sg = key.src_group, dg = key.dst_group;
      const auto proto = static_cast<uint8_t>(key.service >> 16);
      const auto port = static_cast<uint16_t>(key.service & 0xFFFF);
      const std::string service = has_ports(proto) ? ":" + std::to_string(port) : "";
      p_.flows_unanswered += c.unanswered;
      if (c.unanswered > 0) {
        auto& [srcs, dsts] = silent[key];
        for (auto* v : {&srcs, &dsts}) {
          std::sort(v->begin(), v->end());
          v->erase(std::unique(v->begin(), v->end()), v->end());
        }
        unanswered.emplace_back(c.unanswered, rules::proto_name(proto) + " " + side_of(sg, srcs).label + " -> " +
                                                  side_of(dg, dsts).label + service + ": " + std::to_string(c.unanswered) +
                                                  (c.unanswered == 1 ? " attempt" : " attempts") +
                                                  " never answered, not learned");
      }
      if (c.flows == 0) continue;
      if (c.flows < opt_.min_flows) {
        p_.flows_below_threshold += c.flows;
        below.emplace_back(c.flows, rules::proto_name(proto) + " " + side_of(sg, c.srcs).label + " -> " +
                                        side_of(dg, c.dsts).label + service + ": " + std::to_string(c.flows) +
                                        (c.flows == 1 ? " connection" : " connections") + " (fewer than " +
                                        std::to_string(opt_.min_flows) + "), not learned");
        continue;
      }
      learned.insert(key);
      InferredSide from = side_of(sg, c.srcs), to = side_of(dg, c.dsts);
      if (dg <= kNamed) named_clients_.insert(c.srcs.begin(), c.srcs.end());
      const std::string k = merge_key(from, to, proto);
      auto it = merged.find(k);
      if (it == merged.end()) {
        Merged m;
        m.rule.from = std::move(from);
        m.rule.to = std::move(to);
        m.rule.proto = proto;
        it = merged.emplace(k, std::move(m)).first;
      }
      Merged& m = it->second;
      if (has_ports(proto) || is_icmp(proto)) m.rule.ports.insert(port);
      m.rule.flows += c.flows;
      m.srcs.insert(c.srcs.begin(), c.srcs.end());
      m.dsts.insert(c.dsts.begin(), c.dsts.end());
      m.rule.first_ms = m.rule.first_ms == 0 ? c.first : std::min(m.rule.first_ms, c.first);
      m.rule.last_ms = std::max(m.rule.last_ms, c.last);
    }
    auto most_first = [](const auto& a, const auto& b) { return a.first > b.first; };
    std::stable_sort(unanswered.begin(), unanswered.end(), most_first);
    std::stable_sort(below.begin(), below.end(), most_first);
    for (auto& s : scanner_lines_) p_.not_learned.push_back(std::move(s));
    for (auto& [n, s] : unanswered) p_.not_learned.push_back(std::move(s));
    for (auto& [n, s] : below) p_.not_learned.push_back(std::move(s));
    if (p_.flows_denied > 0)
      p_.not_learned.push_back(std::to_string(p_.flows_denied) + " connections denied in enforce mode: never learned");
    for (auto& [k, m] : merged) {
      m.rule.clients = m.srcs.size();
      m.rule.servers = m.dsts.size();
      p_.rules.push_back(std::move(m.rule));
    }
    std::stable_sort(p_.rules.begin(), p_.rules.end(),
                     [](const InferredRule& a, const InferredRule& b) { return a.flows > b.flows; });
    // Each edge's connections once, though an address answered for several
    // names counts in each of their rules.
    for (const Edge& e : edges_) {
      const uint32_t service = static_cast<uint32_t>(e.proto) << 16 | e.port;
      bool used = false;
      if (!named(e)) {
        used = learned.count({hosts_[e.src].group, hosts_[e.dst].group, service}) != 0;
      } else {
        for (uint32_t id : e.names)
          used = used || (id != 0 && learned.count({hosts_[e.src].group, kNamed - static_cast<int>(id), service}) != 0);
      }
      if (used) p_.flows_used += e.flows;
    }
    find_resolvers();
  }

  // The resolvers whose answers named the destinations of rules by name:
  // the servers on port 53 those rules' clients were answered by.
  void find_resolvers() {
    if (named_clients_.empty()) return;
    std::set<rules::Prefix> found;
    for (const Edge& e : edges_) {
      if (e.port != 53 || (e.proto != common::kProtoUdp && e.proto != common::kProtoTcp)) continue;
      if (named_clients_.count(e.src)) found.insert(host_prefix(hosts_[e.dst]));
    }
    p_.resolvers.assign(found.begin(), found.end());
  }

  // The segments to write: the inventory's, or the inferred ones a rule
  // uses; then `internet`.
  void choose_segments() {
    std::set<std::string> referenced;
    for (const auto& r : p_.rules) {
      referenced.insert(r.from.segment);
      if (r.to.name.empty()) referenced.insert(r.to.segment);
    }
    if (inventory_ != nullptr) {
      p_.from_inventory = true;
      for (const auto& seg : inventory_->segments()) {
        InferredSegment s;
        s.name = seg.name();
        for (const auto& pfx : seg.prefixes()) s.cidrs.push_back(prefix_of(pfx));
        s.why = "inventory";
        if (s.cidrs.empty()) continue;
        p_.segments.push_back(std::move(s));
      }
      for (const auto& g : groups_)
        if (!g.hosts.empty()) p_.reported.push_back(SegmentReport{g.name, {}, g.hosts.size(), "inventory"});
    } else {
      for (const auto& g : groups_) {
        if (!referenced.count(g.name)) continue;
        p_.segments.push_back(InferredSegment{g.name, g.cidrs, {}, g.hosts.size(), g.why});
        std::vector<std::string> cidrs;
        for (const auto& c : g.cidrs) cidrs.push_back(rules::prefix_text(c));
        p_.reported.push_back(SegmentReport{g.name, std::move(cidrs), g.hosts.size(), g.why});
      }
    }
    if (referenced.count("internet")) {
      InferredSegment s;
      s.name = "internet";
      s.why = std::string("every address but private space") + (inventory_ != nullptr ? " and the inventory" : "");
      for (const char* c : {"0.0.0.0/0", "::/0"}) s.cidrs.push_back(parse_prefix_or_die(c));
      for (const char* c : {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
                            "127.0.0.0/8", "fc00::/7", "fe80::/10"})
        s.except.push_back(parse_prefix_or_die(c));
      if (inventory_ != nullptr)
        for (const auto& seg : inventory_->segments())
          for (const auto& pfx : seg.prefixes()) {
            const rules::Prefix p = prefix_of(pfx);
            if (!is_private(p.family, p.addr)) s.except.push_back(p);
          }
      p_.segments.push_back(std::move(s));
    }
  }

  static rules::Prefix parse_prefix_or_die(const char* text) {
    std::string error;
    const auto p = rules::parse_prefix(text, error);
    if (!p) throw std::logic_error(std::string("bad built-in prefix ") + text);
    return *p;
  }

  LearnOptions opt_;
  const pb::CompiledRuleSet* inventory_ = nullptr;
  rules::SegmentIndex index_;
  std::unordered_map<std::pair<Addr, uint8_t>, uint32_t, AddrHash> host_ids_;
  std::vector<Host> hosts_;
  std::vector<Edge> edges_;
  std::vector<Group> groups_;
  std::vector<std::string> scanner_lines_;
  std::vector<std::string> names_{""};  // DNS names, by id (0: none)
  std::set<uint32_t> named_clients_;     // hosts with a rule by name
  std::unordered_map<std::string, uint32_t> name_ids_;
  Inference p_;
};

}  // namespace

std::string safe_name(std::string s) {
  for (char& c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      c = '-';
  return s;
}

Inference infer(const std::vector<pb::FlowAggregate>& flows, const pb::CompiledRuleSet* inventory,
                const LearnOptions& options) {
  return Learner(inventory, options).run(flows);
}

}  // namespace bulkhead::controlplane::learn
