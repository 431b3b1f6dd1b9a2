// The ClickHouse flow store's pure parts: its URL, the SQL of a FlowQuery,
// the rows it inserts and the answers it reads (the engine itself is in
// tests/integration/clickhouse_test.sh).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "controlplane/flows/clickhouse_store.h"
#include "controlplane/flows/record.h"

namespace bulkhead::controlplane::flows {
namespace {

TEST(ClickHouseUrl, ReadsHostPortAndDatabase) {
  ClickHouseTarget t;
  std::string why;
  ASSERT_TRUE(parse_clickhouse_url("clickhouse://127.0.0.1:8123/bulkhead", t, why)) << why;
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, 8123);
  EXPECT_EQ(t.database, "bulkhead");
  ASSERT_TRUE(parse_clickhouse_url("clickhouse://[::1]:9123/flows_2", t, why)) << why;
  EXPECT_EQ(t.host, "::1");
  EXPECT_EQ(t.url(), "clickhouse://[::1]:9123/flows_2");
}

TEST(ClickHouseUrl, RefusesWhatIsNotOne) {
  ClickHouseTarget t;
  for (const char* bad : {"http://127.0.0.1:8123/db", "clickhouse://127.0.0.1:8123", "clickhouse://127.0.0.1:8123/",
                          "clickhouse://127.0.0.1:8123/1db", "clickhouse://127.0.0.1:8123/db;DROP",
                          "clickhouse://127.0.0.1/db", "clickhouse://127.0.0.1:0/db"}) {
    std::string why;
    EXPECT_FALSE(parse_clickhouse_url(bad, t, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(ClickHouseQuery, WritesTheFlowQueryAsWhereAndHaving) {
  FlowQuery q;
  EXPECT_EQ(clickhouse_query_sql(q, "db").find("WHERE"), std::string::npos);
  EXPECT_EQ(clickhouse_query_sql(q, "db").find("HAVING"), std::string::npos);
  q.port = 443;
  parse_address("10.0.1.5", q.host);
  q.since_ms = 1000;
  q.until_ms = 2000;
  q.denied_only = true;
  q.segment = "we'b";  // quotes go hex-encoded, never into the statement
  q.top = 7;
  const std::string sql = clickhouse_query_sql(q, "db");
  EXPECT_NE(sql.find("FROM db.flows WHERE dport = 443 AND (src = unhex('31302E302E312E35')"), std::string::npos) << sql;
  EXPECT_NE(sql.find("GROUP BY src, dst, proto, dport HAVING a_last_ms >= 1000 AND a_first_ms <= 2000 AND "
                     "a_denied + a_would_deny > 0 AND (a_src_segment = unhex('77652762')"),
            std::string::npos)
      << sql;
  EXPECT_NE(sql.find("ORDER BY a_flows DESC LIMIT 7 FORMAT JSONEachRow"), std::string::npos) << sql;
  EXPECT_EQ(sql.find("we'b"), std::string::npos);
}

pb::FlowAggregate aggregate() {
  pb::FlowAggregate a;
  std::string s, d;
  parse_address("fd00::1", s);
  parse_address("fd00::2", d);
  a.set_src(s);
  a.set_dst(d);
  a.set_protocol(17);
  a.set_dst_port(53);
  a.set_src_port(41000);
  a.set_src_segment("web");
  a.set_dst_segment("dns");
  a.set_flows(5);
  a.set_learnable(4);
  a.set_denied(1);
  a.set_first_ms(1765000000000);
  a.set_last_ms(1765086400001);  // 2025-12-07 UTC
  a.add_dns_names("api.example.com");
  return a;
}

TEST(ClickHouseRows, InsertsAnAggregateAsOneJsonLineDatedByItsLastSecond) {
  const std::string line = clickhouse_input_row(aggregate());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["day"], "2025-12-07");
  EXPECT_EQ(j["src"], "fd00::1");
  EXPECT_EQ(j["flows"], 5);
  EXPECT_EQ(j["start_ms"], 1765000000000);
  EXPECT_EQ(j["end_ms"], 1765086400001);
  EXPECT_EQ(j["dns_names"], nlohmann::json::array({"api.example.com"}));
}

// An answer row as ClickHouse writes it, from an aggregate.
std::string answer(const pb::FlowAggregate& a, bool quoted) {
  nlohmann::json j;
  auto n = [&](uint64_t v) { return quoted ? nlohmann::json(std::to_string(v)) : nlohmann::json(v); };
  j["src"] = format_address(a.src());
  j["dst"] = format_address(a.dst());
  j["proto"] = a.protocol();
  j["dport"] = a.dst_port();
  j["a_src_segment"] = a.src_segment();
  j["a_dst_segment"] = a.dst_segment();
  j["a_src_port"] = a.src_port();
  for (const char* c : {"flows", "packets", "bytes", "allowed", "denied", "would_deny", "learnable", "answered", "unanswered"})
    j[std::string("a_") + c] = n(0);
  j["a_flows"] = n(a.flows());
  j["a_learnable"] = n(a.learnable());
  j["a_denied"] = n(a.denied());
  j["a_first_ms"] = quoted ? nlohmann::json(std::to_string(a.first_ms())) : nlohmann::json(a.first_ms());
  j["a_last_ms"] = a.last_ms();
  j["a_dns_names"] = a.dns_names();
  j["a_server_names"] = nlohmann::json::array();
  return j.dump();
}

TEST(ClickHouseRows, ReadsAnAnswerRowBackIntoTheAggregate) {
  for (bool quoted : {false, true}) {
    pb::FlowAggregate back;
    std::string why;
    ASSERT_TRUE(parse_clickhouse_row(answer(aggregate(), quoted), back, why)) << why;
    EXPECT_EQ(back.SerializeAsString(), aggregate().SerializeAsString()) << back.DebugString();
  }
}

TEST(ClickHouseRows, RefusesWhatIsNotARowWithAReason) {
  auto a = aggregate();
  std::string mixed = answer(a, false);
  mixed.replace(mixed.find("fd00::2"), 7, "10.0.0.2");  // one side IPv4, the other IPv6
  auto long_names = answer(a, false);
  long_names.replace(long_names.find("\"a_server_names\":[]"), 19,
                     "\"a_server_names\":[\"a.x\",\"b.x\",\"c.x\",\"d.x\",\"e.x\"]");
  auto big_port = answer(a, false);
  big_port.replace(big_port.find("\"dport\":53"), 10, "\"dport\":70000");
  for (const std::string& bad :
       {std::string("Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded"),
        std::string("[1,2]"), std::string("{}"), mixed, long_names, big_port}) {
    pb::FlowAggregate back;
    std::string why;
    EXPECT_FALSE(parse_clickhouse_row(bad, back, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

}  // namespace
}  // namespace bulkhead::controlplane::flows
