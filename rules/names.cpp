#include "rules/names.h"

#include <idn2.h>

#include <cstdlib>
#include <memory>

namespace bulkhead::rules {
namespace {

constexpr std::size_t kMaxName = 253;  // dotted text of a 255-byte wire name
constexpr std::size_t kMaxLabel = 63;

bool ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// Letters, digits, hyphens and underscores (service labels such as _dmarc);
// a hyphen neither first nor last.
bool valid_label(std::string_view label, std::string& error) {
  if (label.empty()) {
    error = "empty label";
    return false;
  }
  if (label.size() > kMaxLabel) {
    error = "label '" + std::string(label.substr(0, 16)) + "...' is longer than 63 characters";
    return false;
  }
  for (char c : label) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      error = "'" + std::string(1, c) + "' is not allowed in a name (letters, digits, '-' and '_')";
      return false;
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    error = "label '" + std::string(label) + "' begins or ends with '-'";
    return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> canonical_name(std::string_view text, std::string& error) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty()) {
    error = "empty name";
    return std::nullopt;
  }
  std::string name;
  if (ascii(text)) {
    name.assign(text);
    for (char& c : name)
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  } else {
    // U-labels to A-labels: libidn2, IDNA2008 with the UTS #46 mapping
    // (case folding and the width forms people type).
    char* out = nullptr;
    std::string in(text);
    int rc = idn2_to_ascii_8z(in.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    std::unique_ptr<char, decltype(&std::free)> owned(out, &std::free);
    if (rc != IDN2_OK) {
      error = std::string("not a valid internationalised name: ") + idn2_strerror(rc);
      return std::nullopt;
    }
    name = out;
  }
  if (name.size() > kMaxName) {
    error = "name longer than 253 characters";
    return std::nullopt;
  }
  for (std::size_t at = 0; at <= name.size();) {
    std::size_t dot = name.find('.', at);
    if (dot == std::string::npos) dot = name.size();
    if (!valid_label(std::string_view(name).substr(at, dot - at), error)) return std::nullopt;
    at = dot + 1;
  }
  return name;
}

std::optional<NamePattern> parse_name_pattern(std::string_view text, std::string& error) {
  NamePattern p;
  if (text.substr(0, 2) == "*.") {
    p.wildcard = true;
    text.remove_prefix(2);
  } else if (text == "*" || text == "*.") {
    error = "'*' alone matches every name: write 'to: internet' for that";
    return std::nullopt;
  }
  if (text.find('*') != std::string_view::npos) {
    error = "'*' may only stand as the whole leftmost label ('*.example.com')";
    return std::nullopt;
  }
  auto name = canonical_name(text, error);
  if (!name) return std::nullopt;
  p.name = std::move(*name);
  return p;
}

bool matches(const NamePattern& pattern, std::string_view name) {
  if (!pattern.wildcard) return name == pattern.name;
  return name.size() > pattern.name.size() + 1 && name.ends_with(pattern.name) &&
         name[name.size() - pattern.name.size() - 1] == '.';
}

void NameMatcher::add(const NamePattern& pattern, unsigned set) {
  (pattern.wildcard ? under_ : exact_)[pattern.name] |= uint64_t(1) << (set % kMaxSets);
}

uint64_t NameMatcher::sets_of(std::string_view name) const {
  uint64_t sets = 0;
  if (auto it = exact_.find(name); it != exact_.end()) sets |= it->second;
  if (under_.empty()) return sets;
  for (std::size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.', dot + 1)) {
    if (auto it = under_.find(name.substr(dot + 1)); it != under_.end()) sets |= it->second;
  }
  return sets;
}

}  // namespace bulkhead::rules
