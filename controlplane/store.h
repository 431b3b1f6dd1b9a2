// The policy store: every applied policy is a numbered generation kept with
// its source text, its compiled form, who applied it, when and with what
// message. Generations only grow; a rollback is a new generation with an
// old one's content. PolicyStore numbers, compiles, rolls back and diffs;
// where generations live is its backend's business:
//  - a directory (the default, one controller): each generation one file
//    written atomically (temporary file, fsync, rename), and an append-only
//    audit log (one JSON line per change, mode 0640: never world-readable);
//  - etcd (controlplane/etcd_store.h): several controllers share it, the
//    leader writes, each change one transaction fenced on its leadership.
//
// Thread-safety: one PolicyStore per backend and process; callers
// serialise access (the control plane's main loop owns it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/bulkhead.pb.h"
#include "rules/diagnostic.h"

namespace bulkhead::controlplane {

struct GenerationSummary {
  uint64_t number = 0;
  int64_t applied_at = 0;
  std::string author;
  std::string message;
  std::string sha256;
  uint32_t rules = 0;
  uint64_t rollback_of = 0;
  std::string claimed_author;
  uint64_t renumbered_from = 0;
  std::string request_id;  // the change request's id ("": none)
};

// Who made a change beyond its authenticated author, and how to number it.
struct ChangeOptions {
  std::string claimed_author;  // what the client said of itself, kept beside the author
  // The new generation is numbered past this one too (0: just the next
  // one): a store behind its dataplanes numbers past what they run.
  uint64_t number_past = 0;
  // The request's id (common/request_id.h), kept with the generation; ""
  // for none. An id a stored generation already holds is refused.
  std::string request_id;
};

// What changed between two generations, rule by rule.
struct PolicyDiff {
  std::vector<std::string> added;    // rule ids
  std::vector<std::string> removed;
  std::vector<std::string> changed;  // same id, different match or action
  std::vector<std::string> moved;    // same rule, other position relative to the rest
  bool defaults_changed = false;
  std::vector<std::string> segments_changed;
  std::string source_diff;           // line diff of the sources ("-"/"+" lines)

  // The lists, one line each, then the source diff.
  std::string text() const;
};

// The difference between two policies (their sources and compiled forms).
PolicyDiff diff_policies(const pb::StoredGeneration& from, const pb::StoredGeneration& to);

// A CLI request that changes the store (apply, rollback, renumber): the
// kind that carries a request id, and that only a leader takes.
bool changes_store(const pb::CliRequest& req);

// The audit record of a generation: one JSON object on one line (with its
// newline), the same in the file store's audit log and in etcd.
std::string audit_line(const pb::StoredGeneration& g);
// The summary an audit record holds; false when it is not one.
bool parse_audit_line(std::string_view line, GenerationSummary& out);

// Where generations are kept. Calls come from the PolicyStore's owner only.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // Every generation's summary, oldest first, and the current generation.
  // What cannot be read goes to `warnings` and is skipped.
  virtual bool load(std::vector<GenerationSummary>& index, uint64_t& current, std::vector<std::string>* warnings,
                    std::string& error) = 0;
  virtual std::optional<pb::StoredGeneration> read(uint64_t number) const = 0;
  // Stores `g` with its audit record as the current generation, provided
  // the current one is still `expected_current`; otherwise stores nothing
  // and says why in `error`.
  virtual bool write(const pb::StoredGeneration& g, uint64_t expected_current, std::string& error) = 0;
  // How logs and status name it (a path, an etcd URL).
  virtual std::string describe() const = 0;
};

// The file store in `dir`, created if needed; nullptr with `error`.
std::unique_ptr<StoreBackend> open_file_backend(const std::string& dir, std::string& error);

class PolicyStore {
 public:
  // Opens (creating if needed) the file store in `dir`. Files that cannot
  // be read are reported in `warnings` and skipped; they never stop the
  // store.
  static std::unique_ptr<PolicyStore> open(const std::string& dir, std::string& error,
                                           std::vector<std::string>* warnings = nullptr);
  // A store over any backend, read once now.
  static std::unique_ptr<PolicyStore> open(std::unique_ptr<StoreBackend> backend, std::string& error,
                                           std::vector<std::string>* warnings = nullptr);

  // Reads the index and the current generation again: another controller
  // may have written since (a standby, a new leader, a refused write).
  bool refresh(std::string& error, std::vector<std::string>* warnings = nullptr);

  // Validates and compiles `source`; when it is valid, stores it as the next
  // generation (its compiled form carries that number) and returns it.
  // Invalid sources return their diagnostics and store nothing.
  // `author` is the authenticated author.
  rules::Result<pb::StoredGeneration> apply(std::string_view source, std::string_view source_name,
                                            std::string_view author, std::string_view message,
                                            const ChangeOptions& options = {});
  // Stores the content of generation `number` as a new generation.
  rules::Result<pb::StoredGeneration> rollback(uint64_t number, std::string_view author, std::string_view message,
                                               const ChangeOptions& options = {});
  // Stores the current generation's content again as generation `past` + 1
  // (when that is beyond the current one): the store numbers past a
  // generation its dataplanes run. Fails on an empty store.
  rules::Result<pb::StoredGeneration> renumber(uint64_t past, std::string_view author, std::string_view message,
                                               const ChangeOptions& options = {});

  uint64_t current() const { return current_; }
  // The stored generation made by the request with this id, or null. Every
  // generation the store holds is looked at, through a map kept with the
  // index (its memory is the history's, its cost one lookup); a generation
  // another writer stored since the last read is not seen here, but a
  // write on that stale view fails and reads the store again (the backends
  // compare the current generation), so an id is never stored twice.
  const GenerationSummary* find_request(std::string_view id) const;
  std::optional<pb::StoredGeneration> get(uint64_t number) const;
  std::vector<GenerationSummary> history() const;
  std::optional<PolicyDiff> diff(uint64_t from, uint64_t to) const;

  StoreBackend& backend() { return *backend_; }

 private:
  PolicyStore() = default;
  rules::Result<pb::StoredGeneration> store(std::string_view source, std::string_view source_name,
                                            std::string_view author, std::string_view message, uint64_t rollback_of,
                                            uint64_t renumbered_from, const ChangeOptions& options);

  std::unique_ptr<StoreBackend> backend_;
  uint64_t current_ = 0;
  std::vector<GenerationSummary> index_;
  std::map<std::string, size_t, std::less<>> requests_;  // request id -> its position in index_
};

}  // namespace bulkhead::controlplane
