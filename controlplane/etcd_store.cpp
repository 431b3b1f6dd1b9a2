#include "controlplane/etcd_store.h"

#include <zlib.h>

#include <cstdio>

#include "common/sha256.h"

namespace bulkhead::controlplane {
namespace {

// A generation's size when inflated, at most: a header claiming more is
// damaged, not a reason to allocate it.
constexpr uint64_t kMaxGenerationBytes = uint64_t{1} << 30;

std::string chunk_suffix(size_t i) {
  char s[32];
  std::snprintf(s, sizeof(s), "/%04zu", i);
  return s;
}

bool compress(const std::string& raw, std::string& out, std::string& error) {
  uLongf size = compressBound(raw.size());
  out.resize(size);
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(raw.data()), raw.size(),
                Z_BEST_SPEED) != Z_OK) {
    error = "cannot compress the generation";
    return false;
  }
  out.resize(size);
  return true;
}

}  // namespace

EtcdBackend::EtcdBackend(const EtcdTarget& target) : target_(target), client_(target.endpoints) {}

std::string EtcdBackend::describe() const {
  std::string url = "etcd://";
  for (size_t i = 0; i < target_.endpoints.size(); ++i) url += (i ? "," : "") + target_.endpoints[i];
  return url + target_.prefix;
}

std::string EtcdBackend::key(const char* what, uint64_t number) const {
  char n[24];
  std::snprintf(n, sizeof(n), "%012llu", static_cast<unsigned long long>(number));
  return target_.prefix + "/" + what + "/" + n;
}

bool EtcdBackend::load(std::vector<GenerationSummary>& index, uint64_t& current, std::vector<std::string>* warnings,
                       std::string& error) {
  std::vector<KeyValue> kvs;
  if (!client_.range_prefix(target_.prefix + "/audit/", kvs, error)) return false;
  index.clear();
  for (const auto& kv : kvs) {
    GenerationSummary s;
    if (!parse_audit_line(kv.value, s) || key("audit", s.number) != kv.key) {
      if (warnings) warnings->push_back(kv.key + ": not a readable audit record; skipped");
      continue;
    }
    index.push_back(std::move(s));
  }
  if (!client_.range(current_key(target_.prefix), kvs, error)) return false;
  current = 0;
  if (!kvs.empty()) {
    try {
      current = std::stoull(kvs[0].value);
    } catch (const std::exception&) {
      error = target_.prefix + "/current holds \"" + kvs[0].value.substr(0, 32) + "\", not a generation number";
      return false;
    }
  }
  return true;
}

std::optional<pb::StoredGeneration> EtcdBackend::read(uint64_t number) const {
  std::vector<KeyValue> kvs;
  std::string error;
  const std::string header_key = key("generations", number);
  if (!client_.range(header_key, kvs, error) || kvs.empty()) return std::nullopt;
  const auto header = nlohmann::json::parse(kvs[0].value, nullptr, false);
  size_t chunks = 0;
  uint64_t bytes = 0, stored_bytes = 0;
  std::string sha256;
  try {
    if (!header.is_object() || header.value("encoding", "") != "zlib") return std::nullopt;
    chunks = header.value("chunks", size_t{0});
    bytes = header.value("bytes", uint64_t{0});
    stored_bytes = header.value("stored_bytes", uint64_t{0});
    sha256 = header.value("sha256", "");
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // a field of another type: damaged
  }
  if (chunks == 0 || bytes == 0 || bytes > kMaxGenerationBytes) return std::nullopt;
  if (!client_.range_prefix(header_key + "/", kvs, error)) return std::nullopt;
  // Chunks are named in order; any beyond `chunks` are left from a change
  // that failed.
  std::string stored;
  for (size_t i = 0; i < chunks; ++i) {
    if (i >= kvs.size() || kvs[i].key != header_key + chunk_suffix(i)) return std::nullopt;
    stored += kvs[i].value;
  }
  if (stored.size() != stored_bytes || common::sha256_hex(stored) != sha256) return std::nullopt;
  std::string raw(bytes, '\0');
  uLongf size = bytes;
  if (uncompress(reinterpret_cast<Bytef*>(raw.data()), &size, reinterpret_cast<const Bytef*>(stored.data()),
                 stored.size()) != Z_OK ||
      size != bytes)
    return std::nullopt;
  pb::StoredGeneration g;
  if (!g.ParseFromString(raw) || g.number() != number) return std::nullopt;
  return g;
}

bool EtcdBackend::write(const pb::StoredGeneration& g, uint64_t expected_current, std::string& error) {
  if (term_ == 0) {
    error = "this controller does not lead: only the leader changes the store";
    return false;
  }
  std::string raw, stored;
  if (!g.SerializeToString(&raw)) {
    error = "cannot encode generation " + std::to_string(g.number());
    return false;
  }
  if (!compress(raw, stored, error)) return false;
  const std::string header_key = key("generations", g.number());
  const std::string leader = leader_key(target_.prefix);
  const auto fence = EtcdClient::created_at(leader, term_);
  const size_t chunks = (stored.size() + kChunkBytes - 1) / kChunkBytes;
  nlohmann::json puts = nlohmann::json::array();
  EtcdClient::TxnResult result;
  for (size_t i = 0; i < chunks; ++i) {
    auto put = EtcdClient::put(header_key + chunk_suffix(i),
                               std::string_view(stored).substr(i * kChunkBytes, kChunkBytes));
    if (chunks == 1) {
      puts.push_back(std::move(put));
      break;
    }
    // A large set: its chunks first, each a request of its own.
    if (!client_.txn(nlohmann::json::array({fence}), nlohmann::json::array({put}), nlohmann::json::array(), result,
                     error))
      return false;
    if (!result.succeeded) {
      error = "this controller no longer leads (the leader key is not the one of term " + std::to_string(term_) + ")";
      return false;
    }
  }
  const std::string pointer_key = current_key(target_.prefix);
  const nlohmann::json header = {{"encoding", "zlib"},
                                 {"chunks", chunks},
                                 {"bytes", raw.size()},
                                 {"stored_bytes", stored.size()},
                                 {"sha256", common::sha256_hex(stored)}};
  puts.push_back(EtcdClient::put(header_key, header.dump()));
  puts.push_back(EtcdClient::put(key("audit", g.number()), audit_line(g)));
  puts.push_back(EtcdClient::put(pointer_key, std::to_string(g.number())));
  const auto compare = nlohmann::json::array(
      {fence, expected_current == 0 ? EtcdClient::created_at(pointer_key, 0)
                                    : EtcdClient::value_is(pointer_key, std::to_string(expected_current))});
  const auto failure = nlohmann::json::array({nlohmann::json{{"request_range", EtcdClient::get(leader)}},
                                              nlohmann::json{{"request_range", EtcdClient::get(pointer_key)}}});
  if (!client_.txn(compare, puts, failure, result, error)) {
    // A member that took the request but could not commit it (no quorum)
    // may still commit it when quorum returns: whole, but unknown now.
    error += "; whether generation " + std::to_string(g.number()) +
             " was stored is unknown until etcd answers again (a member may still commit it, whole)" +
             (g.request_id().empty() ? std::string()
                                     : ": the same request again (request id " + g.request_id() +
                                           ") stores it at most once");
    return false;
  }
  if (result.succeeded) return true;
  // Why: the leadership, or the current pointer.
  std::vector<KeyValue> leader_kv, current_kv;
  if (result.responses.size() == 2 &&
      EtcdClient::key_values(EtcdClient::range_response(result.responses, 0), leader_kv, error) &&
      EtcdClient::key_values(EtcdClient::range_response(result.responses, 1), current_kv, error)) {
    if (leader_kv.empty() || leader_kv[0].create_revision != term_) {
      error = "this controller no longer leads (term " + std::to_string(term_) + " is over): generation " +
              std::to_string(g.number()) + " was not stored";
      return false;
    }
    error = "the store moved: its current generation is " + (current_kv.empty() ? "none" : current_kv[0].value) +
            ", not " + std::to_string(expected_current) + "; nothing was stored, try again";
    return false;
  }
  error = "generation " + std::to_string(g.number()) + " was not stored (the store changed meanwhile)";
  return false;
}

}  // namespace bulkhead::controlplane
