#include "controlplane/leadership.h"

#include <algorithm>

#include "controlplane/etcd_store.h"

namespace bulkhead::controlplane {
namespace {

// etcd is asked on the control plane's own thread: a member that does not
// answer must not hold it long before the next one is tried.
constexpr auto kEtcdTimeout = std::chrono::milliseconds(1000);

}  // namespace

Leadership::Leadership(Config cfg) : cfg_(std::move(cfg)), client_(cfg_.target.endpoints, kEtcdTimeout) {}

Leadership::~Leadership() { resign(); }

std::chrono::milliseconds Leadership::poll_period() const {
  return std::clamp(std::chrono::milliseconds(cfg_.lease_ttl_s * 1000 / 10), std::chrono::milliseconds(50),
                    std::chrono::milliseconds(250));
}

std::string Leadership::record_json(const ControllerRecord& r) {
  return nlohmann::json{{"id", r.id}, {"cli", r.cli}, {"listen", r.listen}, {"started_at", r.started_at}}.dump();
}

ControllerRecord Leadership::parse_record(const std::string& json) {
  ControllerRecord r;
  const auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return r;
  try {
    r.id = j.value("id", "");
    r.cli = j.value("cli", "");
    r.listen = j.value("listen", "");
    r.started_at = j.value("started_at", int64_t{0});
  } catch (const nlohmann::json::exception&) {
    return {};  // not a record this program wrote
  }
  return r;
}

bool Leadership::ensure_lease(std::chrono::steady_clock::time_point now) {
  if (lease_ != 0) return true;
  const int64_t id = client_.lease_grant(cfg_.lease_ttl_s, last_error_);
  if (id == 0) return false;
  EtcdClient::TxnResult r;
  const std::string key = cfg_.target.prefix + "/controllers/" + cfg_.self.id;
  if (!client_.txn(nlohmann::json::array(), nlohmann::json::array({EtcdClient::put(key, record_json(cfg_.self), id)}),
                   nlohmann::json::array(), r, last_error_)) {
    std::string ignored;
    client_.lease_revoke(id, ignored);
    return false;
  }
  lease_ = id;
  renewed_ = now;
  renew_due_ = now + renew_period();
  return true;
}

void Leadership::campaign() {
  const std::string key = EtcdBackend::leader_key(cfg_.target.prefix);
  // A read first: polling writes nothing while someone leads (a
  // transaction with a put goes through raft even when its compare fails).
  std::vector<KeyValue> kv;
  if (!client_.range(key, kv, last_error_)) return;  // as it was until etcd answers
  if (kv.empty()) {
    EtcdClient::TxnResult r;
    // json::array, not braces: `json x = {y}` with a json `y` copies y
    // under clang (CWG 1467) where GCC makes a one-element array.
    const auto compare = nlohmann::json::array({EtcdClient::created_at(key, 0)});
    const auto success = nlohmann::json::array({EtcdClient::put(key, record_json(cfg_.self), lease_)});
    const auto failure = nlohmann::json::array({nlohmann::json{{"request_range", EtcdClient::get(key)}}});
    if (!client_.txn(compare, success, failure, r, last_error_)) return;
    if (r.succeeded) {
      // The put made the key: its create revision is this transaction's.
      term_ = r.revision;
      leader_ = cfg_.self;
      leader_term_ = term_;
      return;
    }
    if (r.responses.empty() ||
        !EtcdClient::key_values(EtcdClient::range_response(r.responses, 0), kv, last_error_) ||
        kv.empty())
      return;  // deleted meanwhile: the next poll campaigns again
  }
  leader_ = parse_record(kv[0].value);
  leader_term_ = kv[0].create_revision;
  // The key is someone else's now (an operator deleted it, or it lapsed
  // and another was elected): this one no longer leads.
  if (term_ != 0 && kv[0].create_revision != term_) term_ = 0;
}

Leadership::Change Leadership::tick(std::chrono::steady_clock::time_point now) {
  const bool was = leading();
  const int64_t held = term_;
  const auto ttl = std::chrono::seconds(cfg_.lease_ttl_s);
  if (lease_ != 0 && now >= renew_due_) {
    const int64_t left = client_.lease_keepalive(lease_, last_error_);
    if (left > 0) {
      renewed_ = now;
      renew_due_ = now + renew_period();
    } else if (left == 0) {
      // Lapsed: etcd has deleted the keys it held, the leader key too.
      lease_ = 0;
      term_ = 0;
    } else {
      renew_due_ = now + poll_period();
      if (now - renewed_ >= ttl) {  // etcd may count it lapsed: stand down
        lease_ = 0;
        term_ = 0;
      }
    }
  }
  if (ensure_lease(now)) campaign();
  if (was && !leading()) return Change::deposed;
  // Elected, or elected again within this one tick under a new term (the
  // last one's lease lapsed or its key was deleted, and the campaign that
  // followed won): either way a new term, which every write is fenced on.
  if (leading() && term_ != held) return Change::elected;
  return Change::none;
}

bool Leadership::controllers(std::vector<ControllerRecord>& out, std::string& error, bool watched) {
  const std::string prefix = cfg_.target.prefix + "/controllers/";
  const std::string leader_key = EtcdBackend::leader_key(cfg_.target.prefix);
  if (!watched || !view_read_) {
    std::vector<KeyValue> kvs, leader;
    int64_t at = 0, leader_at = 0;
    if (!client_.range(prefix, kvs, error, EtcdClient::prefix_end(prefix), &at) ||
        !client_.range(leader_key, leader, error, {}, &leader_at))
      return false;
    view_.clear();
    for (const auto& kv : kvs) view_[kv.key] = {kv.value, at};
    view_[leader_key] = {leader.empty() ? std::string() : leader[0].value, leader_at};
    view_read_ = true;
  }
  const auto l = view_.find(leader_key);
  const std::string leader_id =
      l == view_.end() || l->second.value.empty() ? std::string() : parse_record(l->second.value).id;
  out.clear();
  for (auto it = view_.lower_bound(prefix); it != view_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    if (it->second.value.empty()) continue;
    ControllerRecord r = parse_record(it->second.value);
    if (r.id.empty()) continue;
    r.leader = r.id == leader_id;
    out.push_back(std::move(r));
  }
  return true;
}

void Leadership::watched(const WatchEvent& e) {
  if (!view_read_) return;  // read whole at the next controllers()
  const bool wanted = e.kv.key == EtcdBackend::leader_key(cfg_.target.prefix) ||
                      e.kv.key.rfind(cfg_.target.prefix + "/controllers/", 0) == 0;
  if (!wanted) return;
  Viewed& v = view_[e.kv.key];
  if (e.kv.mod_revision <= v.revision) return;  // the read saw it already
  v = {e.deleted ? std::string() : e.kv.value, e.kv.mod_revision};
}

void Leadership::resign() {
  if (lease_ == 0) return;
  std::string ignored;
  client_.lease_revoke(lease_, ignored);
  lease_ = 0;
  term_ = 0;
}

}  // namespace bulkhead::controlplane
