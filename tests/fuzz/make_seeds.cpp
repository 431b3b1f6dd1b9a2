// Writes the seed corpora of the fuzz targets, one file per input in
// OUT_DIR: frames built with the same packet builder as the golden cases
// (packet); control-channel pushes of a policy and of changes between its
// versions, as the control plane makes them (push); the dataplanes'
// Hello, Ack and Nack messages (dataplane).
// usage: make_seeds packet OUT_DIR | push OUT_DIR POLICY.yaml | dataplane OUT_DIR
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "controlplane/rule_change.h"
#include "proto/bulkhead.pb.h"
#include "rules/load.h"
#include "tests/common/packet_builder.h"

using namespace bulkhead;
using namespace bulkhead::test;

namespace {

std::vector<Frame> packet_seeds() {
  const Frame syn = build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 41000,
                                  .dport = 5432});
  std::vector<Frame> v = {
      syn,
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = 5353, .dport = 53,
                    .payload_len = 32}),
      build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoTcp, .sport = 1, .dport = 443,
                    .ipv6_ext = {{0, 8}, {43, 16}, {60, 8}}}),
      build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoIcmpv6, .icmp_type = 128}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoIcmp, .icmp_type = 8}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoSctp, .sport = 1, .dport = 2}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .vlans = {7, 8}}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .ipv4_options_len = 8}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .payload_len = 64,
                    .more_fragments = true}),
      build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .payload_len = 64,
                    .fragment_offset = 72}),
      build_packet({.src = "fd00:1::5", .dst = "fd00:2::9", .proto = common::kProtoUdp, .payload_len = 64,
                    .ipv6_ext = {{44, 8}}, .more_fragments = true}),
      build_packet({.src = "10.0.2.9", .dst = "10.0.1.5", .proto = common::kProtoIcmp, .icmp_type = 3, .icmp_code = 1,
                    .quote = &syn}),
      arp_request("10.0.1.5", "10.0.2.9"),
  };
  return v;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string push_message(const pb::PushRuleSet& push) {
  pb::ControlMessage m;
  m.set_version(1);
  *m.mutable_push() = push;
  return m.SerializeAsString();
}

// The policy whole (generation 6, the fuzz target runs 5), and changes of it:
// a rule dropped, a rule added, the rules reversed.
std::vector<std::string> push_seeds(const std::string& policy_path) {
  std::vector<std::string> out;
  const std::string text = read_text(policy_path);
  auto whole = rules::load_policy(text, "lab-policy.yaml");
  if (!whole.ok()) return out;
  pb::CompiledRuleSet base = *whole.value;
  base.set_generation(5);
  pb::PushRuleSet p;
  *p.mutable_rule_set() = base;
  p.mutable_rule_set()->set_generation(6);
  out.push_back(push_message(p));
  auto changed = [&](pb::CompiledRuleSet next) {
    next.set_generation(6);
    pb::PushRuleSet c;
    if (controlplane::make_change(base, controlplane::encode_rules(base), next, controlplane::encode_rules(next), c))
      out.push_back(push_message(c));
  };
  pb::CompiledRuleSet fewer = base;
  if (fewer.rules_size() > 1) fewer.mutable_rules()->DeleteSubrange(1, 1);
  changed(fewer);
  pb::CompiledRuleSet more = base;
  auto* r = more.add_rules();
  *r = base.rules(0);
  r->set_id("added");
  changed(more);
  pb::CompiledRuleSet reversed = base;
  for (int i = 0, j = reversed.rules_size() - 1; i < j; ++i, --j) reversed.mutable_rules()->SwapElements(i, j);
  changed(reversed);
  return out;
}

std::vector<std::string> dataplane_seeds() {
  // The first byte is the frame count the target's decoder is told.
  std::vector<std::string> out;
  pb::ControlMessage m;
  m.set_version(1);
  m.mutable_hello()->set_dataplane_id("edge-1");
  m.mutable_hello()->set_generation(7);
  m.mutable_hello()->set_uptime_s(3600);
  out.push_back("\x01" + m.SerializeAsString());
  m.mutable_ack()->set_generation(8);
  m.mutable_ack()->set_apply_us(3200);
  m.mutable_ack()->set_sent_at_ns(123456789);
  out.push_back("\x01" + m.SerializeAsString());
  m.mutable_nack()->set_generation(9);
  m.mutable_nack()->set_running_generation(8);
  m.mutable_nack()->set_reason("generation 9 is not newer than the running 12 (replayed or reordered)");
  out.push_back("\x01" + m.SerializeAsString());
  out.push_back("\x02" + m.SerializeAsString());
  out.push_back(std::string("\x01localhost:1000:1000:4242"));
  return out;
}

bool write_all(const std::string& dir, const char* stem, const std::vector<std::string>& inputs) {
  int i = 0;
  for (const auto& s : inputs) {
    std::ofstream out(dir + "/" + stem + std::to_string(i++), std::ios::binary);
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
    if (!out) return false;
  }
  return !inputs.empty();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc >= 3 ? argv[1] : "";
  if (!((what == "packet" && argc == 3) || (what == "push" && argc == 4) || (what == "dataplane" && argc == 3))) {
    std::fprintf(stderr, "usage: make_seeds packet OUT_DIR | push OUT_DIR POLICY.yaml | dataplane OUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[2];
  ::mkdir(dir.c_str(), 0755);
  if (what == "push") return write_all(dir, "push", push_seeds(argv[3])) ? 0 : 1;
  if (what == "dataplane") return write_all(dir, "message", dataplane_seeds()) ? 0 : 1;
  int i = 0;
  for (const Frame& f : packet_seeds()) {
    std::ofstream out(dir + "/frame" + std::to_string(i++), std::ios::binary);
    out.write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size()));
    if (!out) return 1;
  }
  return 0;
}
