// The policy store in etcd, for several controllers sharing one store
// (docs/ha.md). Under the prefix P:
//   P/current                     the current generation's number (decimal)
//   P/audit/NNNNNNNNNNNN          its audit record (store.h's audit_line):
//                                 the history is a range over P/audit/
//   P/generations/NNNNNNNNNNNN    how the generation is stored: JSON
//                                 {"encoding":"zlib","chunks":C,"bytes":B,
//                                  "stored_bytes":S,"sha256":H}
//   P/generations/NNNNNNNNNNNN/CCCC  the zlib-compressed StoredGeneration,
//                                 cut in chunks of at most kChunkBytes
//   P/leader, P/controllers/ID    leadership (controlplane/leadership.h)
// A change is one transaction that puts the audit record, the header and
// P/current, and succeeds only if P/leader is still the key this
// controller created when it was elected (its create revision is the
// term: a deposed leader's write fails) and P/current still holds the
// number the change was made from (numbers stay monotonic across
// leaders). etcd refuses a request over --max-request-bytes (1.5 MiB by
// default): a compressed set that fits one chunk travels inside that
// transaction; a larger one is written first, one fenced transaction a
// chunk, and is part of the store only once the header naming it is
// committed (a failed change leaves unreferenced chunks that the next
// change of that number overwrites).
//
// Thread-safety: as PolicyStore's backend, its owner's thread only.
#pragma once

#include <memory>
#include <string>

#include "controlplane/etcd_client.h"
#include "controlplane/store.h"

namespace bulkhead::controlplane {

class EtcdBackend final : public StoreBackend {
 public:
  // Compressed bytes a chunk holds at most: with base64 and the rest of a
  // transaction, a request stays well under etcd's 1.5 MiB default.
  static constexpr size_t kChunkBytes = 768 * 1024;

  explicit EtcdBackend(const EtcdTarget& target);

  // Writes are fenced on the leader key created at revision `term` (the
  // leader's term); 0: this controller does not lead and writes fail.
  void set_term(int64_t term) { term_ = term; }
  int64_t term() const { return term_; }

  bool load(std::vector<GenerationSummary>& index, uint64_t& current, std::vector<std::string>* warnings,
            std::string& error) override;
  std::optional<pb::StoredGeneration> read(uint64_t number) const override;
  bool write(const pb::StoredGeneration& g, uint64_t expected_current, std::string& error) override;
  std::string describe() const override;

  static std::string leader_key(const std::string& prefix) { return prefix + "/leader"; }
  static std::string current_key(const std::string& prefix) { return prefix + "/current"; }
  const std::string& prefix() const { return target_.prefix; }

 private:
  std::string key(const char* what, uint64_t number) const;

  EtcdTarget target_;
  mutable EtcdClient client_;
  int64_t term_ = 0;
};

}  // namespace bulkhead::controlplane
