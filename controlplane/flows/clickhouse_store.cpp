#include "controlplane/flows/clickhouse_store.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <type_traits>
#include <iostream>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/metrics_server.h"
#include "common/text.h"
#include "common/threads.h"
#include "common/time.h"
#include "controlplane/flows/record.h"

namespace bulkhead::controlplane::flows {
namespace {

constexpr size_t kMaxLine = 1 << 20;      // one answer row, at most
constexpr size_t kMaxErrorText = 512;     // what is kept of an error answer
constexpr int64_t kBackoffMinMs = 250;
constexpr int64_t kBackoffMaxMs = 5000;
constexpr int64_t kDayMs = 24LL * 3600 * 1000;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "2026-12-07" (UTC) for a unix time in ms.
std::string utc_day(int64_t ms, bool compact = false) {
  const time_t t = static_cast<time_t>(ms / 1000);
  tm parts{};
  gmtime_r(&t, &parts);
  char buf[16];
  strftime(buf, sizeof(buf), compact ? "%Y%m%d" : "%Y-%m-%d", &parts);
  return buf;
}

// A string as a SQL expression that cannot break out of its place: its
// bytes in hexadecimal, decoded by ClickHouse.
std::string sql_string(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out = "unhex('";
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out + "')";
}

bool valid_database(const std::string& db) {
  if (db.empty() || db.size() > 64 || (db[0] >= '0' && db[0] <= '9')) return false;
  return std::all_of(db.begin(), db.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// The answer's first bytes, on one line, for a message.
std::string error_text(const std::string& body) {
  std::string t = body.substr(0, kMaxErrorText);
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  return common::escaped(t);
}

// An integer of an answer row: ClickHouse writes 64-bit integers as JSON
// strings unless told not to; either is taken, nothing else.
template <class Int>
bool integer(const nlohmann::json& row, const char* name, Int& out) {
  const auto it = row.find(name);
  if (it == row.end()) return false;
  if (std::is_signed_v<Int> ? it->is_number_integer() : it->is_number_unsigned()) {
    out = it->get<Int>();
    return true;
  }
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
  }
  return false;
}

bool text(const nlohmann::json& row, const char* name, std::string& out, size_t max) {
  const auto it = row.find(name);
  if (it == row.end() || !it->is_string() || it->get_ref<const std::string&>().size() > max) return false;
  out = it->get<std::string>();
  return true;
}

bool names(const nlohmann::json& row, const char* name, google::protobuf::RepeatedPtrField<std::string>& out) {
  const auto it = row.find(name);
  if (it == row.end() || !it->is_array() || it->size() > kMaxAggregateNames) return false;
  out.Clear();
  for (const auto& n : *it) {
    if (!n.is_string() || !plausible_name(n.get_ref<const std::string&>())) return false;
    out.Add(n.get<std::string>());
  }
  return true;
}

// The counters, their flows_input column and their FlowAggregate field.
struct Counter {
  const char* name;
  uint64_t (pb::FlowAggregate::*get)() const;
  void (pb::FlowAggregate::*set)(uint64_t);
};
const Counter kCounters[] = {
    {"flows", &pb::FlowAggregate::flows, &pb::FlowAggregate::set_flows},
    {"packets", &pb::FlowAggregate::packets, &pb::FlowAggregate::set_packets},
    {"bytes", &pb::FlowAggregate::bytes, &pb::FlowAggregate::set_bytes},
    {"allowed", &pb::FlowAggregate::allowed, &pb::FlowAggregate::set_allowed},
    {"denied", &pb::FlowAggregate::denied, &pb::FlowAggregate::set_denied},
    {"would_deny", &pb::FlowAggregate::would_deny, &pb::FlowAggregate::set_would_deny},
    {"learnable", &pb::FlowAggregate::learnable, &pb::FlowAggregate::set_learnable},
    {"answered", &pb::FlowAggregate::answered, &pb::FlowAggregate::set_answered},
    {"unanswered", &pb::FlowAggregate::unanswered, &pb::FlowAggregate::set_unanswered},
};

std::string schema_sql(const std::string& db, int part) {
  std::string counters_input, counters_state, counters_select;
  for (const auto& c : kCounters) {
    counters_input += std::string(", ") + c.name + " UInt64";
    counters_state += std::string(", ") + c.name + " AggregateFunction(sum, UInt64)";
    counters_select += std::string(", sumState(") + c.name + ") AS " + c.name;
  }
  switch (part) {
    case 0:
      return "CREATE DATABASE IF NOT EXISTS " + db;
    case 1:
      return "CREATE TABLE IF NOT EXISTS " + db +
             ".flows_input (day Date, src String, dst String, proto UInt8, dport UInt16, src_segment String, "
             "dst_segment String, src_port UInt16" + counters_input +
             ", start_ms Int64, end_ms Int64, dns_names Array(String), server_names Array(String)) ENGINE = Null";
    case 2:
      return "CREATE TABLE IF NOT EXISTS " + db +
             ".flows (day Date, src String, dst String, proto UInt8, dport UInt16, "
             "src_segment AggregateFunction(argMin, String, Int64), dst_segment AggregateFunction(argMin, String, Int64), "
             "src_port AggregateFunction(argMax, UInt16, Int64)" + counters_state +
             ", first_ms AggregateFunction(min, Int64), last_ms AggregateFunction(max, Int64), "
             "dns_names AggregateFunction(groupUniqArrayArray, Array(String)), "
             "server_names AggregateFunction(groupUniqArrayArray, Array(String))) "
             "ENGINE = AggregatingMergeTree PARTITION BY toYYYYMMDD(day) ORDER BY (src, dst, proto, dport)";
    default:
      // The input's times are start_ms/end_ms: an alias may not name a
      // column another state of the same SELECT reads.
      return "CREATE MATERIALIZED VIEW IF NOT EXISTS " + db + ".flows_mv TO " + db +
             ".flows AS SELECT day, src, dst, proto, dport, argMinState(src_segment, start_ms) AS src_segment, "
             "argMinState(dst_segment, start_ms) AS dst_segment, argMaxState(src_port, end_ms) AS src_port" +
             counters_select +
             ", minState(start_ms) AS first_ms, maxState(end_ms) AS last_ms, "
             "groupUniqArrayArrayState(dns_names) AS dns_names, groupUniqArrayArrayState(server_names) AS server_names "
             "FROM " + db + ".flows_input GROUP BY day, src, dst, proto, dport";
  }
}

}  // namespace

std::string ClickHouseTarget::url() const {
  const bool v6 = host.find(':') != std::string::npos;
  return "clickhouse://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + database;
}

bool parse_clickhouse_url(const std::string& text, ClickHouseTarget& out, std::string& error) {
  const std::string scheme = "clickhouse://";
  if (text.rfind(scheme, 0) != 0) {
    error = "not clickhouse://HOST:PORT/DB";
    return false;
  }
  const std::string rest = text.substr(scheme.size());
  const auto slash = rest.find('/');
  if (slash == std::string::npos) {
    error = "no database (clickhouse://HOST:PORT/DB)";
    return false;
  }
  common::HostPort hp;
  if (!common::parse_host_port(rest.substr(0, slash), hp, error)) return false;
  const std::string db = rest.substr(slash + 1);
  if (!valid_database(db)) {
    error = "database '" + common::escaped(db) + "': letters, digits and _ (not first a digit), at most 64";
    return false;
  }
  out.host = hp.host;
  out.port = hp.port;
  out.database = db;
  return true;
}

std::string clickhouse_query_sql(const FlowQuery& q, const std::string& db) {
  std::string sql =
      "SELECT src, dst, proto, dport, argMinMerge(src_segment) AS a_src_segment, "
      "argMinMerge(dst_segment) AS a_dst_segment, argMaxMerge(src_port) AS a_src_port";
  for (const auto& c : kCounters) sql += std::string(", sumMerge(") + c.name + ") AS a_" + c.name;
  sql += ", minMerge(first_ms) AS a_first_ms, maxMerge(last_ms) AS a_last_ms, "
         "arraySlice(groupUniqArrayArrayMerge(dns_names), 1, " + std::to_string(kMaxAggregateNames) +
         ") AS a_dns_names, arraySlice(groupUniqArrayArrayMerge(server_names), 1, " +
         std::to_string(kMaxAggregateNames) + ") AS a_server_names FROM " + db + ".flows";
  // Key columns first (WHERE, before merging), the rest on the merged
  // aggregate (HAVING): the same tests FlowStore::query makes.
  std::vector<std::string> where, having;
  if (q.port != 0) where.push_back("dport = " + std::to_string(q.port));
  if (!q.host.empty()) {
    const std::string h = sql_string(format_address(q.host));
    where.push_back("(src = " + h + " OR dst = " + h + ")");
  }
  if (q.since_ms != 0) having.push_back("a_last_ms >= " + std::to_string(q.since_ms));
  if (q.until_ms != 0) having.push_back("a_first_ms <= " + std::to_string(q.until_ms));
  if (q.denied_only) having.push_back("a_denied + a_would_deny > 0");
  if (!q.segment.empty()) {
    const std::string s = sql_string(q.segment);
    having.push_back("(a_src_segment = " + s + " OR a_dst_segment = " + s + ")");
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : " AND ") + x;
    return out;
  };
  if (!where.empty()) sql += " WHERE " + join(where);
  sql += " GROUP BY src, dst, proto, dport";
  if (!having.empty()) sql += " HAVING " + join(having);
  if (q.top != 0) sql += " ORDER BY a_flows DESC LIMIT " + std::to_string(q.top);
  return sql + " FORMAT JSONEachRow";
}

bool parse_clickhouse_row(std::string_view line, pb::FlowAggregate& out, std::string& why) {
  const auto row = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (row.is_discarded() || !row.is_object()) {
    why = "not a row: " + error_text(std::string(line.substr(0, kMaxErrorText)));
    return false;
  }
  out.Clear();
  std::string src, dst, bytes;
  uint64_t proto = 0, dport = 0, src_port = 0;
  int64_t first = 0, last = 0;
  if (!text(row, "src", src, 64) || !text(row, "dst", dst, 64) || !parse_address(src, bytes)) {
    why = "a row without valid addresses";
    return false;
  }
  out.set_src(bytes);
  if (!parse_address(dst, bytes) || bytes.size() != out.src().size()) {
    why = "a row without valid addresses";
    return false;
  }
  out.set_dst(bytes);
  std::string seg;
  if (!integer(row, "proto", proto) || proto > 255 || !integer(row, "dport", dport) || dport > 65535 ||
      !integer(row, "a_src_port", src_port) || src_port > 65535 || !integer(row, "a_first_ms", first) ||
      !integer(row, "a_last_ms", last)) {
    why = "a row with a field missing or out of range";
    return false;
  }
  out.set_protocol(static_cast<uint32_t>(proto));
  out.set_dst_port(static_cast<uint32_t>(dport));
  out.set_src_port(static_cast<uint32_t>(src_port));
  out.set_first_ms(first);
  out.set_last_ms(last);
  if (!text(row, "a_src_segment", seg, 64)) {
    why = "a row without a source segment";
    return false;
  }
  out.set_src_segment(seg);
  if (!text(row, "a_dst_segment", seg, 64)) {
    why = "a row without a destination segment";
    return false;
  }
  out.set_dst_segment(seg);
  for (const auto& c : kCounters) {
    uint64_t v = 0;
    if (!integer(row, (std::string("a_") + c.name).c_str(), v)) {
      why = std::string("a row without ") + c.name;
      return false;
    }
    (out.*c.set)(v);
  }
  if (!names(row, "a_dns_names", *out.mutable_dns_names()) || !names(row, "a_server_names", *out.mutable_server_names())) {
    why = "a row with names that are not names";
    return false;
  }
  return true;
}

std::string clickhouse_input_row(const pb::FlowAggregate& a) {
  nlohmann::ordered_json j;
  j["day"] = utc_day(a.last_ms());
  j["src"] = format_address(a.src());
  j["dst"] = format_address(a.dst());
  j["proto"] = a.protocol();
  j["dport"] = a.dst_port();
  j["src_segment"] = a.src_segment();
  j["dst_segment"] = a.dst_segment();
  j["src_port"] = a.src_port();
  for (const auto& c : kCounters) j[c.name] = (a.*c.get)();
  j["start_ms"] = a.first_ms();
  j["end_ms"] = a.last_ms();
  j["dns_names"] = a.dns_names();
  j["server_names"] = a.server_names();
  // Bytes that are not UTF-8 (a segment name) are replaced, not thrown on.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ClickHouseFlowStore::ClickHouseFlowStore(const ClickHouseTarget& target, const ClickHouseOptions& options)
    : target_(target), opt_(options), pending_(FlowStoreOptions{options.buffer + 1, INT64_MAX / 4}) {}

std::unique_ptr<ClickHouseFlowStore> ClickHouseFlowStore::open(const ClickHouseTarget& target,
                                                               const ClickHouseOptions& options) {
  std::unique_ptr<ClickHouseFlowStore> s(new ClickHouseFlowStore(target, options));
  s->thread_ = common::start_thread_without_signals([p = s.get()] { p->loop(); });
  return s;
}

ClickHouseFlowStore::~ClickHouseFlowStore() { close(); }

void ClickHouseFlowStore::ingest(const google::protobuf::RepeatedPtrField<pb::FlowRecord>& records) {
  bool full_batch = false;
  {
    std::lock_guard lock(mu_);
    for (const auto& r : records) {
      ++records_;
      // A record of a held aggregate costs no memory; a new one only while
      // the batch being retried and the pending ones stay in the bound.
      if (pending_.size() + batch_rows_held_ >= opt_.buffer && !pending_.holds(r)) {
        ++dropped_buffer_;
        continue;
      }
      pending_.ingest(r);
      ++pending_records_;
    }
    full_batch = pending_.size() >= opt_.batch_rows;
  }
  if (full_batch) wake_.notify_one();
}

void ClickHouseFlowStore::take_pending() {
  // The fresh store is made outside the lock: its table is reserved at once.
  FlowStore fresh(FlowStoreOptions{opt_.buffer + 1, INT64_MAX / 4});
  uint64_t records = 0;
  {
    std::lock_guard lock(mu_);
    std::swap(fresh, pending_);
    records = pending_records_;
    pending_records_ = 0;
    batch_rows_held_ = fresh.size();
    batch_records_held_ = records;
  }
  batch_ = Batch{};
  batch_.records = records;
  batch_.rows = fresh.size();
  batch_.body.reserve(fresh.size() * 320);
  fresh.each([&](const pb::FlowAggregate& a) {
    batch_.body += clickhouse_input_row(a);
    batch_.body += '\n';
  });
}

bool ClickHouseFlowStore::execute(const std::string& sql, const std::string& body, int timeout_ms,
                                  std::string& error, bool* refused, std::string* answer) {
  httplib::Client client(target_.host, target_.port);
  client.set_connection_timeout(std::chrono::milliseconds(opt_.connect_timeout_ms));
  client.set_read_timeout(std::chrono::milliseconds(timeout_ms));
  client.set_write_timeout(std::chrono::milliseconds(timeout_ms));
  // The statement in the URL, the rows (if any) as the body.
  const std::string path = httplib::append_query_params("/", {{"query", sql}});
  auto res = client.Post(path, body, "application/octet-stream");
  if (refused) *refused = false;
  if (!res) {
    error = "clickhouse " + target_.host + ":" + std::to_string(target_.port) + ": " + httplib::to_string(res.error());
    return false;
  }
  if (res->status != 200) {
    if (refused) *refused = true;
    error = "clickhouse answered " + std::to_string(res->status) + ": " + error_text(res->body);
    return false;
  }
  if (answer) *answer = res->body.substr(0, 1 << 20);
  return true;
}

bool ClickHouseFlowStore::create_tables(std::string& error) {
  for (int part = 0; part < 4; ++part)
    if (!execute(schema_sql(target_.database, part), "", opt_.insert_timeout_ms, error)) return false;
  return true;
}

bool ClickHouseFlowStore::insert_batch(std::string& error, bool& refused) {
  return execute("INSERT INTO " + target_.database + ".flows_input FORMAT JSONEachRow", batch_.body,
                 opt_.insert_timeout_ms, error, &refused);
}

void ClickHouseFlowStore::note_error(const std::string& error) {
  bool first = false;
  {
    std::lock_guard lock(mu_);
    first = connected_ || last_error_.empty();
    connected_ = false;
    last_error_ = error;
  }
  // Once per outage, not once per retry.
  if (first) std::cerr << "bulkhead-controlplane: flow store: " << error << " (buffering, retrying)\n";
}

void ClickHouseFlowStore::maintain(int64_t now_ms) {
  // Whole days: the partitions strictly before the oldest day kept.
  const int64_t days = (opt_.retention_ms + kDayMs - 1) / kDayMs;
  const std::string cut = utc_day(now_ms - days * kDayMs, true);
  std::string error, answer;
  if (!execute("SELECT DISTINCT partition FROM system.parts WHERE database = " + sql_string(target_.database) +
                   " AND table = 'flows' AND active FORMAT TabSeparated",
               "", opt_.insert_timeout_ms, error, nullptr, &answer)) {
    note_error(error);
    return;
  }
  uint64_t dropped = 0;
  size_t at = 0;
  while (at < answer.size()) {
    const size_t end = std::min(answer.find('\n', at), answer.size());
    const std::string part = answer.substr(at, end - at);
    at = end + 1;
    // Only what this table's partitioning makes: eight digits.
    if (part.size() != 8 || !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    if (part >= cut) continue;
    if (!execute("ALTER TABLE " + target_.database + ".flows DROP PARTITION " + part, "", opt_.insert_timeout_ms,
                 error)) {
      note_error(error);
      return;
    }
    ++dropped;
  }
  uint64_t rows = 0;
  const bool counted = execute("SELECT count() FROM " + target_.database + ".flows FORMAT TabSeparated", "",
                               opt_.insert_timeout_ms, error, nullptr, &answer);
  if (counted) {
    while (!answer.empty() && answer.back() == '\n') answer.pop_back();
    const auto r = std::from_chars(answer.data(), answer.data() + answer.size(), rows);
    if (r.ec != std::errc() || r.ptr != answer.data() + answer.size()) rows = 0;
  }
  std::lock_guard lock(mu_);
  partitions_dropped_ += dropped;
  if (counted) rows_stored_ = rows;
}

void ClickHouseFlowStore::inserted() {
  std::lock_guard lock(mu_);
  records_inserted_ += batch_.records;
  rows_inserted_ += batch_.rows;
  ++batches_inserted_;
  batch_rows_held_ = batch_records_held_ = 0;
  connected_ = true;
  last_error_.clear();
  batch_ = Batch{};
}

void ClickHouseFlowStore::loop() {
  bool tables = false;
  int64_t next_try = 0, backoff = kBackoffMinMs, last_flush = steady_ms(), next_maintain = 0;
  while (true) {
    {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, std::chrono::milliseconds(100));
      if (stop_) break;
    }
    const int64_t now = steady_ms();
    if (now < next_try) continue;
    std::string error;
    auto failed = [&](const std::string& e) {
      note_error(e);
      next_try = now + backoff;
      backoff = std::min(backoff * 2, kBackoffMaxMs);
    };
    if (!tables) {
      if (!create_tables(error)) {
        failed(error);
        continue;
      }
      tables = true;
    }
    if (batch_.rows == 0) {
      bool due = false;
      {
        std::lock_guard lock(mu_);
        due = pending_.size() > 0 && (pending_.size() >= opt_.batch_rows || now - last_flush >= opt_.flush_period_ms);
      }
      if (due) {
        take_pending();
        last_flush = now;
      }
    }
    if (batch_.rows != 0) {
      bool refused = false;
      if (insert_batch(error, refused)) {
        inserted();
        backoff = kBackoffMinMs;
      } else {
        {
          std::lock_guard lock(mu_);
          ++insert_errors_;
          // A batch ClickHouse refuses again and again would stop every
          // batch after it: it goes, counted.
          if (refused && ++batch_.refusals >= kMaxRefusals) {
            dropped_errors_ += batch_.records;
            batch_rows_held_ = batch_records_held_ = 0;
            batch_ = Batch{};
          }
        }
        // The tables may be gone (dropped by hand): made again first.
        if (refused) tables = false;
        failed(error);
        continue;
      }
    }
    const int64_t wall = common::now_unix_ms();
    if (now >= next_maintain) {
      next_maintain = now + opt_.maintain_period_ms;
      maintain(wall);
    }
  }
  // Stopping: what is held goes once, on a short clock; the rest is lost.
  std::string error;
  bool refused = false;
  if (tables || create_tables(error)) {
    if (batch_.rows != 0 && insert_batch(error, refused)) inserted();
    if (batch_.rows == 0) {
      take_pending();
      if (batch_.rows != 0 && insert_batch(error, refused)) inserted();
    }
  }
  std::lock_guard lock(mu_);
  const uint64_t lost = batch_.records + pending_records_;
  dropped_errors_ += lost;
  if (lost > 0)
    std::cerr << "bulkhead-controlplane: flow store: " << lost << " records not stored in ClickHouse at stop ("
              << error << ")\n";
}

void ClickHouseFlowStore::close() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool ClickHouseFlowStore::query(const FlowQuery& q, std::vector<pb::FlowAggregate>& out, std::string& error) {
  out.clear();
  httplib::Client client(target_.host, target_.port);
  client.set_connection_timeout(std::chrono::milliseconds(opt_.connect_timeout_ms));
  client.set_read_timeout(std::chrono::milliseconds(opt_.query_timeout_ms));
  const int64_t seconds = std::max<int64_t>(1, opt_.query_timeout_ms / 1000);
  const httplib::Params params{{"query", clickhouse_query_sql(q, target_.database)},
                               {"output_format_json_quote_64bit_integers", "0"},
                               {"max_execution_time", std::to_string(seconds)}};
  int status = 0;
  std::string carry, refusal, why;
  bool bad = false;
  pb::FlowAggregate a;
  auto take_line = [&](std::string_view line) {
    if (line.empty()) return true;
    if (!parse_clickhouse_row(line, a, why)) return false;
    out.push_back(a);
    return true;
  };
  auto res = client.Get(
      "/", params, {},
      [&](const httplib::Response& r) {
        status = r.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (status != 200) {
          refusal.append(data, std::min(n, kMaxErrorText - std::min(refusal.size(), kMaxErrorText)));
          return true;
        }
        carry.append(data, n);
        size_t at = 0;
        for (size_t nl; (nl = carry.find('\n', at)) != std::string::npos; at = nl + 1) {
          if (!take_line(std::string_view(carry).substr(at, nl - at))) {
            bad = true;
            return false;
          }
        }
        carry.erase(0, at);
        if (carry.size() > kMaxLine) {
          why = "a row longer than " + std::to_string(kMaxLine) + " bytes";
          bad = true;
          return false;
        }
        return true;
      });
  const std::string where = "clickhouse " + target_.host + ":" + std::to_string(target_.port);
  if (bad) {
    error = where + ": " + why;
    out.clear();
    return false;
  }
  if (!res) {
    error = where + ": " + httplib::to_string(res.error());
    out.clear();
    return false;
  }
  if (status != 200) {
    error = where + " answered " + std::to_string(status) + ": " + error_text(refusal);
    out.clear();
    return false;
  }
  if (!carry.empty() && !take_line(carry)) {
    error = where + ": " + why;
    out.clear();
    return false;
  }
  return true;
}

void ClickHouseFlowStore::fill_info(pb::FlowStoreInfo& info) {
  std::lock_guard lock(mu_);
  info.set_records(records_);
  info.set_aggregates(rows_stored_);
  auto* c = info.mutable_clickhouse();
  c->set_url(target_.url());
  c->set_records_inserted(records_inserted_);
  c->set_rows_inserted(rows_inserted_);
  c->set_batches_inserted(batches_inserted_);
  c->set_records_buffered(pending_records_ + batch_records_held_);
  c->set_buffer_limit(opt_.buffer);
  c->set_dropped_buffer(dropped_buffer_);
  c->set_dropped_errors(dropped_errors_);
  c->set_insert_errors(insert_errors_);
  c->set_last_error(last_error_);
  c->set_connected(connected_);
  c->set_rows_stored(rows_stored_);
  c->set_partitions_dropped(partitions_dropped_);
}

}  // namespace bulkhead::controlplane::flows
