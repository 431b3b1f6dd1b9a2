#include "common/prometheus.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace bulkhead::common::prometheus {
namespace {

bool name_char(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (c == ':') return colon;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view n, bool colon) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i)
    if (!name_char(n[i], i == 0, colon)) return false;
  return true;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::counter: return "counter";
    case Type::histogram: return "histogram";
    case Type::gauge: break;
  }
  return "gauge";
}

void append_escaped(std::string& out, std::string_view v, bool quote) {
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
}

void append_label(std::string& out, bool& first, const Label& l) {
  if (!valid_label_name(l.name)) throw std::logic_error("invalid label name: " + std::string(l.name));
  out += first ? '{' : ',';
  first = false;
  out += l.name;
  out += "=\"";
  append_escaped(out, l.value, true);
  out += '"';
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  append_escaped(out, v, true);
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  append_escaped(out, v, false);
  return out;
}

bool valid_metric_name(std::string_view n) { return valid_name(n, true); }

bool valid_label_name(std::string_view n) { return valid_name(n, false) && n.substr(0, 2) != "__"; }

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  // Counters are integers: print them whole (no exponent) while a double
  // holds them exactly.
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
    return std::string(buf, p);
  }
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, p);
}

void Writer::family(std::string_view name, Type type, std::string_view help) {
  if (!valid_metric_name(name)) throw std::logic_error("invalid metric name: " + std::string(name));
  family_.assign(name);
  type_ = type;
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type_name(type);
  out_ += '\n';
}

void Writer::sample_with(std::string_view suffix, std::initializer_list<Label> labels, const std::vector<Label>& more,
                         double value) {
  if (family_.empty()) throw std::logic_error("sample before any family");
  out_ += family_;
  out_ += suffix;
  bool first = true;
  for (const Label& l : more) append_label(out_, first, l);
  for (const Label& l : labels) append_label(out_, first, l);
  if (!first) out_ += '}';
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end())
    throw std::logic_error("histogram bounds not strictly ascending");
}

void Histogram::observe(double v) noexcept {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);  // first bound >= v: le is inclusive
  ++counts_[static_cast<size_t>(it - bounds_.begin())];
  sum_ += v;
  ++count_;
}

void Histogram::write(Writer& w, std::string_view name, std::string_view help) const {
  w.family(name, Type::histogram, help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = format_value(bounds_[i]);
    w.sample_with("_bucket", {{"le", le}}, {}, static_cast<double>(cumulative));
  }
  w.sample_with("_bucket", {{"le", "+Inf"}}, {}, static_cast<double>(count_));
  w.sample_with("_sum", {}, {}, sum_);
  w.sample_with("_count", {}, {}, static_cast<double>(count_));
}

}  // namespace bulkhead::common::prometheus
