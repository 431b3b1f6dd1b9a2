#include "rules/format.h"

#include <yaml.h>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "common/time.h"
#include "rules/parser.h"

namespace bulkhead::rules {
namespace {

bool plain_safe(std::string_view s) {
  if (s.empty() || s.front() == '-' || s == "null" || s == "Null" || s == "NULL") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '/' || c == '-';
  });
}

int append_output(void* out, unsigned char* buffer, size_t size) {
  static_cast<std::string*>(out)->append(reinterpret_cast<const char*>(buffer), size);
  return 1;
}

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + items[i];
  return s;
}

std::string list(const std::vector<std::string>& items) {
  if (items.size() == 1) return items[0];
  return "[" + join(items) + "]";
}

std::string ports_text(const std::vector<PortRange>& r) {
  std::vector<std::string> items;
  for (const auto& x : r)
    items.push_back(x.lo == x.hi ? std::to_string(x.lo) : "\"" + std::to_string(x.lo) + "-" + std::to_string(x.hi) + "\"");
  return "[" + join(items) + "]";
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      if (pos < text.size()) out.emplace_back(text.substr(pos));
      break;
    }
    out.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// One list of rules being edited: the shared one or a tenant's.
struct RuleList {
  const std::vector<RuleDef>* rules = nullptr;
  const RuleListPlace* place = nullptr;
  std::string tenant;  // empty: the shared rules
};

bool rule_list(const Policy& p, std::string_view tenant, RuleList& out, std::string& error) {
  if (tenant.empty()) {
    out = {&p.rules, &p.place, {}};
    return true;
  }
  for (const auto& t : p.tenants)
    if (t.name == tenant) {
      out = {&t.rules, &t.place, t.name};
      return true;
    }
  error = "the policy has no tenant '" + std::string(tenant) + "'";
  return false;
}

// 0-based [first, end) line span of each rule in the source.
bool rule_spans(const RuleList& list, const std::vector<std::string>& lines,
                std::vector<std::pair<size_t, size_t>>& spans, std::string& error) {
  const auto& rules = *list.rules;
  const auto& place = *list.place;
  const std::string whose = list.tenant.empty() ? "the rules are" : "the rules of tenant '" + list.tenant + "' are";
  // An empty inline list ("rules: []") is rewritten by an insert.
  if (place.rules_inline && !rules.empty()) {
    error = whose + " written as one inline list; run 'bulkhead policy fmt -w' first";
    return false;
  }
  if (place.rules_line == 0 && !list.tenant.empty() && place.map_inline) {
    error = "tenant '" + list.tenant + "' is written as one inline map; run 'bulkhead policy fmt -w' first";
    return false;
  }
  const size_t end = place.after_rules_line > 0 ? place.after_rules_line - 1 : lines.size();
  for (size_t i = 0; i < rules.size(); ++i) {
    const size_t first = rules[i].loc.line - 1;
    size_t stop = i + 1 < rules.size() ? rules[i + 1].loc.line - 1 : end;
    // Trailing blank and comment lines before the next rule stay with it.
    while (stop > first + 1) {
      const auto& l = lines[stop - 1];
      const auto nonblank = l.find_first_not_of(" \t");
      if (nonblank == std::string::npos || l[nonblank] == '#') --stop;
      else break;
    }
    if (first >= lines.size() || stop > lines.size() || stop <= first) {
      error = "cannot locate rule '" + rules[i].id + "' in the source";
      return false;
    }
    // A rule must start its own line as a list item ("- { ... }" or "- id: ...").
    const auto dash = lines[first].find_first_not_of(" \t");
    if (dash == std::string::npos || lines[first][dash] != '-') {
      error = "rule '" + rules[i].id + "' does not start its own line; run 'bulkhead policy fmt -w' first";
      return false;
    }
    spans.emplace_back(first, stop);
  }
  return true;
}

// The indentation of the list's items: as its first rule is written, else
// two more than its key.
std::string indent_of(const RuleList& list, const std::vector<std::string>& lines) {
  if (!list.rules->empty()) {
    const auto& l = lines[list.rules->front().loc.line - 1];
    return l.substr(0, l.find('-'));
  }
  return std::string(list.place->key_column + 1, ' ');
}

}  // namespace

std::string yaml_scalar(std::string_view text) {
  if (plain_safe(text)) return std::string(text);
  // A document of one double-quoted scalar, never folded.
  std::string out;
  yaml_emitter_t emitter;
  yaml_event_t event;
  if (!yaml_emitter_initialize(&emitter)) throw std::runtime_error("cannot start the YAML writer");
  yaml_emitter_set_output(&emitter, append_output, &out);
  yaml_emitter_set_width(&emitter, -1);
  yaml_emitter_set_unicode(&emitter, 1);
  auto* value = reinterpret_cast<yaml_char_t*>(const_cast<char*>(text.data()));
  bool ok = yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING) && yaml_emitter_emit(&emitter, &event) &&
            yaml_document_start_event_initialize(&event, nullptr, nullptr, nullptr, 1) &&
            yaml_emitter_emit(&emitter, &event) &&
            yaml_scalar_event_initialize(&event, nullptr, nullptr, value, static_cast<int>(text.size()), 1, 1,
                                         YAML_DOUBLE_QUOTED_SCALAR_STYLE) &&
            yaml_emitter_emit(&emitter, &event) && yaml_document_end_event_initialize(&event, 1) &&
            yaml_emitter_emit(&emitter, &event) && yaml_stream_end_event_initialize(&event) &&
            yaml_emitter_emit(&emitter, &event);
  yaml_emitter_delete(&emitter);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  if (!ok || out.size() < 2 || out.front() != '"') throw std::invalid_argument("text that is not UTF-8");
  return out;
}

namespace {

std::string mode_text(PolicyMode m) {
  return m == PolicyMode::audit ? "audit" : m == PolicyMode::learn ? "learn" : "enforce";
}

// `fqdn: a` or `fqdn: [a, b]`, canonical.
std::string names_text(const char* key, const std::vector<std::string>& names) {
  return std::string(key) + ": " + (names.size() == 1 ? names[0] : "[" + join(names) + "]");
}

}  // namespace

std::string format_rule(const RuleDef& r) {
  std::string s = "{ id: " + yaml_scalar(r.id);
  // Names written one after another under one key stay under one key; a
  // list holding a name item is always bracketed.
  auto side = [](const std::vector<AddressItem>& items) {
    std::vector<std::string> v, run;
    AddressItem::Kind run_kind = AddressItem::Kind::any;
    auto flush = [&] {
      if (!run.empty()) v.push_back(names_text(run_kind == AddressItem::Kind::fqdn ? "fqdn" : "sni", run));
      run.clear();
    };
    bool names = false;
    for (const auto& it : items) {
      if (it.is_name()) {
        if (it.kind != run_kind) flush();
        run_kind = it.kind;
        run.push_back(yaml_scalar(it.pattern.text()));
        names = true;
        continue;
      }
      flush();
      run_kind = AddressItem::Kind::any;
      v.push_back(yaml_scalar(it.kind == AddressItem::Kind::literal ? prefix_text(it.prefix) : it.text));
    }
    flush();
    return names ? "[" + join(v) + "]" : list(v);
  };
  if (!r.from.empty()) s += ", from: " + side(r.from);
  if (!r.to.empty()) s += ", to: " + side(r.to);
  if (!r.any_proto) s += ", proto: " + yaml_scalar(r.proto_text.empty() ? std::to_string(r.proto) : r.proto_text);
  if (!r.ports.empty()) s += ", ports: " + ports_text(r.ports);
  if (!r.sports.empty()) s += ", sports: " + ports_text(r.sports);
  if (!r.icmp_types.empty()) {
    std::vector<std::string> v;
    for (uint8_t t : r.icmp_types) {
      const char* n = icmp_type_name(r.proto, t);
      v.push_back(n ? n : std::to_string(t));
    }
    s += ", icmp_types: [" + [&] {
      std::string x;
      for (size_t i = 0; i < v.size(); ++i) x += (i ? ", " : "") + v[i];
      return x;
    }() + "]";
  }
  s += std::string(", action: ") + (r.action == Action::allow ? "allow" : "deny");
  if (r.mode) s += ", mode: " + mode_text(*r.mode);
  if (r.log) s += ", log: true";
  if (r.expires_at != 0) s += ", expires: " + common::format_iso8601(r.expires_at);
  if (!r.description.empty()) s += ", description: " + yaml_scalar(r.description);
  return s + " }";
}

std::string format_policy(const Policy& p) {
  std::ostringstream o;
  for (const auto& l : lines_of(p.source_text)) {
    if (l.rfind("#", 0) != 0) break;
    o << l << '\n';
  }
  o << "version: " << p.version << '\n';
  o << "defaults: { action: " << (p.default_action == Action::allow ? "allow" : "deny") << ", mode: "
    << (p.mode == PolicyMode::audit ? "audit" : p.mode == PolicyMode::learn ? "learn" : "enforce") << " }\n";
  auto written = [](const SegmentDef& s) { return !s.builtin; };
  if (std::any_of(p.segments.begin(), p.segments.end(), written)) {
    o << "\nsegments:\n";
    for (const auto& s : p.segments) {
      if (!written(s)) continue;
      auto cidrs = [](const std::vector<Prefix>& v) {
        std::string x = "[";
        for (size_t i = 0; i < v.size(); ++i) x += (i ? ", " : "") + yaml_scalar(prefix_text(v[i]));
        return x + "]";
      };
      o << "  " << yaml_scalar(s.name) << ": ";
      if (s.except.empty() && s.fqdn.empty() && !s.mode) {
        o << cidrs(s.cidrs) << '\n';
        continue;
      }
      std::vector<std::string> keys;
      // A segment needs one of cidrs and fqdn, even empty: `cidrs: []` stays.
      if (!s.cidrs.empty() || s.fqdn.empty()) keys.push_back("cidrs: " + cidrs(s.cidrs));
      if (!s.except.empty()) keys.push_back("except: " + cidrs(s.except));
      if (!s.fqdn.empty()) {
        std::vector<std::string> names;
        for (const auto& n : s.fqdn) names.push_back(yaml_scalar(n.text()));
        keys.push_back("fqdn: [" + join(names) + "]");
      }
      if (s.mode) keys.push_back("mode: " + mode_text(*s.mode));
      o << "{ " << join(keys) << " }\n";
    }
  }
  // The name settings, each key only as written (unset keys keep their
  // defaults).
  if (p.dns.present) {
    std::vector<std::string> keys, trusted;
    for (const auto& it : p.dns.trusted)
      trusted.push_back(yaml_scalar(it.kind == AddressItem::Kind::literal ? prefix_text(it.prefix) : it.text));
    if (!trusted.empty()) keys.push_back("trusted: [" + join(trusted) + "]");
    auto number = [&](const char* key, const std::optional<uint32_t>& v) {
      if (v) keys.push_back(std::string(key) + ": " + std::to_string(*v));
    };
    number("grace", p.dns.grace);
    number("max_addresses_per_name", p.dns.max_addresses_per_name);
    number("max_names", p.dns.max_names);
    number("max_bindings", p.dns.max_bindings);
    o << "\ndns: { " << join(keys) << (keys.empty() ? "}\n" : " }\n");
  }
  if (p.tls.present) {
    const auto& t = p.tls;
    std::vector<std::string> keys;
    if (t.ports) keys.push_back("ports: " + ports_text(*t.ports));
    if (t.quic_ports) keys.push_back("quic_ports: " + ports_text(*t.quic_ports));
    if (t.hello_packets) keys.push_back("hello_packets: " + std::to_string(*t.hello_packets));
    if (t.hello_ms) keys.push_back("hello_ms: " + std::to_string(*t.hello_ms));
    auto fallback = [&](const char* key, const std::optional<SniFallback>& f) {
      if (f) keys.push_back(std::string(key) + ": " + (*f == SniFallback::allow ? "allow" : "deny"));
    };
    fallback("no_sni", t.no_sni);
    fallback("timeout", t.timeout);
    fallback("ech", t.ech);
    fallback("mismatch", t.mismatch);
    if (t.reset) keys.push_back(std::string("reset: ") + (*t.reset ? "true" : "false"));
    o << "\ntls: { " << join(keys) << (keys.empty() ? "}\n" : " }\n");
  }
  // An empty list is written as one: `rules:` alone would be null.
  o << "\nrules:" << (p.rules.empty() ? " []\n" : "\n");
  for (const auto& r : p.rules) o << "  - " << format_rule(r) << '\n';
  if (!p.tenants.empty()) {
    o << "\ntenants:\n";
    for (const auto& t : p.tenants) {
      char id[24];
      if (t.by_endpoint) std::snprintf(id, sizeof(id), "0x%016llx", static_cast<unsigned long long>(t.id));
      else std::snprintf(id, sizeof(id), "%llu", static_cast<unsigned long long>(t.id));
      o << "  " << yaml_scalar(t.name) << ":\n    " << (t.by_endpoint ? "endpoint: " : "vni: ") << id << '\n'
        << "    rules:" << (t.rules.empty() ? " []\n" : "\n");
      for (const auto& r : t.rules) o << "      - " << format_rule(r) << '\n';
    }
  }
  return o.str();
}

EditResult insert_rule_text(const Policy& p, std::string_view tenant, size_t position, const std::string& rule_line) {
  auto lines = lines_of(p.source_text);
  std::vector<std::pair<size_t, size_t>> spans;
  std::string error;
  RuleList list;
  if (!rule_list(p, tenant, list, error)) return {{}, error};
  const auto& place = *list.place;
  if (position > list.rules->size()) return {{}, "position " + std::to_string(position) + " is past the last rule"};
  if (!rule_spans(list, lines, spans, error)) return {{}, error};
  const std::string line = indent_of(list, lines) + "- " + rule_line;
  if (place.rules_line == 0) {
    // No `rules:` yet: the policy's goes at the end, a tenant's after its id.
    const std::string key = std::string(place.key_column - 1, ' ') + "rules:";
    const size_t at = place.insert_after == 0 ? lines.size() : place.insert_after;
    lines.insert(lines.begin() + static_cast<long>(at), {key, line});
  } else if (position < spans.size()) {
    lines.insert(lines.begin() + static_cast<long>(spans[position].first), line);
  } else {
    const size_t at = spans.empty() ? place.rules_line : spans.back().second;
    // `rules:` with nothing after it (or "rules: []") is replaced.
    if (spans.empty())
      lines[place.rules_line - 1] = lines[place.rules_line - 1].substr(0, lines[place.rules_line - 1].find(':') + 1);
    lines.insert(lines.begin() + static_cast<long>(at), line);
  }
  return {join_lines(lines), {}};
}

EditResult remove_rule_text(const Policy& p, std::string_view tenant, size_t index) {
  auto lines = lines_of(p.source_text);
  std::vector<std::pair<size_t, size_t>> spans;
  std::string error;
  RuleList list;
  if (!rule_list(p, tenant, list, error)) return {{}, error};
  if (index >= list.rules->size()) return {{}, "no rule at position " + std::to_string(index)};
  if (!rule_spans(list, lines, spans, error)) return {{}, error};
  lines.erase(lines.begin() + static_cast<long>(spans[index].first), lines.begin() + static_cast<long>(spans[index].second));
  // A list left empty is written as one: `rules:` alone would be null.
  if (list.rules->size() == 1) {
    auto& key = lines[list.place->rules_line - 1];
    key.erase(key.find_last_not_of(" \t") + 1);
    if (!key.empty() && key.back() == ':') key += " []";
  }
  return {join_lines(lines), {}};
}

EditResult move_rule_text(const Policy& p, std::string_view tenant, size_t from, size_t to) {
  auto lines = lines_of(p.source_text);
  std::vector<std::pair<size_t, size_t>> spans;
  std::string error;
  RuleList list;
  if (!rule_list(p, tenant, list, error)) return {{}, error};
  const size_t n = list.rules->size();
  if (from >= n || to >= n)
    return {{}, n == 0 ? std::string("there are no rules to move")
                       : "rule positions run from 0 to " + std::to_string(n - 1)};
  if (!rule_spans(list, lines, spans, error)) return {{}, error};
  if (from == to) return {p.source_text, {}};
  std::vector<std::string> block(lines.begin() + static_cast<long>(spans[from].first),
                                 lines.begin() + static_cast<long>(spans[from].second));
  // Insert at the target's position in the list without the moved rule.
  const size_t insert_at = to < from ? spans[to].first : spans[to].second;
  if (to > from) {
    lines.insert(lines.begin() + static_cast<long>(insert_at), block.begin(), block.end());
    lines.erase(lines.begin() + static_cast<long>(spans[from].first), lines.begin() + static_cast<long>(spans[from].second));
  } else {
    lines.erase(lines.begin() + static_cast<long>(spans[from].first), lines.begin() + static_cast<long>(spans[from].second));
    lines.insert(lines.begin() + static_cast<long>(insert_at), block.begin(), block.end());
  }
  return {join_lines(lines), {}};
}

}  // namespace bulkhead::rules
