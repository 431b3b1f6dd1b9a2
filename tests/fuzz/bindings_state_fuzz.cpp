// The name bindings a dataplane keeps in its state directory, read back at
// start: whatever the file holds, every entry is restored, found expired or
// refused, nothing crashes, and what was restored saves and restores again
// to the same bindings.
#include <cstdint>
#include <cstdlib>

#include "dataplane/names/bindings.h"
#include "proto/names.pb.h"

using namespace bulkhead;
using dataplane::names::BindingTable;

namespace {

dataplane::KeyedHash hash() {
  const uint64_t secrets[6] = {1, 2, 3, 4, 5, 6};
  return dataplane::KeyedHash::with_secrets(secrets);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pb::NameBindings state;
  if (!state.ParseFromArray(data, int(size))) return 0;
  const BindingTable::Limits limits{.bindings = 64, .names = 16, .max_addresses_per_name = 8};
  BindingTable table(limits, hash());
  const uint32_t now = 1000;
  const int64_t now_unix = 1'800'000'000;
  const auto r = table.restore(state, now, now_unix);
  if (r.restored + r.expired + r.refused + r.not_bound != uint32_t(state.bindings_size())) std::abort();
  if (table.live_bindings() > table.bucket_count() * BindingTable::kSlotsPerBucket || table.live_names() > limits.names)
    std::abort();
  pb::NameBindings saved;
  table.save(now, now_unix, saved);
  if (uint32_t(saved.bindings_size()) != table.live_bindings()) std::abort();
  BindingTable again(limits, hash());
  const auto r2 = again.restore(saved, now, now_unix);
  if (r2.refused != 0 || r2.expired != 0 || again.live_bindings() != table.live_bindings()) std::abort();
  return 0;
}
