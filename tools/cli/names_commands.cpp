// `bulkhead names --pcap FILE...`: what the dataplane's name readers find in
// captures, in capture order (tools/cli/capture_names.h).
#include <boost/program_options.hpp>
#include <iostream>

#include "rules/prefix.h"
#include "tools/cli/capture_names.h"
#include "tools/cli/cli.h"
#include "tools/cli/json_out.h"

namespace bulkhead::cli {
namespace po = boost::program_options;
namespace {

std::string ip(const Endpoint& e) { return rules::format_address(e.family, e.addr); }

// Seconds since the epoch with the capture's microseconds.
double seconds(int64_t time_us) { return double(time_us) / 1e6; }

std::string when(int64_t time_us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6f", seconds(time_us));
  return text;
}

Json dns_json(const DnsSeen& d) {
  Json j;
  j["kind"] = "dns";
  j["time"] = seconds(d.time_us);
  j["client"] = ip(d.client);
  j["resolver"] = ip(d.resolver);
  j["qname"] = d.qname;
  j["name"] = d.name.empty() ? Json() : Json(d.name);
  j["address"] = d.address ? Json(rules::format_address(d.address->family, d.address->addr)) : Json();
  j["ttl"] = d.address ? Json(d.address->ttl) : Json();
  if (!d.ignored.empty()) j["ignored"] = d.ignored;
  return j;
}

std::vector<std::string> dns_row(const DnsSeen& d) {
  return {when(d.time_us), "dns/" + d.transport,
          ip(d.client),
          ip(d.resolver),
          d.qname,
          d.name,
          d.address ? rules::format_address(d.address->family, d.address->addr) : "-",
          d.address ? std::to_string(d.address->ttl) : "-",
          d.ignored.empty() ? "binds" : d.ignored};
}

Json sni_json(const SniSeen& s) {
  Json j;
  j["kind"] = "sni";
  j["time"] = seconds(s.time_us);
  j["client"] = ip(s.client);
  j["cport"] = s.client.port;
  j["server"] = ip(s.server);
  j["sport"] = s.server.port;
  j["transport"] = s.transport;
  j["sni"] = s.sni ? Json(*s.sni) : Json();
  j["ech"] = s.ech;
  if (!s.ignored.empty()) j["ignored"] = s.ignored;
  return j;
}

std::vector<std::string> sni_row(const SniSeen& s) {
  return {when(s.time_us), "sni/" + s.transport,
          ip(s.client) + ":" + std::to_string(s.client.port),
          ip(s.server) + ":" + std::to_string(s.server.port),
          "-",
          s.sni.value_or("(none)") + (s.ech ? " (ECH)" : ""),
          "-",
          "-",
          s.ignored.empty() ? "reads" : s.ignored};
}

int cmd_names(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::vector<std::string> pcaps;
  std::vector<uint16_t> tls_ports;
  o.add_options()("pcap", po::value(&pcaps)->multitoken()->required(),
                  "captures to read (pcap or pcapng, plain or gzip-compressed), in this order (required)")(
      "tls-port", po::value(&tls_ports)->multitoken()->default_value({443}, "443"),
      "ports whose TCP (TLS) and UDP (QUIC) connections are read for a ClientHello")(
      "json", "one JSON object per line");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
                     "usage: bulkhead names --pcap FILE... [--tls-port N...] [--json]\n\n"
                     "What the dataplane's name readers find in captures, in capture order: each address a DNS\n"
                     "answer gives (UDP and TCP, port 53), and the server name of each TLS ClientHello (TCP)\n"
                     "and QUIC Initial (UDP) to the TLS ports, marked with why the dataplane would not act on\n"
                     "it (ignored: unsolicited, nxdomain, nodata, malformed: REASON, too_large), if so."))
    return kExitOk;
  const bool json = vm.count("json") > 0;
  std::vector<std::vector<std::string>> rows;
  NameFinder finder(
      [&](const DnsSeen& d) {
        if (json) {
          std::cout << json_text(dns_json(d)) << '\n';
        } else {
          rows.push_back(dns_row(d));
        }
      },
      [&](const SniSeen& s) {
        if (json) {
          std::cout << json_text(sni_json(s)) << '\n';
        } else {
          rows.push_back(sni_row(s));
        }
      },
      tls_ports);
  std::string error;
  if (!finder.feed_files(pcaps, error)) throw UsageError(error);
  if (!json) {
    print_table(std::cout, {"time", "kind", "client", "server", "asked", "name", "address", "ttl", "dataplane"}, rows);
  }
  const NameFinderStats& s = finder.stats();
  std::cerr << s.packets << " packets, " << s.dns_messages << " DNS messages (" << s.dns_malformed << " malformed), "
            << s.hellos << " ClientHellos";
  if (s.tcp_gaps) std::cerr << ", " << s.tcp_gaps << " TCP streams cut by a missing segment";
  if (s.pending_dropped) std::cerr << ", " << s.pending_dropped << " queries forgotten for room";
  if (s.streams_dropped) std::cerr << ", " << s.streams_dropped << " connections given up for room";
  std::cerr << '\n';
  return kExitOk;
}

}  // namespace

void register_names_commands() {
  registry().push_back(
      {"names", "", "the DNS answers and TLS/QUIC server names in captures, read as the dataplane reads them", cmd_names});
}

}  // namespace bulkhead::cli
