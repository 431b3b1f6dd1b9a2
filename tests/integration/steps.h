// Stateful engine cases as tables of named steps: each step is one frame
// arriving on a port, whether it leaves by the other port, and how far the
// counters it names move. A step may first move the clock or reload the
// policy. A failing step names itself.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/harness.h"

namespace bulkhead::test {

struct Step {
  const char* name;
  int port;    // where the frame arrives: 0 or 1
  Frame frame;
  bool pass;   // leaves by the other port
  // Counters that move with this step, by how much (others are not checked).
  std::vector<std::pair<dataplane::WorkerCounter, uint64_t>> events = {};
  // Drops this step adds, by reason; a step that does not pass names one.
  std::vector<std::pair<dataplane::DropReason, uint64_t>> drops = {};
  int64_t advance_ms = 0;         // the clock moved first
  const char* reload = nullptr;   // a policy loaded first (as SIGHUP does)
};

inline void run_steps(Harness& h, const std::vector<Step>& steps) {
  ASSERT_TRUE(h.loaded()) << h.error();
  for (const Step& s : steps) {
    SCOPED_TRACE(std::string("step \"") + s.name + "\"");
    if (s.reload != nullptr) {
      std::string error;
      ASSERT_TRUE(h.reload(s.reload, &error)) << error;
    }
    if (s.advance_ms != 0) h.engine().clock().advance(s.advance_ms);
    if (!s.pass) {
      EXPECT_FALSE(s.drops.empty()) << "a step that drops names the reason";
    }
    std::vector<uint64_t> events, drops;
    for (const auto& [c, n] : s.events) events.push_back(h.events(c));
    for (const auto& [r, n] : s.drops) drops.push_back(h.drops(r));
    EXPECT_EQ(h.pass(s.port, s.frame).size(), s.pass ? 1u : 0u) << (s.pass ? "should pass" : "should drop");
    for (size_t k = 0; k < s.events.size(); ++k)
      EXPECT_EQ(h.events(s.events[k].first) - events[k], s.events[k].second)
          << dataplane::worker_counter_name(s.events[k].first);
    for (size_t k = 0; k < s.drops.size(); ++k)
      EXPECT_EQ(h.drops(s.drops[k].first) - drops[k], s.drops[k].second)
          << "drops: " << dataplane::drop_reason_name(s.drops[k].first);
  }
}

}  // namespace bulkhead::test
