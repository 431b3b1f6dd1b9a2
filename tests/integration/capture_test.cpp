// Packet capture on the fast path (dataplane/capture.h), in one process:
// an armed filter copies exactly the packets it names, with the rule that
// decided and the drop reason, after every stage has settled them; the
// rate and a full ring cost copies, counted, never packets; a reload keeps
// a rule filter on the rule's id; disarmed, nothing is copied.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/protocols.h"
#include "tests/common/packet_builder.h"
#include "tests/integration/harness.h"

namespace bulkhead::test {
namespace {

using dataplane::CaptureFilter;
using dataplane::CaptureRecord;
using dataplane::DropReason;
using dataplane::WorkerCounter;

const char* kPolicy = R"(version: 1
defaults: { action: deny, mode: enforce }
segments:
  web: [10.0.1.0/24]
  app: [10.0.2.0/24]
rules:
  - { id: web-dns, from: web, to: app, proto: udp, ports: [53], action: allow }
  - { id: no-telnet, from: web, to: app, proto: tcp, ports: [23], action: deny }
)";

Frame dns(uint16_t sport) {
  return build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = sport, .dport = 53});
}
Frame telnet() {
  return build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoTcp, .sport = 40001, .dport = 23});
}
Frame other_port() {
  return build_packet({.src = "10.0.1.5", .dst = "10.0.2.9", .proto = common::kProtoUdp, .sport = 40002, .dport = 9999});
}

uint32_t rule_index(Harness& h, const std::string& id) {
  const auto& rules = h.engine().rules().acquire()->rules();
  for (uint32_t k = 0; k < rules.size(); ++k)
    if (rules[k].id == id) return k;
  return dataplane::kCaptureNoMatch;
}

uint32_t epoch(Harness& h) { return h.engine().rules().acquire()->epoch(); }

CaptureFilter filter(bool drops_only, uint32_t rate = 1000) {
  CaptureFilter f;
  f.drops_only = drops_only;
  f.count = 1000;
  f.rate = rate;
  return f;
}

// Everything on the rings, as the capture thread takes it (a few at a time).
std::vector<CaptureRecord> drain(Harness& h) {
  std::vector<CaptureRecord> out(dataplane::kCaptureRing * 2);
  size_t n = 0;
  while (size_t got = h.engine().capture().drain(out.data() + n, out.size() - n)) n += got;
  out.resize(n);
  return out;
}

TEST(Capture, DropsFilterCopiesEachDropWithItsRuleAndReason) {
  Harness h(kPolicy);
  ASSERT_TRUE(h.loaded()) << h.error();
  h.engine().capture().arm(filter(true), epoch(h), dataplane::kCaptureNoMatch);
  const Frame cut = truncated(dns(40003), 14 + 10);
  for (const Frame& f : {dns(40000), telnet(), other_port(), cut}) h.send(0, f);
  h.run();
  EXPECT_EQ(h.received(1).size(), 1u) << "the capture changes no verdict";
  const auto recs = drain(h);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].rule, rule_index(h, "no-telnet"));
  EXPECT_EQ(recs[0].reason, static_cast<uint8_t>(DropReason::policy_deny));
  EXPECT_EQ(recs[1].rule, dataplane::kNoRule) << "the default action";
  EXPECT_EQ(recs[2].rule, dataplane::kCaptureNoRule) << "a malformed packet: no rule judged it";
  EXPECT_EQ(recs[2].reason, static_cast<uint8_t>(DropReason::truncated_ipv4));
  const Frame t = telnet();
  EXPECT_EQ(recs[0].length, t.size());
  EXPECT_EQ(std::vector<uint8_t>(recs[0].data, recs[0].data + recs[0].caplen), t);
  for (const auto& r : recs) {
    EXPECT_EQ(r.dropped, 1);
    EXPECT_EQ(r.epoch, epoch(h));
  }
  EXPECT_EQ(h.events(WorkerCounter::captured), 3u);
  h.engine().capture().disarm(h.engine().qsbr());
}

TEST(Capture, RuleFilterCopiesFirstPacketsAndHitsOfThatRule) {
  Harness h(kPolicy);
  ASSERT_TRUE(h.loaded()) << h.error();
  CaptureFilter f = filter(false);
  f.rule = "web-dns";
  h.engine().capture().arm(f, epoch(h), rule_index(h, "web-dns"));
  h.send(0, dns(40000));  // opens the connection
  h.send(0, telnet());
  h.run();
  h.send(0, dns(40000));  // a hit, in a later burst
  h.run();
  EXPECT_EQ(h.received(1).size(), 2u);
  const auto recs = drain(h);
  ASSERT_EQ(recs.size(), 2u);
  for (const auto& r : recs) {
    EXPECT_EQ(r.rule, rule_index(h, "web-dns"));
    EXPECT_EQ(r.dropped, 0);
  }
  h.engine().capture().disarm(h.engine().qsbr());
}

TEST(Capture, RuleFilterFollowsTheIdAcrossAReload) {
  Harness h(kPolicy);
  ASSERT_TRUE(h.loaded()) << h.error();
  CaptureFilter f = filter(false);
  f.rule = "no-telnet";
  const uint32_t old_epoch = epoch(h);
  h.engine().capture().arm(f, old_epoch, rule_index(h, "no-telnet"));
  // The rules change places: the capture thread has not looked yet, so the
  // workers compare the id.
  ASSERT_TRUE(h.reload(R"(version: 1
defaults: { action: deny, mode: enforce }
rules:
  - { id: no-telnet, proto: tcp, ports: [23], action: deny }
  - { id: web-dns, proto: udp, ports: [53], action: allow }
)"));
  ASSERT_NE(epoch(h), old_epoch);
  h.send(0, dns(40000));
  h.send(0, telnet());
  h.run();
  const auto recs = drain(h);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].rule, rule_index(h, "no-telnet"));
  EXPECT_EQ(recs[0].epoch, epoch(h));
  h.engine().capture().disarm(h.engine().qsbr());
}

TEST(Capture, AFullRingLosesTheCopyNeverThePacket) {
  Harness h(kPolicy);
  ASSERT_TRUE(h.loaded()) << h.error();
  h.engine().capture().arm(filter(false, dataplane::kCaptureMaxRate), epoch(h), dataplane::kCaptureNoMatch);
  constexpr unsigned kSent = dataplane::kCaptureRing + 64;
  size_t out = 0;
  for (unsigned k = 0; k < kSent; ++k) {
    h.send(0, dns(static_cast<uint16_t>(20000 + k)));
    if (k % 32 == 31) {
      h.run();
      out += h.received(1).size();
    }
  }
  h.run();
  out += h.received(1).size();
  EXPECT_EQ(out, kSent);
  EXPECT_EQ(h.events(WorkerCounter::captured), dataplane::kCaptureRing);
  EXPECT_EQ(h.events(WorkerCounter::capture_lost), kSent - dataplane::kCaptureRing);
  EXPECT_EQ(drain(h).size(), dataplane::kCaptureRing);
  h.engine().capture().disarm(h.engine().qsbr());
}

TEST(Capture, OverTheRateMatchesAreCountedNotCopied) {
  Harness h(kPolicy);
  ASSERT_TRUE(h.loaded()) << h.error();
  // One copy a second: a new capture starts with one burst's allowance.
  h.engine().capture().arm(filter(false, 1), epoch(h), dataplane::kCaptureNoMatch);
  for (unsigned k = 0; k < 96; ++k) h.send(0, dns(static_cast<uint16_t>(20000 + k)));
  h.run();
  const uint64_t copied = h.events(WorkerCounter::captured);
  EXPECT_GE(copied, 32u);
  EXPECT_LE(copied, 34u);
  EXPECT_EQ(copied + h.events(WorkerCounter::capture_over_rate), 96u);
  h.engine().capture().disarm(h.engine().qsbr());
}

TEST(Capture, DisarmedCopiesNothingAndDisarmEmptiesTheRings) {
  Harness h(kPolicy);
  ASSERT_TRUE(h.loaded()) << h.error();
  h.send(0, telnet());
  h.run();
  EXPECT_EQ(h.events(WorkerCounter::captured), 0u);
  h.engine().capture().arm(filter(true), epoch(h), dataplane::kCaptureNoMatch);
  h.send(0, telnet());
  h.run();
  EXPECT_EQ(h.events(WorkerCounter::captured), 1u);
  h.engine().capture().disarm(h.engine().qsbr());
  EXPECT_TRUE(drain(h).empty());
  h.send(0, telnet());
  h.run();
  EXPECT_EQ(h.events(WorkerCounter::captured), 1u);
  EXPECT_TRUE(drain(h).empty());
}

}  // namespace
}  // namespace bulkhead::test
