// `bulkhead policy ...`: offline commands on policy files.
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "common/pcap_reader.h"
#include "dataplane/names/policy_names.h"
#include "dataplane/packet.h"
#include "rules/analysis.h"
#include "rules/load.h"
#include "rules/match.h"
#include "rules/names.h"
#include "tools/cli/capture_bindings.h"
#include "tools/cli/capture_names.h"
#include "tools/cli/classbench.h"
#include "tools/cli/classifier.h"
#include "tools/cli/cli.h"
#include "tools/cli/flow.h"
#include "tools/cli/json_out.h"

namespace bulkhead::cli {
namespace po = boost::program_options;
namespace {

dataplane::FlowTuple to_flow(const rules::Tuple& t) {
  dataplane::FlowTuple f{};
  f.family = t.family;
  f.proto = t.proto;
  f.sport = t.sport;
  f.dport = t.dport;
  std::memcpy(f.src, t.src.data(), 16);
  std::memcpy(f.dst, t.dst.data(), 16);
  return f;
}

std::string rule_id(const pb::CompiledRuleSet& set, uint32_t rule) {
  return rule == dataplane::kNoRule ? "-" : set.rules(static_cast<int>(rule)).id();
}

// The --tenant option: the classifier's value for traffic of that tenant
// (its position + 1, as build_classifier numbers the tenants; pb::Tenant::tag
// is left 0 in a compiled set), 0 for none (inline).
uint16_t tenant_value(const pb::CompiledRuleSet& set, const std::string& tenant) {
  if (tenant.empty()) return 0;
  std::vector<std::string> known;
  for (int k = 0; k < set.tenants_size(); ++k) {
    if (set.tenants(k).name() == tenant) return static_cast<uint16_t>(k + 1);
    known.push_back(set.tenants(k).name());
  }
  throw unknown_tenant(tenant, known);
}

// Whether traffic of `tenant` ("": inline) is ever judged by rule `i`: the
// shared rules and its own, in the order the dataplane tries them.
bool judges(const pb::CompiledRuleSet& set, int i, const std::string& tenant) {
  return set.rules(i).tenant().empty() || set.rules(i).tenant() == tenant;
}

// A rule's names, as explain shows them: "fqdn a.example.com, *.b.example;
// sni c.example" ("" for a rule without names).
std::string names_of(const pb::CompiledRule& r) {
  std::string s;
  auto add = [&](const char* kind, const google::protobuf::RepeatedPtrField<std::string>& v) {
    if (v.empty()) return;
    s += (s.empty() ? "" : "; ") + std::string(kind);
    for (int i = 0; i < v.size(); ++i) s += (i ? ", " : " ") + v[i];
  };
  add("fqdn", r.fqdn());
  add("sni", r.sni());
  return s;
}

// What a capture's own DNS answers and ClientHellos tell, as the dataplane
// would have learnt it by each packet (docs/egress.md): bindings per client
// and address from trusted resolvers' answers to queries the capture holds
// (port 53, read by NameFinder as the dataplane reads them), alive for the
// record's TTL plus the grace; and each connection's server name, from its
// ClientHello on the TLS or QUIC ports. An answer through a CNAME chain
// binds its question's name and its last link's. Bounded as NameFinder,
// CaptureBindings and CaptureHellos are.
class CaptureNames {
 public:
  explicit CaptureNames(const dataplane::RuleSet& rs)
      : rs_(rs),
        nm_(*rs.names()),
        finder_([this](const DnsSeen& d) { answer(d); }, [this](const SniSeen& h) { hello(h); }, ports(*rs.names())) {}

  void feed(const common::CaptureRecord& r) {
    now_us_ = r.time_us;
    finder_.feed(r);
  }

  // The fqdn bits of the names bound, alive now, for this client and
  // destination.
  uint32_t fqdn_bits(const dataplane::FlowTuple& t) const {
    uint32_t bits = 0;
    bindings_.alive(address(t.family, t.src), address(t.family, t.dst), now_us_, nm_.grace_seconds(),
                    [&](const CaptureBindings::Answer& a) {
                      bits |= nm_.fqdn_bits(a.name) | nm_.fqdn_bits(a.qname);
                      return true;
                    });
    return bits;
  }

  // The sni bits of the connection's server name, by the policy's
  // fallbacks; every bit while no ClientHello was seen (the dataplane
  // admits the handshake provisionally until then).
  uint32_t sni_bits(const dataplane::FlowTuple& t) const {
    const auto* h = hellos_.find(address(t.family, t.src), t.sport, address(t.family, t.dst), t.dport);
    if (h == nullptr) return dataplane::kAllNameBits;
    const auto& set = nm_.settings();
    const auto& [sni, ech] = *h;
    auto fallback = [&](pb::SniFallback f) { return f == pb::SNI_ALLOW ? rs_.sni_allow_bits() : 0u; };
    if (!sni) return fallback(set.no_sni());
    if (ech && set.ech() == pb::SNI_DENY) return 0;
    return nm_.sni_bits(*sni);
  }

  uint64_t bound() const { return bindings_.answers(); }
  uint64_t hellos() const { return hellos_.size(); }

 private:
  static std::string address(uint8_t family, const uint8_t* a) {
    return std::string(reinterpret_cast<const char*>(a), family == 4 ? 4 : 16);
  }

  // The ports NameFinder reads ClientHellos on: tls.ports and quic_ports.
  static std::vector<uint16_t> ports(const dataplane::names::PolicyNames& nm) {
    std::vector<uint16_t> out;
    for (const auto* list : {&nm.settings().tls_ports(), &nm.settings().quic_ports()})
      for (const auto& r : *list)
        for (uint32_t p = r.lo(); p <= r.hi() && p <= 65535; ++p) out.push_back(static_cast<uint16_t>(p));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  void answer(const DnsSeen& d) { bindings_.add(d, trusted_); }

  void hello(const SniSeen& h) { hellos_.add(h); }

  const dataplane::RuleSet& rs_;
  const dataplane::names::PolicyNames& nm_;
  NameFinder finder_;
  const std::function<bool(const DnsSeen&)> trusted_ = CaptureBindings::trusted_by(nm_);
  CaptureBindings bindings_;
  int64_t now_us_ = 0;
  CaptureHellos hellos_;
};

// Why rule `i`, whose addresses and ports hold the flow, did not decide it:
// its names.
std::string names_mismatch(const pb::CompiledRule& r, const rules::Tuple& t, const std::vector<std::string>& names,
                           const std::string& sni) {
  bool fqdn_ok = r.fqdn_size() == 0 || rules::destination_holds(r, t);
  for (const auto& n : names)
    for (const auto& p : r.fqdn()) {
      std::string why;
      const auto pattern = rules::parse_name_pattern(p, why);
      fqdn_ok = fqdn_ok || (pattern && rules::matches(*pattern, n));
    }
  if (!fqdn_ok)
    return "destination not answered for its names (" + names_of(r) + ")" +
           (names.empty() ? "; give --name for the names it was answered for" : "");
  return sni.empty() ? "no server name given (" + names_of(r) + "; give --sni)"
                     : "server name " + sni + " is not one of its names (" + names_of(r) + ")";
}

// --- validate ----------------------------------------------------------------

Json validate_json(const std::string& file, const rules::Result<pb::CompiledRuleSet>& r,
                   const std::vector<rules::Finding>& findings) {
  Json j;
  j["file"] = file;
  j["valid"] = r.ok();
  if (r.ok()) {
    j["rules"] = r.value->rules_size();
    j["segments"] = r.value->segments_size();
    j["tenants"] = r.value->tenants_size();
  }
  j["diagnostics"] = Json::array();
  for (const auto& d : r.diagnostics)
    j["diagnostics"].push_back({{"severity", d.severity == rules::Diagnostic::Severity::error ? "error" : "warning"},
                                {"line", d.line},
                                {"column", d.column},
                                {"message", d.message}});
  j["findings"] = Json::array();
  for (const auto& f : findings)
    j["findings"].push_back({{"severity", rules::severity_name(f.severity)},
                             {"kind", rules::finding_kind_name(f.kind)},
                             {"rules", f.rules},
                             {"lines", f.lines},
                             {"columns", f.columns},
                             {"tenant", f.tenant.empty() ? Json() : Json(f.tenant)},
                             {"message", f.message},
                             {"examples", f.examples}});
  return j;
}

int cmd_validate(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string file;
  o.add_options()("file", po::value(&file)->required(), "the policy file to check (the first argument; required)")(
      "json", "machine-readable output")("no-analysis", "only parse and compile; skip the analysis");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
             "usage: bulkhead policy validate FILE [--json] [--no-analysis]\n\nChecks a policy: every error and "
             "warning with file:line:column, then the analysis (shadowed, redundant, conflicting, too broad, dead).\n"
             "Exit 0 valid, 1 analysis errors (rules shadowed by the opposite action), 2 policy errors."))
    return kExitOk;
  const auto r = rules::load_policy_file(file);
  std::vector<rules::Finding> findings;
  if (r.ok() && !vm.count("no-analysis")) {
    rules::AnalysisOptions opt;
    opt.now_unix = static_cast<int64_t>(std::time(nullptr));
    findings = rules::analyse(*r.value, opt);
  }
  size_t errors = 0, warnings = 0, analysis_errors = 0;
  for (const auto& d : r.diagnostics) (d.severity == rules::Diagnostic::Severity::error ? errors : warnings)++;
  for (const auto& f : findings) {
    if (f.severity == rules::Finding::Severity::error) ++analysis_errors;
    else if (f.severity == rules::Finding::Severity::warning) ++warnings;
  }
  if (vm.count("json")) {
    std::cout << json_text(validate_json(file, r, findings)) << '\n';
  } else {
    for (const auto& d : r.diagnostics) std::cerr << d.str() << '\n';
    for (const auto& f : findings) {
      std::cerr << f.str(file);
      for (size_t k = 1; k < f.rules.size() && k < f.lines.size() && k <= 5; ++k)
        std::cerr << (k == 1 ? " (see " : ", ") << f.rules[k] << " at " << f.lines[k] << ':' << f.columns[k];
      if (f.rules.size() > 1 && f.lines.size() > 1) std::cerr << ')';
      std::cerr << '\n';
      for (const auto& e : f.examples) std::cerr << "    e.g. " << e << '\n';
    }
    if (r.ok())
      std::cout << file << ": ok: " << r.value->rules_size() << " rules, " << r.value->segments_size()
                << " segments, " << (r.value->tenants_size() > 0 ? std::to_string(r.value->tenants_size()) + " tenants, " : "")
                << analysis_errors << " analysis errors, " << warnings << " warnings\n";
    else
      std::cout << file << ": " << errors << " errors, " << warnings << " warnings\n";
  }
  if (!r.ok()) return kExitUsage;
  return analysis_errors > 0 ? kExitNo : kExitOk;
}

// --- explain -------------------------------------------------------------------

int cmd_explain(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string file, flow, tenant, sni;
  std::vector<std::string> names;
  o.add_options()("file", po::value(&file)->required(), "the policy file (the first argument; required)")(
      "flow", po::value(&flow)->required(),
      "the flow (required): \"tcp 10.0.1.5:41000 -> 10.0.2.9:5432\", \"udp [fd00::1]:53 -> [fd00::2]:53\", "
      "\"icmp 10.0.1.5 -> 10.0.2.9 type 8 code 0\"")(
      "tenant", po::value(&tenant), "the flow came under this tenant of the policy (one-armed insertion; none by default)")(
      "name", po::value(&names)->multitoken(),
      "a trusted resolver answered the flow's source with its destination for this name (repeatable; none by "
      "default: no answer seen)")(
      "sni", po::value(&sni), "the server name of the connection's ClientHello (none by default)")(
      "json", "machine-readable output");
  po::variables_map vm;
  if (!parse_command(args, o, vm, "usage: bulkhead policy explain FILE --flow FLOW [--tenant NAME] [--name NAME]... "
                          "[--sni NAME] [--json]\n\n"
                          "Shows the verdict for one flow (under a tenant of the policy, with --tenant), the rule "
                          "that decided, the segments of each side, and why each earlier rule did not match. Rules "
                          "written with names decide as the dataplane does, by the names --name and --sni give. "
                          "Exit 0 allowed, 1 denied."))
    return kExitOk;
  rules::Tuple t;
  std::string error;
  if (!parse_flow(flow, t, error)) throw UsageError("--flow: " + error);
  for (auto& n : names) {
    auto c = rules::canonical_name(n, error);
    if (!c) throw UsageError("--name " + n + ": " + error);
    n = *c;
  }
  if (vm.count("sni")) {
    auto c = rules::canonical_name(sni, error);
    if (!c) throw UsageError("--sni " + sni + ": " + error);
    sni = *c;
  }
  const auto set = load_policy_or_throw(file, true);
  if (vm.count("tenant") && tenant.empty()) throw UsageError("--tenant: give a tenant's name");
  const uint16_t tag = tenant_value(set, tenant);
  t.tenant = tenant;
  const auto rs = build_classifier(set);
  const auto decision = decide_with_names(*rs, to_flow(t), tag, names, sni.empty() ? std::vector<std::string>{} : std::vector{sni});
  const uint32_t rule = decision.rule;
  const bool allowed = rs->allows(rule);
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const int reference = rules::match_first(set, t, now);
  if ((reference < 0 ? dataplane::kNoRule : static_cast<uint32_t>(reference)) != decision.first)
    throw std::runtime_error("classifier and reference matcher disagree on this flow; please report it");
  const auto src_seg = rules::segment_of(set, t.family, t.src);
  const auto dst_seg = rules::segment_of(set, t.family, t.dst);
  const int decided = rule == dataplane::kNoRule ? -1 : static_cast<int>(rule);
  // Why an earlier rule did not match: its addresses, ports, ... or, when
  // those hold, its names.
  auto why_not = [&](int i) {
    const auto m = rules::match_rule(set.rules(i), t, now);
    return m == rules::Mismatch::matched ? names_mismatch(set.rules(i), t, names, sni)
                                         : std::string("different ") + rules::mismatch_name(m);
  };
  const std::string decided_names = decided < 0 ? "" : names_of(set.rules(decided));
  const char* decided_mode = nullptr;  // the deciding rule's own mode, when it has one
  if (decided >= 0)
    switch (set.rules(decided).mode()) {
      case pb::RULE_MODE_ENFORCE: decided_mode = "enforce"; break;
      case pb::RULE_MODE_AUDIT: decided_mode = "audit"; break;
      case pb::RULE_MODE_LEARN: decided_mode = "learn"; break;
      default: break;
    }
  // The rules tried before the deciding one: only those that judge this
  // flow's traffic at all, as the dataplane tries them; other tenants'
  // rules are no part of its answer.
  std::vector<int> earlier;
  for (int i = 0; i < (decided < 0 ? set.rules_size() : decided); ++i)
    if (judges(set, i, t.tenant)) earlier.push_back(i);
  if (vm.count("json")) {
    Json j;
    j["flow"] = format_flow(t);
    j["tenant"] = t.tenant.empty() ? Json() : Json(t.tenant);
    j["verdict"] = allowed ? "allow" : "deny";
    j["rule"] = decided < 0 ? Json() : Json(set.rules(decided).id());
    j["line"] = decided < 0 ? 0 : set.rules(decided).location().line();
    j["rule_names"] = decided_names.empty() ? Json() : Json(decided_names);
    j["rule_mode"] = decided_mode ? Json(decided_mode) : Json();
    j["names"] = names;
    j["sni"] = sni.empty() ? Json() : Json(sni);
    j["source_segment"] = src_seg ? Json(*src_seg) : Json();
    j["destination_segment"] = dst_seg ? Json(*dst_seg) : Json();
    j["not_matched"] = Json::array();
    for (int i : earlier)
      j["not_matched"].push_back({{"rule", set.rules(i).id()},
                                  {"line", set.rules(i).location().line()},
                                  {"because", rules::match_rule(set.rules(i), t, now) == rules::Mismatch::matched
                                                  ? "names"
                                                  : rules::mismatch_name(rules::match_rule(set.rules(i), t, now))},
                                  {"why", why_not(i)}});
    std::cout << json_text(j) << '\n';
  } else {
    std::cout << "flow:        " << format_flow(t) << '\n';
    if (!t.tenant.empty()) std::cout << "tenant:      " << t.tenant << '\n';
    std::cout << "verdict:     " << (allowed ? "allow" : "deny") << '\n'
              << "decided by:  "
              << (decided < 0 ? std::string("the default action (no rule matched)")
                              : "rule " + set.rules(decided).id() + " (" + file + ":" +
                                    std::to_string(set.rules(decided).location().line()) + ")")
              << '\n';
    if (!decided_names.empty()) std::cout << "its names:   " << decided_names << '\n';
    if (decided_mode) std::cout << "its mode:    " << decided_mode << '\n';
    if (!names.empty() || !sni.empty()) {
      std::string given;
      for (const auto& n : names) given += (given.empty() ? "answered for " : ", ") + n;
      if (!sni.empty()) given += (given.empty() ? "" : "; ") + std::string("server name ") + sni;
      std::cout << "names given: " << given << '\n';
    }
    std::cout << "source:      " << rules::format_address(t.family, t.src) << " in segment "
              << (src_seg ? *src_seg : "(none)") << '\n'
              << "destination: " << rules::format_address(t.family, t.dst) << " in segment "
              << (dst_seg ? *dst_seg : "(none)") << '\n';
    if (!earlier.empty()) {
      std::cout << "earlier rules that did not match:\n";
      std::vector<std::vector<std::string>> rows;
      for (int i : earlier)
        rows.push_back({set.rules(i).id(), std::to_string(set.rules(i).location().line()), why_not(i)});
      print_table(std::cout, {"  rule", "line", "why not"}, [&] {
        for (auto& r : rows) r[0] = "  " + r[0];
        return rows;
      }());
    }
  }
  return allowed ? kExitOk : kExitNo;
}

// --- eval ----------------------------------------------------------------------

// Classifies a batch of tuples with the dataplane's bulk calls.
void classify_batch(const dataplane::RuleSet& rs, const std::vector<rules::Tuple>& in, uint16_t tenant,
                    std::vector<uint32_t>& out) {
  out.assign(in.size(), dataplane::kNoRule);
  constexpr size_t kBatch = 64;
  dataplane::AclKey4 k4[kBatch];
  dataplane::AclKey6 k6[kBatch];
  const dataplane::AclKey4* p4[kBatch];
  const dataplane::AclKey6* p6[kBatch];
  size_t i4[kBatch], i6[kBatch];
  uint32_t r[kBatch];
  for (size_t base = 0; base < in.size(); base += kBatch) {
    size_t n4 = 0, n6 = 0;
    for (size_t i = base; i < in.size() && i < base + kBatch; ++i) {
      const auto f = to_flow(in[i]);
      if (f.family == 4) {
        dataplane::make_acl_key(f, tenant, k4[n4]);
        p4[n4] = &k4[n4];
        i4[n4++] = i;
      } else {
        dataplane::make_acl_key(f, tenant, k6[n6]);
        p6[n6] = &k6[n6];
        i6[n6++] = i;
      }
    }
    if (n4) {
      rs.classify4(p4, static_cast<uint32_t>(n4), r);
      for (size_t j = 0; j < n4; ++j) out[i4[j]] = r[j];
    }
    if (n6) {
      rs.classify6(p6, static_cast<uint32_t>(n6), r);
      for (size_t j = 0; j < n6; ++j) out[i6[j]] = r[j];
    }
  }
}

int eval_tuples(const std::string& file, const std::string& tuples_path, const std::string& tenant, bool json) {
  const std::string text = read_input(tuples_path);
  std::vector<rules::Tuple> tuples;
  tuples.reserve(text.size() / 40);
  size_t pos = 0, line_no = 0;
  std::string error;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    rules::Tuple t;
    if (!parse_tuple_line(std::string_view(text).substr(pos, end - pos), t, error))
      throw UsageError((tuples_path == "-" ? std::string("stdin") : tuples_path) + ":" + std::to_string(line_no) +
                       ": " + error);
    tuples.push_back(t);
    pos = end + 1;
  }
  const auto set = load_policy_or_throw(file, true);
  const uint16_t tag = tenant_value(set, tenant);
  const auto rs = build_classifier(set);
  std::vector<uint32_t> result;
  classify_batch(*rs, tuples, tag, result);
  // A rule with names decides as the dataplane does when it has seen no
  // DNS answer and no server name for the flow.
  if (const auto* nm = rs->names())
    for (size_t i = 0; i < result.size(); ++i)
      if (result[i] != dataplane::kNoRule && (nm->fqdn_bit(result[i]) != dataplane::names::PolicyNames::kNoBit ||
                                              nm->sni_bit(result[i]) != dataplane::names::PolicyNames::kNoBit))
        result[i] = decide_with_names(*rs, to_flow(tuples[i]), tag, {}, {}).rule;
  std::string out;
  out.reserve(tuples.size() * 12);
  for (uint32_t rule : result) {
    const bool allow = rs->allows(rule);
    if (json) {
      out += json_text({{"verdict", allow ? "allow" : "deny"},
                        {"rule", rule == dataplane::kNoRule ? Json() : Json(rule_id(set, rule))}});
      out += '\n';
    } else {
      out += allow ? "allow " : "deny ";
      out += rule_id(set, rule);
      out += '\n';
    }
  }
  std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
  return kExitOk;
}

int eval_pcap(const std::string& file, const std::string& in, const std::string& pass_out,
              const std::string& drop_out, const std::string& tenant, bool json) {
  const auto set = load_policy_or_throw(file, true);
  const uint16_t tag = tenant_value(set, tenant);
  const auto rs = build_classifier(set);
  common::PcapReader reader;
  std::string open_error;
  if (!reader.open(in, open_error)) throw UsageError(open_error);
  pcap_t* p = reader.handle();
  // The capture's records go to --pass/--drop files, in its own link type,
  // as they are judged; each file is put in place only when the whole
  // capture was read.
  common::OutputFile pass_file, drop_file;
  auto open_dump = [&](const std::string& path, common::OutputFile& f) -> pcap_dumper_t* {
    if (path.empty()) return nullptr;
    std::string error;
    FILE* stream = nullptr;
    if (f.open(path, error)) {
      const int fd = ::dup(f.fd());
      stream = fd < 0 ? nullptr : ::fdopen(fd, "wb");
      if (stream == nullptr && fd >= 0) ::close(fd);
    }
    pcap_dumper_t* d = stream ? pcap_dump_fopen(p, stream) : nullptr;
    if (d == nullptr) {
      if (stream) std::fclose(stream);
      throw UsageError(error.empty() ? "cannot write " + path : error);
    }
    return d;
  };
  pcap_dumper_t* pass_d = open_dump(pass_out, pass_file);
  pcap_dumper_t* drop_d = nullptr;
  try {
    drop_d = open_dump(drop_out, drop_file);
  } catch (...) {
    if (pass_d) pcap_dump_close(pass_d);
    throw;
  }
  std::vector<uint64_t> hits(static_cast<size_t>(set.rules_size()) + 1, 0);
  std::map<std::string, uint64_t> malformed;
  std::optional<CaptureNames> names;
  if (rs->names()) names.emplace(*rs);
  uint64_t total = 0, allowed = 0, denied = 0, non_ip = 0, unreadable = 0;
  common::CaptureRecord rec;
  common::PcapReader::Next next;
  while ((next = reader.next(rec)) == common::PcapReader::Next::record) {
    ++total;
    if (rec.l3.link != common::LinkRead::ok) {  // no packet to judge: in neither file
      ++unreadable;
      continue;
    }
    if (names) names->feed(rec);  // what this packet answers or says is known when it is judged
    dataplane::PacketMeta m;
    dataplane::parse_ip_packet(rec.packet(), rec.packet_caplen(), rec.l3.ethertype, m);
    bool pass;
    if (m.kind == dataplane::PacketKind::non_ip) {
      ++non_ip;
      pass = true;
    } else if (m.kind == dataplane::PacketKind::drop) {
      ++malformed[dataplane::drop_reason_name(m.drop_reason)];
      pass = false;
    } else {
      const uint32_t rule =
          names ? decide_with_bits(
                      *rs, m.tuple, tag, [&] { return names->fqdn_bits(m.tuple); }, [&] { return names->sni_bits(m.tuple); })
                      .rule
                : rs->classify(m.tuple, tag);
      ++hits[rule == dataplane::kNoRule ? hits.size() - 1 : rule];
      pass = rs->allows(rule);
      ++(pass ? allowed : denied);
    }
    pcap_dumper_t* d = pass ? pass_d : drop_d;
    if (d) pcap_dump(reinterpret_cast<u_char*>(d), rec.header, rec.data);
  }
  if (pass_d) pcap_dump_close(pass_d);
  if (drop_d) pcap_dump_close(drop_d);
  if (next == common::PcapReader::Next::error) throw UsageError(reader.error());
  std::string error;
  if ((!pass_out.empty() && !pass_file.commit(error)) || (!drop_out.empty() && !drop_file.commit(error)))
    throw UsageError(error);
  uint64_t bad = 0;
  for (const auto& [k, v] : malformed) bad += v;
  if (json) {
    Json j{{"packets", total}, {"allowed", allowed}, {"denied", denied}, {"non_ip", non_ip},
           {"link_unreadable", unreadable}};
    if (names) j["names"] = {{"bound", names->bound()}, {"hellos", names->hellos()}};
    j["malformed"] = Json::object();
    for (const auto& [k, v] : malformed) j["malformed"][k] = v;
    j["rules"] = Json::array();
    for (size_t i = 0; i < hits.size(); ++i) {
      const bool dflt = i + 1 == hits.size();
      j["rules"].push_back({{"rule", dflt ? Json() : Json(set.rules(static_cast<int>(i)).id())}, {"hits", hits[i]}});
    }
    std::cout << json_text(j) << '\n';
  } else {
    std::cout << total << " packets: " << allowed << " allowed, " << denied << " denied, " << non_ip
              << " non-IP (forwarded), " << bad << " malformed (dropped)";
    if (unreadable > 0) std::cout << ", " << unreadable << " with a link header that cannot be read (skipped)";
    std::cout << '\n';
    if (names)
      std::cout << "names: " << names->bound() << " bindings from trusted resolvers' answers, " << names->hellos()
                << " server names read\n";
    for (const auto& [k, v] : malformed) std::cout << "  malformed " << k << ": " << v << '\n';
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < hits.size(); ++i) {
      if (hits[i] == 0) continue;
      const bool dflt = i + 1 == hits.size();
      rows.push_back({dflt ? "(default)" : set.rules(static_cast<int>(i)).id(),
                      (dflt ? set.default_action() : set.rules(static_cast<int>(i)).action()) == pb::ACTION_ALLOW
                          ? "allow"
                          : "deny",
                      std::to_string(hits[i])});
      if (rs->names()) {
        const std::string n = dflt ? "" : names_of(set.rules(static_cast<int>(i)));
        rows.back().push_back(n.empty() ? "-" : n);
      }
    }
    if (rs->names()) print_table(std::cout, {"rule", "action", "packets", "names"}, rows);
    else print_table(std::cout, {"rule", "action", "packets"}, rows);
  }
  return kExitOk;
}

int cmd_eval(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string file, tuples, pcap_in, pass, drop, tenant;
  o.add_options()("file", po::value(&file)->required(), "the policy file (the first argument; required)")(
      "tuples", po::value(&tuples),
      "file of lines 'PROTO SRC SPORT DST DPORT' (- for stdin); this or --pcap is required")(
      "pcap", po::value(&pcap_in), "capture to evaluate (pcap or pcapng, plain or gzip); this or --tuples is required")(
      "pass", po::value(&pass), "with --pcap: write what would pass to this capture (none by default)")(
      "drop", po::value(&drop), "with --pcap: write what would be dropped to this capture (none by default)")(
      "tenant", po::value(&tenant),
      "judge the traffic as of this tenant of the policy (one-armed insertion; by default none: as inline traffic)")(
      "json", "machine-readable output");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
             "usage: bulkhead policy eval FILE --tuples FILE|- [--tenant NAME] [--json]\n"
             "       bulkhead policy eval FILE --pcap IN.pcap [--pass OUT.pcap] [--drop OUT.pcap] [--tenant NAME] "
             "[--json]\n\n"
             "Without --tenant the traffic is judged as inline traffic is (the shared rules); with it, as traffic "
             "under that tenant (its rules, then the shared ones).\n"
             "--tuples prints one line per input line: 'allow RULE_ID' or 'deny RULE_ID' ('-' when the default "
             "decided).\n--pcap judges every packet with the dataplane's parser and classifier (stateless: the "
             "dataplane also passes replies of allowed connections). Rules written with names are judged by the capture's own "
             "DNS answers and ClientHellos, in capture order, as the dataplane binds them (--tuples: as for flows whose "
             "answers and server names were not seen). A capture is pcap or pcapng, plain or gzip-compressed, "
             "of Ethernet, raw IP, Linux cooked (v1, v2) or BSD loopback; --pass and --drop keep its link type."))
    return kExitOk;
  if (tuples.empty() == pcap_in.empty()) throw UsageError("policy eval: give exactly one of --tuples or --pcap");
  if (!tuples.empty() && (!pass.empty() || !drop.empty())) throw UsageError("--pass and --drop go with --pcap");
  if (vm.count("tenant") && tenant.empty()) throw UsageError("--tenant: give a tenant's name");
  return tuples.empty() ? eval_pcap(file, pcap_in, pass, drop, tenant, vm.count("json") > 0)
                        : eval_tuples(file, tuples, tenant, vm.count("json") > 0);
}

// --- import-classbench -----------------------------------------------------------

int cmd_import_classbench(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string file, out;
  o.add_options()("file", po::value(&file)->required(), "the ClassBench filter set (the first argument; required)")(
      "output,o", po::value(&out), "write the policy to FILE (default: standard output)")(
      "json", "with -o: print a JSON summary");
  po::variables_map vm;
  if (!parse_command(args, o, vm, "usage: bulkhead policy import-classbench FILE [-o OUT]\n\nConverts a ClassBench filter "
                          "set into a policy: order kept, rules r1, r2, ... all allow, default deny."))
    return kExitOk;
  if (out.empty() && vm.count("json")) throw UsageError("--json goes with -o (the policy itself is on standard output)");
  const std::string policy = classbench_to_policy(read_input(file), file);
  if (out.empty()) {
    std::cout << policy;
    return kExitOk;
  }
  write_file_atomic(out, policy);
  const auto rules = static_cast<size_t>(std::count(policy.begin(), policy.end(), '\n')) - 5;
  if (vm.count("json"))
    std::cout << json_text({{"ok", true}, {"source", file}, {"output", out}, {"rules", rules}}) << '\n';
  return kExitOk;
}

}  // namespace

void register_policy_commands() {
  auto& r = registry();
  r.push_back({"policy", "validate", "check a policy file (errors with file:line:column)", cmd_validate});
  r.push_back({"policy", "explain", "verdict for one flow, the deciding rule and why others did not match",
               cmd_explain});
  r.push_back({"policy", "eval", "verdicts for tuple lines or a capture, with the dataplane's classifier", cmd_eval});
  r.push_back({"policy", "import-classbench", "convert a ClassBench filter set into a policy", cmd_import_classbench});
}

}  // namespace bulkhead::cli
