// The bindings a capture's DNS answers make, for reading the capture's
// connections by name: which names each client was told an address stands
// for, and when; and the server names its ClientHellos gave (CaptureHellos).
//
// Built from NameFinder's answers (tools/cli/capture_names.h). An answer
// binds whether or not the capture holds its query (a capture that begins
// after the query still shows what the client was told); answers that
// carry no address (NXDOMAIN, NODATA) and malformed ones bind nothing. The
// resolver is not judged here: callers that model a policy pass
// `trusted_by(policy)` as the filter and read the answers `alive` by its
// grace period.
//
// Bounded: at most kMaxAnswers answers are kept (later ones are counted and
// dropped), so a hostile capture costs memory in proportion to the bound.
// Thread-safety: one thread builds; then any number read.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tools/cli/capture_names.h"

namespace bulkhead::dataplane::names {
class PolicyNames;
}

namespace bulkhead::cli {

class CaptureBindings {
 public:
  static constexpr std::size_t kMaxAnswers = 1u << 20;

  // One answer's address: the name of its record, when and for how long.
  struct Answer {
    int64_t time_us = 0;
    uint32_t ttl = 0;
    std::string name;  // the record's own name (a CNAME chain's last link)
    std::string qname;
  };

  // Keeps the answer `d` when it binds (see above) and `trusted(d)` says so
  // (no filter: every resolver).
  void add(const DnsSeen& d, const std::function<bool(const DnsSeen&)>& trusted = {});

  // The answers that gave `client` the address `server` (4 or 16 bytes,
  // network order) up to `time_us`, oldest first; empty when none.
  std::span<const Answer> before(const std::string& client, const std::string& server, int64_t time_us) const;
  // The most recent of them, or nullptr.
  const Answer* latest(const std::string& client, const std::string& server, int64_t time_us) const;
  // Calls fn(answer) for each of them still alive at `time_us` (its TTL
  // plus `grace_s` not yet over), newest first, until fn returns false.
  void alive(const std::string& client, const std::string& server, int64_t time_us, uint32_t grace_s,
             const std::function<bool(const Answer&)>& fn) const;

  // The filter of a policy's dataplane: answers to a query the capture
  // holds, read on port 53 from one of its trusted resolvers (dns.trusted).
  static std::function<bool(const DnsSeen&)> trusted_by(const dataplane::names::PolicyNames& policy);

  std::size_t answers() const noexcept { return answers_; }
  uint64_t dropped() const noexcept { return dropped_; }

 private:
  std::map<std::pair<std::string, std::string>, std::vector<Answer>> by_pair_;  // by time
  std::size_t answers_ = 0;
  uint64_t dropped_ = 0;
};

// The server names of a capture's ClientHellos, by connection (client and
// server, address and port), for reading its connections by server name.
// Built from NameFinder's ClientHellos; those it could not read (`ignored`)
// are left out, and a connection's later ClientHello replaces its earlier.
// Bounded: at most kMaxHellos connections (later ones counted and dropped).
// Thread-safety: as CaptureBindings.
class CaptureHellos {
 public:
  static constexpr std::size_t kMaxHellos = 1u << 20;

  struct Hello {
    std::optional<std::string> sni;  // none: the ClientHello had no server name
    bool ech = false;
  };

  void add(const SniSeen& h);
  // The ClientHello of the connection from `client`:`cport` to
  // `server`:`sport` (addresses of 4 or 16 bytes, network order), or nullptr.
  const Hello* find(const std::string& client, uint16_t cport, const std::string& server, uint16_t sport) const;

  std::size_t size() const noexcept { return by_conn_.size(); }
  uint64_t dropped() const noexcept { return dropped_; }

 private:
  std::map<std::tuple<std::string, uint16_t, uint16_t>, Hello> by_conn_;  // client + server addresses, ports
  uint64_t dropped_ = 0;
};

// The bytes of an endpoint's address, as flow records hold it.
std::string address_bytes(const Endpoint& e);

}  // namespace bulkhead::cli
