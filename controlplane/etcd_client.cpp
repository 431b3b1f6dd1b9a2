#include "controlplane/etcd_client.h"

#include <openssl/evp.h>

#include <httplib.h>

namespace bulkhead::controlplane {

int64_t json_int64(const nlohmann::json& j, const char* name) {
  if (!j.is_object()) return 0;
  const auto it = j.find(name);
  if (it == j.end()) return 0;
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return it->is_number_integer() ? it->get<int64_t>() : 0;
}

bool is_etcd_url(std::string_view store) { return store.rfind("etcd://", 0) == 0; }

bool parse_etcd_url(std::string_view url, EtcdTarget& out, std::string& error) {
  if (!is_etcd_url(url)) {
    error = "not an etcd:// URL";
    return false;
  }
  std::string_view rest = url.substr(7);
  const size_t slash = rest.find('/');
  std::string_view hosts = rest.substr(0, slash);
  out = EtcdTarget{};
  if (slash != std::string_view::npos) {
    std::string prefix(rest.substr(slash));
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    if (prefix.size() <= 1) {
      error = "an empty prefix: name one (etcd://HOST:PORT/bulkhead) or leave the slash out";
      return false;
    }
    out.prefix = prefix;
  }
  while (!hosts.empty()) {
    const size_t comma = hosts.find(',');
    const std::string_view host = hosts.substr(0, comma);
    const size_t colon = host.rfind(':');
    if (host.empty() || colon == std::string_view::npos || colon == 0 || colon + 1 == host.size() ||
        host.find_first_not_of("0123456789", colon + 1) != std::string_view::npos) {
      error = "\"" + std::string(host) + "\" is not HOST:PORT";
      return false;
    }
    out.endpoints.emplace_back(host);
    if (comma == std::string_view::npos) break;
    hosts.remove_prefix(comma + 1);
  }
  if (out.endpoints.empty()) {
    error = "no etcd endpoint (etcd://HOST:PORT[,HOST:PORT...][/PREFIX])";
    return false;
  }
  return true;
}

std::string base64_encode(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool base64_decode(std::string_view text, std::string& raw) {
  raw.clear();
  if (text.size() % 4 != 0) return false;
  if (text.empty()) return true;
  // EVP_DecodeBlock skips surrounding whitespace; etcd writes none.
  const size_t body = text.find_last_not_of('=');
  if (body == std::string_view::npos || text.size() - body - 1 > 2) return false;
  for (size_t i = 0; i <= body; ++i) {
    const char c = text[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
      return false;
  }
  raw.resize(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return false;
  // EVP_DecodeBlock counts the padding as zero bytes of output.
  size_t pad = 0;
  if (text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  raw.resize(static_cast<size_t>(n) - pad);
  return true;
}

EtcdClient::EtcdClient(std::vector<std::string> endpoints, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), timeout_(timeout) {
  for (const auto& e : endpoints_) {
    auto c = std::make_unique<httplib::Client>("http://" + e);
    c->set_connection_timeout(timeout_);
    c->set_read_timeout(timeout_);
    c->set_write_timeout(timeout_);
    c->set_keep_alive(true);
    // Headers and body go out in separate writes: without TCP_NODELAY the
    // body waits for the peer's delayed ACK, tens of ms a request.
    c->set_tcp_nodelay(true);
    clients_.push_back(std::move(c));
  }
}

EtcdClient::~EtcdClient() = default;

bool EtcdClient::call(const char* path, const nlohmann::json& body, nlohmann::json& answer, std::string& error) {
  const std::string text = body.dump();
  std::string failures;
  for (size_t tried = 0; tried < clients_.size(); ++tried) {
    const size_t i = (current_ + tried) % clients_.size();
    auto res = clients_[i]->Post(path, text, "application/json");
    if (!res) {
      failures += (failures.empty() ? "" : "; ") + endpoints_[i] + ": " + httplib::to_string(res.error());
      continue;
    }
    // A member without a cluster leader answers 503: another may do better.
    if (res->status >= 500 && res->status != 501) {
      failures += (failures.empty() ? "" : "; ") + endpoints_[i] + ": HTTP " + std::to_string(res->status) + " " +
                  res->body.substr(0, 200);
      continue;
    }
    current_ = i;
    answer = nlohmann::json::parse(res->body, nullptr, false);
    if (answer.is_discarded()) {
      error = endpoints_[i] + std::string(path) + ": an answer that is not JSON";
      return false;
    }
    if (res->status != 200 || !answer.is_object() || answer.contains("error")) {
      error = "etcd " + endpoints_[i] + ": " +
              (answer.contains("error") && answer["error"].is_string() ? answer["error"].get<std::string>()
                                                                       : "HTTP " + std::to_string(res->status));
      return false;
    }
    return true;
  }
  error = "no etcd endpoint answered (" + failures + ")";
  return false;
}

bool EtcdClient::key_values(const nlohmann::json& r, std::vector<KeyValue>& out, std::string& error) {
  out.clear();
  if (!r.is_object() || !r.contains("kvs")) return true;  // none: the field is left out
  const auto& kvs = r["kvs"];
  if (!kvs.is_array()) {
    error = "etcd answered key-values that are not a list";
    return false;
  }
  for (const auto& kv : kvs) {
    KeyValue x;
    if (!key_value(kv, x)) {
      error = "etcd answered a key or value that is not base64";
      return false;
    }
    out.push_back(std::move(x));
  }
  return true;
}

bool EtcdClient::key_value(const nlohmann::json& kv, KeyValue& out) {
  if (!kv.is_object()) return false;
  const auto text = [&](const char* name) {
    const auto it = kv.find(name);
    return it != kv.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (!base64_decode(text("key"), out.key) || !base64_decode(text("value"), out.value)) return false;
  out.create_revision = json_int64(kv, "create_revision");
  out.mod_revision = json_int64(kv, "mod_revision");
  out.lease = json_int64(kv, "lease");
  return true;
}

nlohmann::json EtcdClient::range_response(const nlohmann::json& responses, size_t i) {
  if (!responses.is_array() || i >= responses.size() || !responses[i].is_object()) return nlohmann::json::object();
  const auto it = responses[i].find("response_range");
  return it != responses[i].end() && it->is_object() ? *it : nlohmann::json::object();
}

bool EtcdClient::range(const std::string& key, std::vector<KeyValue>& out, std::string& error,
                       const std::string& range_end, int64_t* revision) {
  nlohmann::json answer;
  if (!call("/v3/kv/range", get(key, range_end), answer, error)) return false;
  if (revision) *revision = json_int64(answer.value("header", nlohmann::json::object()), "revision");
  return key_values(answer, out, error);
}

bool EtcdClient::keys_since(const std::string& prefix, int64_t revision, std::vector<KeyValue>& out,
                            std::string& error) {
  auto request = get(prefix, prefix_end(prefix));
  request["keys_only"] = true;
  request["min_mod_revision"] = std::to_string(revision);
  nlohmann::json answer;
  return call("/v3/kv/range", request, answer, error) && key_values(answer, out, error);
}

bool EtcdClient::txn(const nlohmann::json& compare, const nlohmann::json& success, const nlohmann::json& failure,
                     TxnResult& out, std::string& error) {
  nlohmann::json answer;
  if (!call("/v3/kv/txn", {{"compare", compare}, {"success", success}, {"failure", failure}}, answer, error))
    return false;
  const auto ok = answer.find("succeeded");
  out.succeeded = ok != answer.end() && ok->is_boolean() && ok->get<bool>();
  out.revision = json_int64(answer.value("header", nlohmann::json::object()), "revision");
  const auto responses = answer.find("responses");
  out.responses = responses != answer.end() && responses->is_array() ? *responses : nlohmann::json::array();
  return true;
}

int64_t EtcdClient::lease_grant(int64_t ttl_s, std::string& error) {
  nlohmann::json answer;
  if (!call("/v3/lease/grant", {{"TTL", ttl_s}}, answer, error)) return 0;
  const int64_t id = json_int64(answer, "ID");
  if (id == 0) error = "etcd granted no lease";
  return id;
}

int64_t EtcdClient::lease_keepalive(int64_t id, std::string& error) {
  nlohmann::json answer;
  // A stream in gRPC; through the gateway one request, one result.
  if (!call("/v3/lease/keepalive", {{"ID", std::to_string(id)}}, answer, error)) return -1;
  return json_int64(answer.value("result", nlohmann::json::object()), "TTL");
}

bool EtcdClient::lease_revoke(int64_t id, std::string& error) {
  nlohmann::json answer;
  return call("/v3/lease/revoke", {{"ID", std::to_string(id)}}, answer, error);
}

nlohmann::json EtcdClient::put(const std::string& key, std::string_view value, int64_t lease) {
  nlohmann::json p = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) p["lease"] = std::to_string(lease);
  return {{"request_put", p}};
}

nlohmann::json EtcdClient::get(const std::string& key, const std::string& range_end) {
  nlohmann::json r = {{"key", base64_encode(key)}};
  if (!range_end.empty()) r["range_end"] = base64_encode(range_end);
  return r;
}

nlohmann::json EtcdClient::remove(const std::string& key, const std::string& range_end) {
  return {{"request_delete_range", get(key, range_end)}};
}

nlohmann::json EtcdClient::created_at(const std::string& key, int64_t revision) {
  return {{"key", base64_encode(key)},
          {"target", "CREATE"},
          {"result", "EQUAL"},
          {"create_revision", std::to_string(revision)}};
}

nlohmann::json EtcdClient::value_is(const std::string& key, std::string_view value) {
  return {{"key", base64_encode(key)}, {"target", "VALUE"}, {"result", "EQUAL"}, {"value", base64_encode(value)}};
}

std::string EtcdClient::prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

}  // namespace bulkhead::controlplane
