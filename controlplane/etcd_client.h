// A small client of etcd's v3 API through its JSON gateway (POST
// /v3/kv/range, /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive,
// /v3/lease/revoke on the client URL): the documented API without gRPC
// code generation or a libgrpc dependency. HTTP is cpp-httplib, JSON
// nlohmann-json, and the gateway's base64 keys and values OpenSSL's
// EVP_EncodeBlock/EVP_DecodeBlock.
//
// Several endpoints (members of one cluster): a request that cannot reach
// one (connection refused, timeout, 5xx) is tried on the next, and the
// client stays with the one that answered. An answer etcd gives (a failed
// compare, a request too large) is never retried elsewhere.
//
// Thread-safety: one client per thread; it holds its HTTP connections.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace httplib {
class Client;
}

namespace bulkhead::controlplane {

// Where a store on etcd lives: etcd://HOST:PORT[,HOST:PORT...][/PREFIX].
struct EtcdTarget {
  std::vector<std::string> endpoints;  // "host:port"
  std::string prefix = "/bulkhead";    // no trailing slash
};

// True for a --store value that names etcd.
bool is_etcd_url(std::string_view store);
bool parse_etcd_url(std::string_view url, EtcdTarget& out, std::string& error);

std::string base64_encode(std::string_view raw);
// False when `text` is not base64.
bool base64_decode(std::string_view text, std::string& raw);

// A 64-bit field of a gateway answer: protobuf's JSON mapping writes them
// as strings. 0 when absent or not a number.
int64_t json_int64(const nlohmann::json& j, const char* name);

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

class EtcdClient {
 public:
  explicit EtcdClient(std::vector<std::string> endpoints,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // One key, or every key in [key, range_end) when range_end is given.
  // `revision`: the store's revision the answer is from.
  bool range(const std::string& key, std::vector<KeyValue>& out, std::string& error,
             const std::string& range_end = {}, int64_t* revision = nullptr);
  bool range_prefix(const std::string& prefix, std::vector<KeyValue>& out, std::string& error) {
    return range(prefix, out, error, prefix_end(prefix));
  }
  // The keys that start with `prefix` and were modified at or after
  // `revision`, without their values.
  bool keys_since(const std::string& prefix, int64_t revision, std::vector<KeyValue>& out, std::string& error);

  // A transaction of JSON operations built with the helpers below.
  struct TxnResult {
    bool succeeded = false;
    int64_t revision = 0;        // the store's revision after it
    nlohmann::json responses;    // one per operation of the branch taken
  };
  bool txn(const nlohmann::json& compare, const nlohmann::json& success, const nlohmann::json& failure,
           TxnResult& out, std::string& error);

  // A lease of `ttl_s` seconds: its id, or 0 with `error`.
  int64_t lease_grant(int64_t ttl_s, std::string& error);
  // Renews the lease: its remaining TTL, 0 when it has expired, -1 when
  // etcd could not be asked (`error`).
  int64_t lease_keepalive(int64_t id, std::string& error);
  bool lease_revoke(int64_t id, std::string& error);

  // Operations and comparisons of a transaction.
  static nlohmann::json put(const std::string& key, std::string_view value, int64_t lease = 0);
  static nlohmann::json get(const std::string& key, const std::string& range_end = {});
  static nlohmann::json remove(const std::string& key, const std::string& range_end = {});
  // The key's create revision is `revision` (0: the key does not exist).
  static nlohmann::json created_at(const std::string& key, int64_t revision);
  static nlohmann::json value_is(const std::string& key, std::string_view value);
  // The first key after every key that starts with `prefix`.
  static std::string prefix_end(const std::string& prefix);
  // The key-values of a range answer (or of a transaction's response_range).
  static bool key_values(const nlohmann::json& range_response, std::vector<KeyValue>& out, std::string& error);
  // One key-value object (base64 key and value); false when it is not one.
  static bool key_value(const nlohmann::json& kv, KeyValue& out);
  // The range answer of a transaction's response `i` (empty when it is not one).
  static nlohmann::json range_response(const nlohmann::json& responses, size_t i);

  // The endpoint that answered last.
  const std::string& endpoint() const { return endpoints_[current_]; }

 private:
  // POSTs `body` to `path`, failing over between endpoints.
  bool call(const char* path, const nlohmann::json& body, nlohmann::json& answer, std::string& error);

  std::vector<std::string> endpoints_;
  std::vector<std::unique_ptr<httplib::Client>> clients_;
  size_t current_ = 0;
  std::chrono::milliseconds timeout_;
};

}  // namespace bulkhead::controlplane
