#include "rules/prefix.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace bulkhead::rules {
namespace {

void set_bit(std::array<uint8_t, 16>& a, unsigned i, bool v) {
  const uint8_t m = static_cast<uint8_t>(1u << (7 - i % 8));
  if (v) a[i / 8] |= m; else a[i / 8] &= static_cast<uint8_t>(~m);
}

std::array<uint8_t, 16> masked(std::array<uint8_t, 16> a, unsigned len) {
  for (unsigned i = len; i < 128; ++i) set_bit(a, i, false);
  return a;
}

// The two halves of p (p.len < max).
std::pair<Prefix, Prefix> split(const Prefix& p) {
  Prefix lo = p, hi = p;
  lo.len = hi.len = static_cast<uint8_t>(p.len + 1);
  set_bit(hi.addr, p.len, true);
  return {lo, hi};
}

// Order of normalised sets: family, then address, then length.
bool before(const Prefix& a, const Prefix& b) {
  if (a.family != b.family) return a.family < b.family;
  if (a.addr != b.addr) return a.addr < b.addr;
  return a.len < b.len;
}

// p minus the disjoint, sorted prefixes remove[lo, hi), all of p's family
// and each inside p or containing it. Splits p only along the way to a
// removed prefix, so the cost is O((hi - lo) x address bits).
void carve(const Prefix& p, const std::vector<Prefix>& remove, size_t lo, size_t hi, std::vector<Prefix>& out) {
  if (lo == hi) {
    out.push_back(p);
    return;
  }
  if (contains(remove[lo], p)) return;  // disjoint: only the first can contain p
  const std::pair<Prefix, Prefix> halves = split(p);
  const Prefix& low = halves.first;
  const Prefix& high = halves.second;
  // The removed prefixes in the high half start at the first address in it.
  const size_t mid = static_cast<size_t>(
      std::partition_point(remove.begin() + static_cast<long>(lo), remove.begin() + static_cast<long>(hi),
                           [&](const Prefix& r) { return r.addr < high.addr; }) -
      remove.begin());
  carve(low, remove, lo, mid, out);
  carve(high, remove, mid, hi, out);
}

}  // namespace

bool parse_address(std::string_view text, uint8_t& family, std::array<uint8_t, 16>& addr) {
  char buf[64];
  if (text.size() >= sizeof(buf)) return false;
  std::copy(text.begin(), text.end(), buf);
  buf[text.size()] = '\0';
  addr.fill(0);
  if (inet_pton(AF_INET, buf, addr.data()) == 1) {
    family = 4;
    return true;
  }
  if (inet_pton(AF_INET6, buf, addr.data()) == 1) {
    family = 6;
    return true;
  }
  return false;
}

std::optional<Prefix> parse_prefix(std::string_view text, std::string& error) {
  Prefix p;
  const auto slash = text.find('/');
  const std::string_view a = text.substr(0, slash);
  if (!parse_address(a, p.family, p.addr)) {
    error = "'" + std::string(text) + "' is not an IPv4 or IPv6 address or prefix";
    return std::nullopt;
  }
  p.len = p.max_len();
  if (slash != std::string_view::npos) {
    const std::string_view l = text.substr(slash + 1);
    unsigned len = 0;
    auto [ptr, ec] = std::from_chars(l.data(), l.data() + l.size(), len);
    if (l.empty() || ec != std::errc() || ptr != l.data() + l.size() || len > p.max_len()) {
      error = "'" + std::string(text) + "': prefix length must be 0-" + std::to_string(p.max_len());
      return std::nullopt;
    }
    p.len = static_cast<uint8_t>(len);
  }
  const auto m = masked(p.addr, p.len);
  if (m != p.addr) {
    Prefix fixed = p;
    fixed.addr = m;
    error = "'" + std::string(text) + "' has host bits set; did you mean " + format_prefix(fixed) + "?";
    return std::nullopt;
  }
  return p;
}

std::string format_address(uint8_t family, const std::array<uint8_t, 16>& addr) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 4 ? AF_INET : AF_INET6, addr.data(), buf, sizeof(buf));
  return buf;
}

std::string format_prefix(const Prefix& p) {
  return format_address(p.family, p.addr) + "/" + std::to_string(p.len);
}

std::string prefix_text(const Prefix& p) {
  return p.len == p.max_len() ? format_address(p.family, p.addr) : format_prefix(p);
}

bool contains(const Prefix& outer, const Prefix& inner) {
  if (outer.family != inner.family || outer.len > inner.len) return false;
  return masked(inner.addr, outer.len) == outer.addr;
}

bool contains_address(const Prefix& p, uint8_t family, const std::array<uint8_t, 16>& addr) {
  if (p.family != family || p.len > p.max_len()) return false;
  // Bytewise (the dataplane asks per DNS answer), and without relying on
  // the prefix's bits past its length being zero (a prefix off the wire).
  const unsigned whole = p.len / 8u, rest = p.len % 8u;
  if (std::memcmp(p.addr.data(), addr.data(), whole) != 0) return false;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return rest == 0 || (p.addr[whole] & mask) == (addr[whole] & mask);
}

std::vector<Prefix> normalise(std::vector<Prefix> set) {
  std::sort(set.begin(), set.end(), [](const Prefix& a, const Prefix& b) {
    if (a.family != b.family) return a.family < b.family;
    if (a.addr != b.addr) return a.addr < b.addr;
    return a.len < b.len;
  });
  bool changed = true;
  while (changed) {
    changed = false;
    std::vector<Prefix> out;
    for (const auto& p : set) {
      if (!out.empty() && contains(out.back(), p)) {
        changed = changed || !(out.back() == p);
        continue;
      }
      // Merge with the previous prefix when the two are sibling halves.
      if (!out.empty() && out.back().len == p.len && p.len > 0 && out.back().family == p.family) {
        Prefix parent = p;
        parent.len = static_cast<uint8_t>(p.len - 1);
        parent.addr = masked(p.addr, parent.len);
        if (contains(parent, out.back())) {
          out.back() = parent;
          changed = true;
          continue;
        }
      }
      out.push_back(p);
    }
    set = std::move(out);
  }
  return set;
}

std::vector<Prefix> subtract(const std::vector<Prefix>& set, const std::vector<Prefix>& remove) {
  const std::vector<Prefix> cur = normalise(set), rem = normalise(remove);
  std::vector<Prefix> out;
  for (const auto& p : cur) {
    // The removed prefixes that meet p: the one just before p's first
    // address may contain it; the ones from p's first address up to its
    // last lie inside it.
    size_t lo = static_cast<size_t>(std::lower_bound(rem.begin(), rem.end(), p, before) - rem.begin());
    if (lo > 0 && contains(rem[lo - 1], p)) --lo;
    size_t hi = lo;
    while (hi < rem.size() && (contains(p, rem[hi]) || contains(rem[hi], p))) ++hi;
    carve(p, rem, lo, hi, out);
  }
  return normalise(out);
}

}  // namespace bulkhead::rules
