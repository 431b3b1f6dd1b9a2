// The Prometheus exposition writer: escaping per the text format, names,
// number formatting, histograms; and the metrics server's ADDR:PORT.
#include "common/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "common/metrics_server.h"

namespace bulkhead::common::prometheus {
namespace {

TEST(Prometheus, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  // HELP text keeps double quotes as they are.
  EXPECT_EQ(escape_help("say \"hi\"\\\n"), "say \"hi\"\\\\\\n");
}

TEST(Prometheus, Names) {
  EXPECT_TRUE(valid_metric_name("bulkhead_dropped_packets_total"));
  EXPECT_TRUE(valid_metric_name("job:rate:5m"));
  EXPECT_FALSE(valid_metric_name("9lives"));
  EXPECT_FALSE(valid_metric_name("a-b"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_TRUE(valid_label_name("rule"));
  EXPECT_FALSE(valid_label_name("a:b"));
  EXPECT_FALSE(valid_label_name("__reserved"));
  Writer w;
  EXPECT_THROW(w.family("bad-name", Type::gauge, "x"), std::logic_error);
  EXPECT_THROW(w.sample(1), std::logic_error);  // no family yet
  w.family("ok", Type::gauge, "x");
  EXPECT_THROW(w.sample({{"bad label", "v"}}, 1), std::logic_error);
}

TEST(Prometheus, Values) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(18446744073.0), "18446744073");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(std::stod(format_value(1e300)), 1e300);
}

TEST(Prometheus, Families) {
  Writer w;
  w.family("bulkhead_dropped_packets_total", Type::counter, "Packets dropped,\nby reason");
  w.sample({{"reason", "policy_deny"}}, 12);
  w.sample({{"reason", "odd\"one"}, {"port", "0"}}, 1);
  w.single("bulkhead_connections", Type::gauge, "Tracked connections", 7);
  EXPECT_EQ(w.text(),
            "# HELP bulkhead_dropped_packets_total Packets dropped,\\nby reason\n"
            "# TYPE bulkhead_dropped_packets_total counter\n"
            "bulkhead_dropped_packets_total{reason=\"policy_deny\"} 12\n"
            "bulkhead_dropped_packets_total{reason=\"odd\\\"one\",port=\"0\"} 1\n"
            "# HELP bulkhead_connections Tracked connections\n"
            "# TYPE bulkhead_connections gauge\n"
            "bulkhead_connections 7\n");
  Writer v;
  v.family("m", Type::gauge, "h");
  v.sample_with("", {{"b", "2"}}, {{"a", "1"}}, 3);
  EXPECT_EQ(v.take(), "# HELP m h\n# TYPE m gauge\nm{a=\"1\",b=\"2\"} 3\n");
}

TEST(Prometheus, HistogramIsCumulative) {
  Histogram h({0.25, 0.5, 1});
  h.observe(0.125);
  h.observe(0.5);  // on a bound: counted in it (le is inclusive)
  h.observe(0.75);
  h.observe(7);
  Writer w;
  h.write(w, "x_seconds", "latency");
  EXPECT_EQ(w.text(),
            "# HELP x_seconds latency\n# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.25\"} 1\n"
            "x_seconds_bucket{le=\"0.5\"} 2\n"
            "x_seconds_bucket{le=\"1\"} 3\n"
            "x_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_seconds_sum 8.375\n"
            "x_seconds_count 4\n");
  EXPECT_THROW(Histogram({1, 0.5}), std::logic_error);
}

TEST(MetricsServer, HostPort) {
  HostPort hp;
  std::string error;
  ASSERT_TRUE(parse_host_port("127.0.0.1:9400", hp, error));
  EXPECT_EQ(hp.host, "127.0.0.1");
  EXPECT_EQ(hp.port, 9400);
  ASSERT_TRUE(parse_host_port("[::1]:80", hp, error));
  EXPECT_EQ(hp.host, "::1");
  EXPECT_EQ(hp.port, 80);
  for (const char* bad : {"9400", ":9400", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "h:12x", "[::1:80"})
    EXPECT_FALSE(parse_host_port(bad, hp, error)) << bad;
  EXPECT_NE(error.find("ADDR:PORT"), std::string::npos);
}

}  // namespace
}  // namespace bulkhead::common::prometheus
