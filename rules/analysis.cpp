#include "rules/analysis.h"

#include <algorithm>
#include <array>
#include <set>
#include <unordered_set>

#include "rules/prefix.h"

namespace bulkhead::rules {
namespace {

__extension__ typedef unsigned __int128 u128;

struct Interval {
  u128 lo, hi;  // inclusive
};

enum Dim { kProto = 0, kSrc, kDst, kSport, kDport, kDims };
using Box = std::array<Interval, kDims>;
using Region = std::vector<Box>;

bool intersects(const Box& a, const Box& b) {
  for (int d = 0; d < kDims; ++d)
    if (a[d].hi < b[d].lo || b[d].hi < a[d].lo) return false;
  return true;
}

bool contains(const Box& outer, const Box& inner) {
  for (int d = 0; d < kDims; ++d)
    if (inner[d].lo < outer[d].lo || inner[d].hi > outer[d].hi) return false;
  return true;
}

Box intersection(const Box& a, const Box& b) {
  Box r;
  for (int d = 0; d < kDims; ++d) r[d] = {std::max(a[d].lo, b[d].lo), std::min(a[d].hi, b[d].hi)};
  return r;
}

// a minus b as disjoint boxes (at most 2 per dimension).
void subtract(const Box& a, const Box& b, Region& out) {
  if (!intersects(a, b)) {
    out.push_back(a);
    return;
  }
  Box rest = a;
  for (int d = 0; d < kDims; ++d) {
    if (rest[d].lo < b[d].lo) {
      Box piece = rest;
      piece[d].hi = b[d].lo - 1;
      out.push_back(piece);
      rest[d].lo = b[d].lo;
    }
    if (rest[d].hi > b[d].hi) {
      Box piece = rest;
      piece[d].lo = b[d].hi + 1;
      out.push_back(piece);
      rest[d].hi = b[d].hi;
    }
  }
}

Interval prefix_interval(const pb::Prefix& p, int family) {
  const int bits = family == 4 ? 32 : 128;
  u128 v = 0;
  for (unsigned char c : p.addr()) v = v << 8 | c;
  const int len = static_cast<int>(std::min<uint32_t>(p.prefix_len(), static_cast<uint32_t>(bits)));
  const u128 span = len == 0 ? (bits == 128 ? ~u128{0} : (u128{1} << bits) - 1)
                             : (len == bits ? 0 : ((u128{1} << (bits - len)) - 1));
  return {v, v + span};
}

u128 family_max(int family) { return family == 4 ? (u128{1} << 32) - 1 : ~u128{0}; }

// The boxes of one rule in one family (empty if the rule does not apply).
Region rule_region(const pb::CompiledRule& r, int family) {
  Region out;
  if (family == 4 ? !r.v4() : !r.v6()) return out;
  const size_t addr_len = family == 4 ? 4 : 16;
  auto side = [&](const google::protobuf::RepeatedPtrField<pb::Prefix>& s) {
    std::vector<Interval> v;
    if (s.empty()) v.push_back({0, family_max(family)});
    for (const auto& p : s)
      if (p.addr().size() == addr_len) v.push_back(prefix_interval(p, family));
    return v;
  };
  auto ports = [](const google::protobuf::RepeatedPtrField<pb::PortRange>& s) {
    std::vector<Interval> v;
    if (s.empty()) v.push_back({0, 65535});
    for (const auto& x : s) v.push_back({x.lo(), x.hi()});
    return v;
  };
  const auto src = side(r.src()), dst = side(r.dst()), sp = ports(r.sports()), dp = ports(r.dports());
  const Interval proto = r.any_proto() ? Interval{0, 255} : Interval{r.proto(), r.proto()};
  for (const auto& a : src)
    for (const auto& b : dst)
      for (const auto& c : sp)
        for (const auto& d : dp) out.push_back(Box{proto, a, b, c, d});
  return out;
}

Box bounds(const Region& r) {
  Box b = r.front();
  for (const auto& x : r)
    for (int d = 0; d < kDims; ++d) {
      b[d].lo = std::min(b[d].lo, x[d].lo);
      b[d].hi = std::max(b[d].hi, x[d].hi);
    }
  return b;
}

std::string example(const Box& b, int family) {
  Tuple t;
  t.family = static_cast<uint8_t>(family);
  t.proto = static_cast<uint8_t>(b[kProto].lo);
  // Prefer a real transport protocol when the box allows any.
  if (b[kProto].lo <= 6 && b[kProto].hi >= 6) t.proto = 6;
  const size_t n = family == 4 ? 4 : 16;
  u128 s = b[kSrc].lo, d = b[kDst].lo;
  for (size_t i = 0; i < n; ++i) {
    t.src[n - 1 - i] = static_cast<uint8_t>(s);
    t.dst[n - 1 - i] = static_cast<uint8_t>(d);
    s >>= 8;
    d >>= 8;
  }
  t.sport = static_cast<uint16_t>(b[kSport].lo);
  t.dport = static_cast<uint16_t>(b[kDport].lo);
  return format_tuple(t);
}

struct RuleRegions {
  Region region[2];  // v4, v6
  Box bound[2];
  bool has[2] = {false, false};
  bool single[2] = {false, false};  // the region is its bounding box
};

// The rules whose bounding boxes (of one family) meet a query box, found
// without testing every rule: the rules sorted by the low end of their
// source range, in blocks that remember their highest source end, so a
// block wholly below the query is skipped and the scan stops at the first
// rule starting above it. Results in rule order.
class BoundIndex {
 public:
  BoundIndex(const std::vector<RuleRegions>& regions, int f) {
    for (size_t i = 0; i < regions.size(); ++i)
      if (regions[i].has[f]) order_.push_back(static_cast<int>(i));
    std::sort(order_.begin(), order_.end(), [&](int a, int b) {
      return regions[static_cast<size_t>(a)].bound[f][kSrc].lo < regions[static_cast<size_t>(b)].bound[f][kSrc].lo;
    });
    for (int i : order_) bounds_.push_back(regions[static_cast<size_t>(i)].bound[f]);
    for (size_t first = 0; first < bounds_.size(); first += kBlock) {
      u128 hi = 0;
      for (size_t k = first; k < std::min(bounds_.size(), first + kBlock); ++k) hi = std::max(hi, bounds_[k][kSrc].hi);
      block_hi_.push_back(hi);
    }
  }

  std::vector<int> meeting(const Box& q) const {
    std::vector<int> out;
    for (size_t b = 0; b < block_hi_.size(); ++b) {
      const size_t first = b * kBlock;
      if (bounds_[first][kSrc].lo > q[kSrc].hi) break;
      if (block_hi_[b] < q[kSrc].lo) continue;
      for (size_t k = first; k < std::min(bounds_.size(), first + kBlock); ++k) {
        if (bounds_[k][kSrc].lo > q[kSrc].hi) break;
        if (intersects(bounds_[k], q)) out.push_back(order_[k]);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  static constexpr size_t kBlock = 32;
  std::vector<int> order_;
  std::vector<Box> bounds_;
  std::vector<u128> block_hi_;
};

// Subtracts rule `j`'s region from `pieces` in place; returns false when
// the pieces grow past the limit. `hit` is set when j intersected. Pieces j
// does not touch are neither copied nor moved.
bool subtract_rule(Region& pieces, const RuleRegions& j, int f, size_t limit, bool& hit) {
  hit = false;
  if (!j.has[f]) return true;
  Region added;
  for (size_t k = 0; k < pieces.size();) {
    const Box piece = pieces[k];
    bool touches = false;
    if (intersects(piece, j.bound[f]))
      for (const auto& jb : j.region[f]) touches = touches || intersects(piece, jb);
    if (!touches) {
      ++k;
      continue;
    }
    hit = true;
    Region cur{piece};
    for (const auto& jb : j.region[f]) {
      Region tmp;
      for (const auto& c : cur) subtract(c, jb, tmp);
      cur.swap(tmp);
      if (cur.empty()) break;
    }
    pieces[k] = pieces.back();  // swap-remove; the moved piece is examined next
    pieces.pop_back();
    added.insert(added.end(), cur.begin(), cur.end());
    if (pieces.size() + added.size() > limit) return false;
  }
  pieces.insert(pieces.end(), added.begin(), added.end());
  return true;
}

using Point = std::array<u128, kDims>;

bool holds(const Box& b, const Point& p) {
  for (int d = 0; d < kDims; ++d)
    if (p[d] < b[d].lo || p[d] > b[d].hi) return false;
  return true;
}

bool rule_holds(const RuleRegions& r, int f, const Point& p) {
  if (!r.has[f] || !holds(r.bound[f], p)) return false;
  if (r.single[f]) return true;
  for (const auto& b : r.region[f])
    if (holds(b, p)) return true;
  return false;
}

// Points worth trying as witnesses of a region: the corners of its first
// boxes. A witness that no earlier rule holds proves a rule is not shadowed
// without region arithmetic, which is what keeps 10K-rule sets fast.
std::vector<Point> candidates(const Region& r) {
  std::vector<Point> out;
  for (size_t k = 0; k < r.size() && k < 4; ++k) {
    for (unsigned corner = 0; corner < (1u << kDims); ++corner) {
      Point p;
      for (int d = 0; d < kDims; ++d) p[d] = (corner >> d) & 1 ? r[k][d].hi : r[k][d].lo;
      out.push_back(p);
    }
  }
  return out;
}

Box point_box(const Point& p) {
  Box b;
  for (int d = 0; d < kDims; ++d) b[d] = {p[d], p[d]};
  return b;
}

bool broad(const google::protobuf::RepeatedPtrField<pb::Prefix>& side) {
  if (side.empty()) return true;
  // Half of an address space or more, counted per family.
  u128 v4 = 0, v6 = 0;
  for (const auto& p : side) {
    const int fam = p.addr().size() == 4 ? 4 : 6;
    const Interval iv = prefix_interval(p, fam);
    const u128 size = iv.hi - iv.lo;
    (fam == 4 ? v4 : v6) += size;
  }
  return v4 >= (u128{1} << 31) - 1 || v6 >= (u128{1} << 127) - 1;
}

}  // namespace

const char* finding_kind_name(Finding::Kind k) {
  switch (k) {
    case Finding::Kind::shadowed: return "shadowed";
    case Finding::Kind::redundant: return "redundant";
    case Finding::Kind::conflict: return "conflict";
    case Finding::Kind::too_broad: return "too-broad";
    case Finding::Kind::unused_segment: return "unused-segment";
    case Finding::Kind::empty_segment: return "empty-segment";
    case Finding::Kind::expired_rule: return "expired-rule";
    case Finding::Kind::incomplete: return "incomplete";
  }
  return "?";
}

std::vector<Finding> analyse(const pb::CompiledRuleSet& set, const AnalysisOptions& opt) {
  std::vector<Finding> out;
  const int n = set.rules_size();
  auto line = [&](int i) { return set.rules(i).location().line(); };
  auto allow = [&](int i) { return set.rules(i).action() == pb::ACTION_ALLOW; };
  const bool default_allow = set.default_action() == pb::ACTION_ALLOW;

  std::vector<RuleRegions> regions(static_cast<size_t>(n));
  std::vector<bool> expired(static_cast<size_t>(n), false);
  for (int i = 0; i < n; ++i) {
    const auto& r = set.rules(i);
    expired[static_cast<size_t>(i)] = r.expires_at() != 0 && opt.now_unix >= r.expires_at();
    if (expired[static_cast<size_t>(i)]) {
      out.push_back({Finding::Severity::warning, Finding::Kind::expired_rule, {r.id()}, {line(i)},
                     "rule '" + r.id() + "' expired and no longer matches; remove it", {}});
      continue;
    }
    for (int f = 0; f < 2; ++f) {
      auto& rr = regions[static_cast<size_t>(i)];
      rr.region[f] = rule_region(r, f == 0 ? 4 : 6);
      rr.has[f] = !rr.region[f].empty();
      if (rr.has[f]) rr.bound[f] = bounds(rr.region[f]);
      rr.single[f] = rr.region[f].size() == 1;
    }
  }

  // For each rule and family, the other rules whose bounds meet its bound
  // (in rule order): every pairwise question below is about those alone.
  std::vector<std::vector<int>> near[2];
  for (int f = 0; f < 2; ++f) {
    const BoundIndex index(regions, f);
    near[f].resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
      if (regions[static_cast<size_t>(i)].has[f]) near[f][static_cast<size_t>(i)] = index.meeting(regions[static_cast<size_t>(i)].bound[f]);
  }

  // What each rule decides: a witness point it decides when one is found
  // quickly; otherwise its exact effective region (its space minus every
  // earlier rule's), computed with earlier rules largest first.
  std::vector<std::array<Region, 2>> effective(static_cast<size_t>(n));
  std::vector<std::array<bool, 2>> exact(static_cast<size_t>(n), {false, false});
  std::vector<bool> shadowed(static_cast<size_t>(n), false);
  std::vector<bool> unknown(static_cast<size_t>(n), false);
  auto earlier_hold = [&](int i, int f, const Point& p) {  // p lies in rule i
    for (int j : near[f][static_cast<size_t>(i)]) {
      if (j >= i) break;
      if (rule_holds(regions[static_cast<size_t>(j)], f, p)) return true;
    }
    return false;
  };
  auto exact_effective = [&](int i, int f, std::set<int>* covering) {
    const auto& ri = regions[static_cast<size_t>(i)];
    std::vector<int> order;
    for (int j : near[f][static_cast<size_t>(i)]) {
      if (j >= i) break;
      order.push_back(j);
    }
    auto volume = [&](int j) {
      long double v = 1;
      for (const auto& b : regions[static_cast<size_t>(j)].region[f])
        for (int d = 0; d < kDims; ++d) v *= static_cast<long double>(b[d].hi - b[d].lo) + 1;
      return v;
    };
    std::vector<std::pair<long double, int>> by_volume;
    for (int j : order) by_volume.push_back({-volume(j), j});
    std::sort(by_volume.begin(), by_volume.end());
    Region pieces = ri.region[f];
    for (const auto& [v, j] : by_volume) {
      if (pieces.empty()) break;
      bool hit = false;
      if (!subtract_rule(pieces, regions[static_cast<size_t>(j)], f, opt.max_pieces, hit)) return false;
      if (hit && covering) covering->insert(j);
    }
    effective[static_cast<size_t>(i)][f] = std::move(pieces);
    exact[static_cast<size_t>(i)][f] = true;
    return true;
  };

  for (int i = 0; i < n; ++i) {
    const auto& ri = regions[static_cast<size_t>(i)];
    if (expired[static_cast<size_t>(i)] || (!ri.has[0] && !ri.has[1])) continue;
    bool decided_something = false;
    for (int f = 0; f < 2 && !decided_something; ++f) {
      if (!ri.has[f]) continue;
      for (const auto& p : candidates(ri.region[f]))
        if (rule_holds(ri, f, p) && !earlier_hold(i, f, p)) {
          effective[static_cast<size_t>(i)][f] = {point_box(p)};
          decided_something = true;
          break;
        }
    }
    if (decided_something) continue;
    std::set<int> covering;
    bool complete = true, empty = true;
    for (int f = 0; f < 2; ++f) {
      if (!ri.has[f]) continue;
      if (!exact_effective(i, f, &covering)) {
        complete = false;
        break;
      }
      if (!effective[static_cast<size_t>(i)][f].empty()) empty = false;
    }
    const auto& r = set.rules(i);
    if (!complete) {
      unknown[static_cast<size_t>(i)] = true;
      out.push_back({Finding::Severity::info, Finding::Kind::incomplete, {r.id()}, {line(i)},
                     "rule '" + r.id() + "': overlaps too fragmented to analyse exactly", {}});
      continue;
    }
    if (!empty) continue;
    shadowed[static_cast<size_t>(i)] = true;
    Finding fnd{Finding::Severity::warning, Finding::Kind::shadowed, {r.id()}, {line(i)}, "", {}};
    bool other_action = false;
    for (int j : covering) {
      fnd.rules.push_back(set.rules(j).id());
      fnd.lines.push_back(line(j));
      other_action = other_action || allow(j) != allow(i);
    }
    std::string by;
    for (size_t k = 1; k < fnd.rules.size() && k <= 5; ++k) by += (k > 1 ? ", " : "") + fnd.rules[k];
    if (fnd.rules.size() > 6) by += ", ...";
    if (other_action) {
      fnd.severity = Finding::Severity::error;
      fnd.message = "rule '" + r.id() + "' can never match: earlier rules (" + by +
                    ") cover it entirely, some with the opposite action";
    } else {
      fnd.message = "rule '" + r.id() + "' can never match: earlier rules (" + by + ") cover it entirely";
    }
    fnd.examples.push_back(example(ri.region[ri.has[0] ? 0 : 1].front(), ri.has[0] ? 4 : 6));
    out.push_back(std::move(fnd));
  }

  // Redundant: removing the rule changes no verdict — everything it decides
  // would be decided the same way by the rules after it (or the default).
  auto later_verdict = [&](int i, int f, const Point& p) {  // allow? of the first later rule holding p (in rule i)
    for (int j : near[f][static_cast<size_t>(i)])
      if (j > i && rule_holds(regions[static_cast<size_t>(j)], f, p)) return allow(j);
    return default_allow;
  };
  // Later rules meeting rule i in either family, in rule order.
  auto later_near = [&](int i) {
    std::vector<int> v;
    for (int f = 0; f < 2; ++f)
      for (int j : near[f][static_cast<size_t>(i)])
        if (j > i) v.push_back(j);
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  };
  for (int i = 0; i < n; ++i) {
    if (shadowed[static_cast<size_t>(i)] || expired[static_cast<size_t>(i)] || unknown[static_cast<size_t>(i)])
      continue;
    const auto& ri = regions[static_cast<size_t>(i)];
    if (!ri.has[0] && !ri.has[1]) continue;
    // A witness whose verdict would change settles it at once.
    bool changes = false;
    for (int f = 0; f < 2 && !changes; ++f) {
      if (!ri.has[f] || exact[static_cast<size_t>(i)][f] || effective[static_cast<size_t>(i)][f].empty()) continue;
      Point p;
      for (int d = 0; d < kDims; ++d) p[d] = effective[static_cast<size_t>(i)][f].front()[d].lo;
      changes = later_verdict(i, f, p) != allow(i);
    }
    if (changes) continue;
    // A later rule of the same action that holds the whole rule, with no
    // rule of the other action touching it in between, settles it too.
    int container = -1;
    bool blocked = false;
    // Rules that do not meet it neither hold it nor touch it.
    for (int j : later_near(i)) {
      if (container >= 0 || blocked) break;
      const auto& rj = regions[static_cast<size_t>(j)];
      bool holds_all = true, touches = false;
      for (int f = 0; f < 2; ++f) {
        if (!ri.has[f]) continue;
        if (!rj.has[f]) {
          holds_all = false;
          continue;
        }
        touches = touches || intersects(ri.bound[f], rj.bound[f]);
        bool in = false;
        for (const auto& jb : rj.region[f]) in = in || contains(jb, ri.bound[f]);
        holds_all = holds_all && in;
      }
      if (allow(j) != allow(i)) blocked = touches;
      else if (holds_all) container = j;
    }
    if (container >= 0) {
      const auto& r = set.rules(i);
      out.push_back({Finding::Severity::warning, Finding::Kind::redundant, {r.id()}, {line(i)},
                     "rule '" + r.id() + "' is redundant: without it every flow it decides gets the same verdict " +
                         "(from later rules, e.g. '" + set.rules(container).id() + "')",
                     {}});
      continue;
    }
    bool redundant = true, any = false;
    std::string taker;
    for (int f = 0; f < 2 && redundant; ++f) {
      if (!ri.has[f]) continue;
      if (!exact[static_cast<size_t>(i)][f] && !exact_effective(i, f, nullptr)) {
        redundant = false;
        break;
      }
      Region pieces = effective[static_cast<size_t>(i)][f];
      if (pieces.empty()) continue;
      any = true;
      for (int j : near[f][static_cast<size_t>(i)]) {
        if (j <= i) continue;
        if (pieces.empty() || !redundant) break;
        const auto& rj = regions[static_cast<size_t>(j)];
        bool touches = false;
        for (const auto& p : pieces)
          if (intersects(p, rj.bound[f]))
            for (const auto& jb : rj.region[f]) touches = touches || intersects(p, jb);
        if (!touches) continue;
        if (allow(j) != allow(i)) {
          redundant = false;
          break;
        }
        bool hit = false;
        if (!subtract_rule(pieces, rj, f, opt.max_pieces, hit)) redundant = false;
        if (hit && taker.empty()) taker = set.rules(j).id();
      }
      if (redundant && !pieces.empty() && default_allow != allow(i)) redundant = false;
    }
    if (redundant && any) {
      const auto& r = set.rules(i);
      out.push_back({Finding::Severity::warning, Finding::Kind::redundant, {r.id()}, {line(i)},
                     "rule '" + r.id() + "' is redundant: without it every flow it decides gets the same verdict (" +
                         (taker.empty() ? std::string("from the default action") : "from later rules, e.g. '" + taker + "'") +
                         ")",
                     {}});
    }
  }

  // Conflicting partial overlaps between allow and deny rules.
  size_t conflicts = 0;
  for (int j = 0; j < n; ++j) {
    if (shadowed[static_cast<size_t>(j)] || expired[static_cast<size_t>(j)]) continue;
    std::vector<int> earlier;  // earlier rules meeting j in either family, in rule order
    for (int f = 0; f < 2; ++f)
      for (int i : near[f][static_cast<size_t>(j)])
        if (i < j) earlier.push_back(i);
    std::sort(earlier.begin(), earlier.end());
    earlier.erase(std::unique(earlier.begin(), earlier.end()), earlier.end());
    for (int i : earlier) {
      if (allow(i) == allow(j) || expired[static_cast<size_t>(i)]) continue;
      for (int f = 0; f < 2; ++f) {
        const auto& ri = regions[static_cast<size_t>(i)];
        const auto& rj = regions[static_cast<size_t>(j)];
        if (!ri.has[f] || !rj.has[f] || !intersects(ri.bound[f], rj.bound[f])) continue;
        // A point both match (decided by i, the earlier) and a point only j
        // decides; containment either way is not a partial overlap.
        const Box* both = nullptr;
        Box both_box;
        for (const auto& a : ri.region[f]) {
          for (const auto& b : rj.region[f])
            if (intersects(a, b)) {
              both_box = intersection(a, b);
              both = &both_box;
              break;
            }
          if (both) break;
        }
        if (!both) continue;
        bool i_inside_j = true;
        for (const auto& a : ri.region[f]) {
          bool in = false;
          for (const auto& b : rj.region[f]) in = in || contains(b, a);
          i_inside_j = i_inside_j && in;
        }
        if (i_inside_j) continue;  // an earlier exception carved out of a broader rule
        const auto& eff = effective[static_cast<size_t>(j)][f];
        if (eff.empty()) continue;
        if (++conflicts > opt.max_conflicts) break;
        const auto& a = set.rules(i);
        const auto& b = set.rules(j);
        out.push_back({Finding::Severity::warning, Finding::Kind::conflict, {b.id(), a.id()}, {line(j), line(i)},
                       "rules '" + a.id() + "' (" + (allow(i) ? "allow" : "deny") + ") and '" + b.id() + "' (" +
                           (allow(j) ? "allow" : "deny") + ") partially overlap: the earlier one wins where both match",
                       {example(*both, f == 0 ? 4 : 6) + " is " + (allow(i) ? "allowed" : "denied") + " by " + a.id(),
                        example(eff.front(), f == 0 ? 4 : 6) + " is " + (allow(j) ? "allowed" : "denied") + " by " +
                            b.id()}});
        break;
      }
    }
  }
  if (conflicts > opt.max_conflicts)
    out.push_back({Finding::Severity::info, Finding::Kind::conflict, {}, {},
                   std::to_string(conflicts - opt.max_conflicts) + " more conflicting overlaps not listed", {}});

  // Too broad allows.
  for (int i = 0; i < n; ++i) {
    const auto& r = set.rules(i);
    if (!allow(i) || shadowed[static_cast<size_t>(i)] || expired[static_cast<size_t>(i)]) continue;
    const bool broad_src = broad(r.src());
    const bool all_ports = r.dports().empty() && (r.any_proto() || r.proto() == 6 || r.proto() == 17 || r.proto() == 132);
    std::vector<std::string> why;
    if (r.any_proto() && r.dports().empty() && r.sports().empty()) why.push_back("allows every protocol");
    else if (all_ports) why.push_back("allows every destination port");
    if (broad_src) {
      why.push_back(r.src().empty() ? "from any source" : "from a source of half the address space or more");
      for (uint16_t p : opt.sensitive_ports) {
        bool open = r.dports().empty();
        for (const auto& d : r.dports()) open = open || (p >= d.lo() && p <= d.hi());
        const bool tcpish = r.any_proto() || r.proto() == 6 || r.proto() == 17;
        if (open && tcpish) {
          why.push_back("reaches administrative or database port " + std::to_string(p) +
                        (r.dports().empty() ? " (and every other)" : ""));
          break;
        }
      }
    }
    if (why.empty() || (why.size() == 1 && broad_src && why[0].rfind("from", 0) == 0 && !r.dports().empty()))
      continue;  // a broad source to a few ordinary ports is a normal public service
    std::string msg = "rule '" + r.id() + "' is too broad: ";
    for (size_t k = 0; k < why.size(); ++k) msg += (k ? ", " : "") + why[k];
    out.push_back({Finding::Severity::warning, Finding::Kind::too_broad, {r.id()}, {line(i)}, msg, {}});
  }

  // Dead references.
  std::unordered_set<std::string> used;
  for (const auto& r : set.rules()) {
    for (const auto& nme : r.from_names()) used.insert(nme);
    for (const auto& nme : r.to_names()) used.insert(nme);
  }
  for (const auto& s : set.segments()) {
    if (s.prefixes().empty())
      out.push_back({Finding::Severity::warning, Finding::Kind::empty_segment, {}, {s.line()},
                     "segment '" + s.name() + "' is empty after except", {}});
    if (!used.count(s.name()))
      out.push_back({Finding::Severity::warning, Finding::Kind::unused_segment, {}, {s.line()},
                     "segment '" + s.name() + "' is not used by any rule", {}});
  }
  std::stable_sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    const uint32_t la = a.lines.empty() ? 0 : a.lines[0], lb = b.lines.empty() ? 0 : b.lines[0];
    return la < lb;
  });
  return out;
}

}  // namespace bulkhead::rules
