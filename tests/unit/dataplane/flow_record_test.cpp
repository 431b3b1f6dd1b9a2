// Flow events on the ring (dataplane/flow_record.h): an event's note packed
// into the slots after it, and the record made from the two.
#include <gtest/gtest.h>

#include <string>

#include "dataplane/flow_record.h"

namespace bulkhead::dataplane {
namespace {

pb::FlowRecord record_of(const FlowEvent& ev, const NameNote* note) {
  pb::FlowRecord r;
  make_flow_record(ev, note, nullptr, 1000, 1'000'000, r);
  return r;
}

FlowEvent event() {
  FlowEvent ev{};
  ev.tuple.family = 4;
  ev.kind = pb::FlowRecord::START;
  return ev;
}

TEST(FlowEvent, AnEventWithoutNamesIsOneSmallSlot) {
  // The ring holds flow_ring of these per worker: what every event costs.
  EXPECT_LE(sizeof(FlowEvent), 96u);
  const auto r = record_of(event(), nullptr);
  EXPECT_TRUE(r.dns_name().empty());
  EXPECT_TRUE(r.sni().empty());
  EXPECT_TRUE(r.name_reason().empty());
}

TEST(FlowEvent, AUsualNameTakesOneSlotAndComesBackWhole) {
  NameNote note;
  note.set(NameOutcome::bound, "api.stripe.com", 12);
  FlowEvent slots[kMaxNoteSlots];
  ASSERT_EQ(pack_note(note, slots), 1u);
  NameNote back;
  ASSERT_TRUE(unpack_note(slots, 1, back));
  const auto r = record_of(event(), &back);
  EXPECT_EQ(r.dns_name(), "api.stripe.com");
  EXPECT_EQ(r.dns_age_s(), 12u);
  EXPECT_EQ(r.name_reason(), "answered for api.stripe.com 12 s before");
  EXPECT_TRUE(r.sni().empty());
}

TEST(FlowEvent, TheLongestNamesFillTheMostSlots) {
  const std::string name(names::kMaxNameText, 'n'), sni(255, 's');
  NameNote note;
  note.set(NameOutcome::not_allowed, name, 70000);
  note.set_sni(sni, true);
  FlowEvent slots[kMaxNoteSlots];
  const unsigned used = pack_note(note, slots);
  EXPECT_EQ(used, kMaxNoteSlots);
  NameNote back;
  ASSERT_TRUE(unpack_note(slots, used, back));
  const auto r = record_of(event(), &back);
  EXPECT_EQ(r.dns_name(), name);
  EXPECT_EQ(r.dns_age_s(), 70000u);
  EXPECT_EQ(r.sni(), sni);
  EXPECT_EQ(r.name_reason(), "answered for " + name + ", not allowed");
  // Fewer slots than the note says it fills: no note, never a cut name.
  EXPECT_FALSE(unpack_note(slots, used - 1, back));
  EXPECT_FALSE(unpack_note(slots, 0, back));
}

TEST(FlowEvent, AServerNameAloneSaysWhyItWasCut) {
  NameNote note;
  note.set_sni("evil.example", true);
  FlowEvent slots[kMaxNoteSlots];
  NameNote back;
  ASSERT_TRUE(unpack_note(slots, pack_note(note, slots), back));
  const auto r = record_of(event(), &back);
  EXPECT_EQ(r.sni(), "evil.example");
  EXPECT_TRUE(r.dns_name().empty());
  EXPECT_EQ(r.name_reason(), "server name evil.example, not allowed");
}

}  // namespace
}  // namespace bulkhead::dataplane
