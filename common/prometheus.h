// Prometheus text exposition (format 0.0.4): the one place that writes it,
// so names, label escaping and number formatting are right everywhere.
//
//   prometheus::Writer w;
//   w.family("bulkhead_dropped_packets_total", Type::counter, "Packets dropped, by reason");
//   w.sample({{"reason", "policy_deny"}}, 12);
//   std::string text = w.take();
//
// A Writer and a Histogram belong to one thread at a time. Metric and label
// names are the program's own constants: a malformed one is a programming
// error and throws std::logic_error (the metrics server answers 500).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace bulkhead::common::prometheus {

enum class Type { counter, gauge, histogram };

struct Label {
  std::string_view name;
  std::string_view value;  // any bytes; escaped on output
};

// Label values: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view v);
// HELP text: backslash and line feed escaped.
std::string escape_help(std::string_view v);
// [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]* (no leading "__").
bool valid_metric_name(std::string_view n);
bool valid_label_name(std::string_view n);
// A sample value: integers exactly, others in the shortest round-trip form,
// NaN, +Inf, -Inf.
std::string format_value(double v);

class Writer {
 public:
  // Starts a family: its HELP and TYPE lines. Each name once per exposition.
  void family(std::string_view name, Type type, std::string_view help);
  // A sample of the current family (`suffix` for a histogram's _bucket,
  // _sum and _count).
  void sample(std::initializer_list<Label> labels, double value) { sample_with("", labels, {}, value); }
  void sample(double value) { sample_with("", {}, {}, value); }
  void sample(const std::vector<Label>& labels, double value) { sample_with("", {}, labels, value); }
  void sample_with(std::string_view suffix, std::initializer_list<Label> labels, const std::vector<Label>& more,
                   double value);
  // A family with one unlabelled sample.
  void single(std::string_view name, Type type, std::string_view help, double value) {
    family(name, type, help);
    sample(value);
  }

  const std::string& text() const noexcept { return out_; }
  std::string take() noexcept { return std::move(out_); }

 private:
  std::string out_;
  std::string family_;
  Type type_ = Type::gauge;
};

// A cumulative histogram with fixed upper bounds (ascending; +Inf implied).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v) noexcept;
  // Writes the family: _bucket{le=...} for every bound and +Inf, _sum, _count.
  void write(Writer& w, std::string_view name, std::string_view help) const;
  uint64_t count() const noexcept { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound, not cumulative; last: above every bound
  double sum_ = 0;
  uint64_t count_ = 0;
};

}  // namespace bulkhead::common::prometheus
