// Domain names in policy: how they are written, compared and matched.
//
// A name in a policy (`fqdn: api.example.com`) is compared in its canonical
// form: lower-case A-labels (an internationalised name is converted to its
// punycode form, IDNA2008 with UTS #46 mapping, by libidn2), no trailing dot.
// DNS answers are read in the same form (dataplane/names/dns.h), so a
// name's match is one string comparison.
//
// Patterns: `*.example.com` matches every name under example.com, at any
// depth (`api.example.com`, `a.b.example.com`), and not `example.com`
// itself: write both to allow both. `*` stands only as the whole leftmost
// label; a pattern of `*` alone is refused (that is `to: internet`).
//
// NameMatcher answers which of a policy's name sets a name belongs to in
// time linear in the name's length, whatever the number of patterns.
// Thread-safety: built by one thread, then read-only (any number of readers).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bulkhead::rules {

struct NamePattern {
  std::string name;       // canonical; for a wildcard, the part after "*."
  bool wildcard = false;  // "*.name": names strictly under `name`

  std::string text() const { return wildcard ? "*." + name : name; }
  bool operator==(const NamePattern&) const = default;
};

// Reads a name or pattern as a policy writes it. On failure returns nullopt
// and a message in `error` (the column is the caller's).
std::optional<NamePattern> parse_name_pattern(std::string_view text, std::string& error);

// The canonical form of a name read off the wire or typed in a command
// (lower case, no trailing dot); nullopt when it is not a valid name.
std::optional<std::string> canonical_name(std::string_view text, std::string& error);

bool matches(const NamePattern& pattern, std::string_view canonical_name);

// Maps names to the sets (bits 0..63) whose patterns match them.
class NameMatcher {
 public:
  static constexpr unsigned kMaxSets = 64;

  void add(const NamePattern& pattern, unsigned set);
  // The sets matching a canonical name: its exact entry, and the wildcard
  // entries of every proper suffix starting at a label.
  uint64_t sets_of(std::string_view canonical_name) const;
  bool empty() const { return exact_.empty() && under_.empty(); }

 private:
  // Looked up by string_view: no allocation per name.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using Table = std::unordered_map<std::string, uint64_t, Hash, std::equal_to<>>;
  Table exact_;
  Table under_;  // wildcard patterns by the name they stand under
};

}  // namespace bulkhead::rules
