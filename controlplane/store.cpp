#include "controlplane/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/file_write.h"
#include "rules/load.h"

namespace bulkhead::controlplane {
namespace {

constexpr mode_t kAuditMode = 0640;

std::string audit_path(const std::string& dir) { return dir + "/audit.log"; }

std::string generation_file(const std::string& dir, uint64_t n) {
  char name[32];
  std::snprintf(name, sizeof(name), "%012llu.pb", static_cast<unsigned long long>(n));
  return dir + "/generations/" + name;
}

GenerationSummary summary(const pb::StoredGeneration& g) {
  return {g.number(),     g.applied_at(), g.author(), g.message(), g.compiled().source_sha256(),
          static_cast<uint32_t>(g.compiled().rules_size()), g.rollback_of(), g.claimed_author(),
          g.renumbered_from(), g.request_id()};
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

// A line diff from the longest common subsequence (policies are small
// enough; beyond 4,000 lines a side the diff says only that they differ).
std::string line_diff(const std::string& a, const std::string& b) {
  const auto x = lines(a), y = lines(b);
  if (x.size() > 4000 || y.size() > 4000) return "(sources too large to show a line diff)\n";
  std::vector<std::vector<uint16_t>> lcs(x.size() + 1, std::vector<uint16_t>(y.size() + 1, 0));
  for (size_t i = x.size(); i-- > 0;)
    for (size_t j = y.size(); j-- > 0;)
      lcs[i][j] = x[i] == y[j] ? static_cast<uint16_t>(lcs[i + 1][j + 1] + 1) : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::string out;
  size_t i = 0, j = 0;
  while (i < x.size() || j < y.size()) {
    if (i < x.size() && j < y.size() && x[i] == y[j]) {
      ++i;
      ++j;
    } else if (j < y.size() && (i == x.size() || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out += "+" + y[j++] + "\n";
    } else {
      out += "-" + x[i++] + "\n";
    }
  }
  return out;
}

// The match and action of a rule, without its location and names.
std::string rule_key(const pb::CompiledRule& r) {
  pb::CompiledRule c = r;
  c.clear_location();
  c.clear_from_names();
  c.clear_to_names();
  std::string s;
  c.SerializeToString(&s);
  return s;
}

// A directory: generations/NNNNNNNNNNNN.pb and audit.log.
class FileBackend final : public StoreBackend {
 public:
  explicit FileBackend(std::string dir) : dir_(std::move(dir)) {}

  bool load(std::vector<GenerationSummary>& index, uint64_t& current, std::vector<std::string>* warnings,
            std::string& error) override {
    DIR* dh = ::opendir((dir_ + "/generations").c_str());
    if (dh == nullptr) {
      error = "cannot read " + dir_ + "/generations: " + std::strerror(errno);
      return false;
    }
    std::map<uint64_t, GenerationSummary> found;
    while (dirent* e = ::readdir(dh)) {
      const std::string name = e->d_name;
      if (name.size() != 15 || name.substr(12) != ".pb") continue;  // temporaries and strangers
      const std::string path = dir_ + "/generations/" + name;
      std::ifstream in(path, std::ios::binary);
      pb::StoredGeneration g;
      if (!in || !g.ParseFromIstream(&in) || g.number() == 0 || generation_file(dir_, g.number()) != path) {
        if (warnings) warnings->push_back(path + ": not a readable generation; skipped");
        continue;
      }
      found[g.number()] = summary(g);
    }
    ::closedir(dh);
    index.clear();
    for (auto& [n, sum] : found) index.push_back(sum);
    current = found.empty() ? 0 : found.rbegin()->first;
    return true;
  }

  std::optional<pb::StoredGeneration> read(uint64_t number) const override {
    std::ifstream in(generation_file(dir_, number), std::ios::binary);
    pb::StoredGeneration g;
    if (!in || !g.ParseFromIstream(&in) || g.number() != number) return std::nullopt;
    return g;
  }

  // One process owns the directory: `expected_current` is what it read.
  bool write(const pb::StoredGeneration& g, uint64_t, std::string& error) override {
    std::string data;
    if (!g.SerializeToString(&data)) {
      error = "cannot encode generation " + std::to_string(g.number());
      return false;
    }
    if (!common::write_file(generation_file(dir_, g.number()), data, error)) return false;
    audit(g);
    return true;
  }

  std::string describe() const override { return dir_; }

 private:
  void audit(const pb::StoredGeneration& g) {
    const std::string text = audit_line(g);
    const std::string path = audit_path(dir_);
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, kAuditMode);
    if (fd < 0) return;
    ::fchmod(fd, kAuditMode);
    for (size_t done = 0; done < text.size();) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n <= 0 && errno != EINTR) break;
      if (n > 0) done += static_cast<size_t>(n);
    }
    ::fsync(fd);
    ::close(fd);
  }

  std::string dir_;
};

}  // namespace

bool changes_store(const pb::CliRequest& req) {
  const auto c = req.command_case();
  return c == pb::CliRequest::kApply || c == pb::CliRequest::kRollback || c == pb::CliRequest::kRenumber;
}

std::string audit_line(const pb::StoredGeneration& g) {
  nlohmann::ordered_json line = {{"generation", g.number()},
                                 {"applied_at", g.applied_at()},
                                 {"author", g.author()},
                                 {"claimed_author", g.claimed_author()},
                                 {"message", g.message()},
                                 {"sha256", g.compiled().source_sha256()},
                                 {"rules", g.compiled().rules_size()},
                                 {"rollback_of", g.rollback_of()},
                                 {"renumbered_from", g.renumbered_from()},
                                 {"request_id", g.request_id()}};
  // Invalid UTF-8 in a message is replaced, never a reason to lose the line.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

bool parse_audit_line(std::string_view line, GenerationSummary& out) {
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return false;
  try {
    out.number = j.at("generation").get<uint64_t>();
    out.applied_at = j.value("applied_at", int64_t{0});
    out.author = j.value("author", "");
    out.claimed_author = j.value("claimed_author", "");
    out.message = j.value("message", "");
    out.sha256 = j.value("sha256", "");
    out.rules = j.value("rules", uint32_t{0});
    out.rollback_of = j.value("rollback_of", uint64_t{0});
    out.renumbered_from = j.value("renumbered_from", uint64_t{0});
    out.request_id = j.value("request_id", "");
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return out.number != 0;
}

std::unique_ptr<StoreBackend> open_file_backend(const std::string& dir, std::string& error) {
  for (const std::string& d : {dir, dir + "/generations"}) {
    if (::mkdir(d.c_str(), 0750) != 0 && errno != EEXIST) {
      error = "cannot create " + d + ": " + std::strerror(errno);
      return nullptr;
    }
  }
  // An audit log from before it was kept private loses its world bits.
  struct stat st {};
  if (::lstat(audit_path(dir).c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07))
    ::chmod(audit_path(dir).c_str(), kAuditMode);
  return std::make_unique<FileBackend>(dir);
}

std::unique_ptr<PolicyStore> PolicyStore::open(const std::string& dir, std::string& error,
                                               std::vector<std::string>* warnings) {
  auto backend = open_file_backend(dir, error);
  if (!backend) return nullptr;
  return open(std::move(backend), error, warnings);
}

std::unique_ptr<PolicyStore> PolicyStore::open(std::unique_ptr<StoreBackend> backend, std::string& error,
                                               std::vector<std::string>* warnings) {
  std::unique_ptr<PolicyStore> s(new PolicyStore());
  s->backend_ = std::move(backend);
  if (!s->refresh(error, warnings)) return nullptr;
  return s;
}

bool PolicyStore::refresh(std::string& error, std::vector<std::string>* warnings) {
  std::vector<GenerationSummary> index;
  uint64_t current = 0;
  if (!backend_->load(index, current, warnings, error)) return false;
  index_ = std::move(index);
  current_ = current;
  requests_.clear();
  for (size_t i = 0; i < index_.size(); ++i)
    if (!index_[i].request_id.empty()) requests_[index_[i].request_id] = i;
  return true;
}

const GenerationSummary* PolicyStore::find_request(std::string_view id) const {
  if (id.empty()) return nullptr;
  const auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : &index_[it->second];
}

rules::Result<pb::StoredGeneration> PolicyStore::apply(std::string_view source, std::string_view source_name,
                                                       std::string_view author, std::string_view message,
                                                       const ChangeOptions& options) {
  return store(source, source_name, author, message, 0, 0, options);
}

rules::Result<pb::StoredGeneration> PolicyStore::renumber(uint64_t past, std::string_view author,
                                                          std::string_view message, const ChangeOptions& options) {
  rules::Result<pb::StoredGeneration> out;
  auto cur = current_ ? get(current_) : std::nullopt;
  if (!cur) {
    out.diagnostics.push_back({rules::Diagnostic::Severity::error, "", 0, 0,
                               "the store holds no generation to renumber: apply a policy with --renumber"});
    return out;
  }
  ChangeOptions o = options;
  o.number_past = std::max(o.number_past, past);
  return store(cur->source_text(), cur->source_name(), author, message, 0, current_, o);
}

rules::Result<pb::StoredGeneration> PolicyStore::store(std::string_view source, std::string_view source_name,
                                                       std::string_view author, std::string_view message,
                                                       uint64_t rollback_of, uint64_t renumbered_from,
                                                       const ChangeOptions& options) {
  rules::Result<pb::StoredGeneration> out;
  if (const auto* done = find_request(options.request_id)) {
    out.diagnostics.push_back({rules::Diagnostic::Severity::error, "", 0, 0,
                               "request " + options.request_id + " was already applied as generation " +
                                   std::to_string(done->number) + "; nothing was stored"});
    return out;
  }
  auto compiled = rules::load_policy(source, source_name);
  out.diagnostics = compiled.diagnostics;
  if (!compiled.ok()) return out;
  pb::StoredGeneration g;
  g.set_number(std::max(current_, options.number_past) + 1);
  g.set_applied_at(static_cast<int64_t>(std::time(nullptr)));
  g.set_author(std::string(author));
  g.set_message(std::string(message));
  g.set_source_name(std::string(source_name));
  g.set_source_text(std::string(source));
  g.set_rollback_of(rollback_of);
  g.set_claimed_author(options.claimed_author);
  g.set_renumbered_from(renumbered_from);
  g.set_request_id(options.request_id);
  *g.mutable_compiled() = std::move(*compiled.value);
  g.mutable_compiled()->set_generation(g.number());
  std::string error;
  if (!backend_->write(g, current_, error)) {
    // Another writer may have moved the store: the next change numbers
    // from what it holds now.
    std::string ignored;
    refresh(ignored);
    out.diagnostics.push_back({rules::Diagnostic::Severity::error, std::string(source_name), 0, 0, error});
    return out;
  }
  current_ = g.number();
  index_.push_back(summary(g));
  if (!options.request_id.empty()) requests_[options.request_id] = index_.size() - 1;
  out.value = std::move(g);
  return out;
}

rules::Result<pb::StoredGeneration> PolicyStore::rollback(uint64_t number, std::string_view author,
                                                          std::string_view message, const ChangeOptions& options) {
  rules::Result<pb::StoredGeneration> out;
  auto old = get(number);
  if (!old) {
    out.diagnostics.push_back({rules::Diagnostic::Severity::error, "", 0, 0,
                               "no generation " + std::to_string(number) + " (current is " + std::to_string(current_) + ")"});
    return out;
  }
  return store(old->source_text(), old->source_name(), author, message, number, 0, options);
}

std::optional<pb::StoredGeneration> PolicyStore::get(uint64_t number) const {
  if (number == 0) return std::nullopt;
  return backend_->read(number);
}

std::vector<GenerationSummary> PolicyStore::history() const { return index_; }

std::optional<PolicyDiff> PolicyStore::diff(uint64_t from, uint64_t to) const {
  const auto a = get(from), b = get(to);
  if (!a || !b) return std::nullopt;
  return diff_policies(*a, *b);
}

std::string PolicyDiff::text() const {
  std::string t;
  auto list = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    t += std::string(what) + ":";
    for (const auto& x : v) t += " " + x;
    t += "\n";
  };
  list("added rules", added);
  list("removed rules", removed);
  list("changed rules", changed);
  list("moved rules", moved);
  list("changed segments", segments_changed);
  if (defaults_changed) t += "defaults changed\n";
  return t + source_diff;
}

PolicyDiff diff_policies(const pb::StoredGeneration& from, const pb::StoredGeneration& to) {
  const auto* a = &from;
  const auto* b = &to;
  PolicyDiff d;
  const auto& ra = a->compiled().rules();
  const auto& rb = b->compiled().rules();
  std::map<std::string, int> pos_a, pos_b;
  for (int i = 0; i < ra.size(); ++i) pos_a[ra[i].id()] = i;
  for (int i = 0; i < rb.size(); ++i) pos_b[rb[i].id()] = i;
  for (const auto& r : rb)
    if (!pos_a.count(r.id())) d.added.push_back(r.id());
  for (const auto& r : ra)
    if (!pos_b.count(r.id())) d.removed.push_back(r.id());
  // Order of the rules both have, to tell moves from neighbours shifting.
  std::vector<std::string> common_a, common_b;
  for (const auto& r : ra)
    if (pos_b.count(r.id())) common_a.push_back(r.id());
  for (const auto& r : rb)
    if (pos_a.count(r.id())) common_b.push_back(r.id());
  for (size_t i = 0; i < common_b.size(); ++i) {
    const auto& id = common_b[i];
    if (rule_key(ra[pos_a[id]]) != rule_key(rb[pos_b[id]])) d.changed.push_back(id);
    if (common_a[i] != id) d.moved.push_back(id);
  }
  d.defaults_changed = a->compiled().default_action() != b->compiled().default_action() ||
                       a->compiled().mode() != b->compiled().mode();
  std::map<std::string, std::string> sa, sb;
  for (const auto& s : a->compiled().segments()) s.SerializeToString(&sa[s.name()]);
  for (const auto& s : b->compiled().segments()) s.SerializeToString(&sb[s.name()]);
  for (const auto& [name, v] : sb) {
    auto it = sa.find(name);
    // Compare the prefixes only (the line may move).
    pb::Segment x, y;
    y.ParseFromString(v);
    y.clear_line();
    if (it == sa.end()) {
      d.segments_changed.push_back(name + " (added)");
      continue;
    }
    x.ParseFromString(it->second);
    x.clear_line();
    if (x.SerializeAsString() != y.SerializeAsString()) d.segments_changed.push_back(name);
  }
  for (const auto& [name, v] : sa)
    if (!sb.count(name)) d.segments_changed.push_back(name + " (removed)");
  d.source_diff = line_diff(a->source_text(), b->source_text());
  return d;
}

}  // namespace bulkhead::controlplane
