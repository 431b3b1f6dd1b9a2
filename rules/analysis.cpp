#include "rules/analysis.h"

#include <algorithm>
#include <array>
#include <limits>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "rules/prefix.h"

namespace bulkhead::rules {
namespace {

__extension__ typedef unsigned __int128 u128;

struct Interval {
  u128 lo, hi;  // inclusive
};

// kTenant: 0 is traffic of no tenant (inline), k the policy's tenant k
// (1-based); a shared rule spans them all, a tenant's rule its own alone.
enum Dim { kProto = 0, kSrc, kDst, kSport, kDport, kTenant, kDims };
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

// A rule written with names matches only some of the flows its addresses
// and ports hold: those whose destination was answered for its `fqdn`
// names (its address part aside), and with `sni`, only those whose server
// name matches. What it may match is one region (`reach`: with fqdn, any
// destination), what it surely matches another (`sure`: the address part
// of a rule without sni; nothing of a rule with sni). A rule without names
// has one region for both.
enum class Part { reach, sure };

bool has_names(const pb::CompiledRule& r) { return r.fqdn_size() > 0 || r.sni_size() > 0; }

// The boxes of one rule in one family (empty if the rule does not apply).
// A rule of more than `limit` boxes is given its bounding box alone, and
// `approximate` says so: it may stand for what it holds, never for what it
// covers.
Region rule_region(const pb::CompiledRule& r, Interval tenant, int family, size_t limit, bool& approximate,
                   Part part = Part::reach) {
  Region out;
  approximate = false;
  if (family == 4 ? !r.v4() : !r.v6()) return out;
  if (part == Part::sure && (r.sni_size() > 0 || (r.fqdn_size() > 0 && r.dst().empty()))) return out;
  const bool dst_any = part == Part::reach && r.fqdn_size() > 0;
  const size_t addr_len = family == 4 ? 4 : 16;
  auto side = [&](const google::protobuf::RepeatedPtrField<pb::Prefix>& s, bool any = false) {
    std::vector<Interval> v;
    if (s.empty() || any) {
      v.push_back({0, family_max(family)});
      return v;
    }
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
  const auto src = side(r.src()), dst = side(r.dst(), dst_any), sp = ports(r.sports()), dp = ports(r.dports());
  const Interval proto = r.any_proto() ? Interval{0, 255} : Interval{r.proto(), r.proto()};
  if (src.empty() || dst.empty()) return out;
  if (static_cast<long double>(src.size()) * dst.size() * sp.size() * dp.size() > limit) {
    approximate = true;
    Box b{proto, src.front(), dst.front(), sp.front(), dp.front(), tenant};
    for (const auto& a : src) b[kSrc] = {std::min(b[kSrc].lo, a.lo), std::max(b[kSrc].hi, a.hi)};
    for (const auto& a : dst) b[kDst] = {std::min(b[kDst].lo, a.lo), std::max(b[kDst].hi, a.hi)};
    for (const auto& a : sp) b[kSport] = {std::min(b[kSport].lo, a.lo), std::max(b[kSport].hi, a.hi)};
    for (const auto& a : dp) b[kDport] = {std::min(b[kDport].lo, a.lo), std::max(b[kDport].hi, a.hi)};
    out.push_back(b);
    return out;
  }
  for (const auto& a : src)
    for (const auto& b : dst)
      for (const auto& c : sp)
        for (const auto& d : dp) out.push_back(Box{proto, a, b, c, d, tenant});
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

std::string example(const pb::CompiledRuleSet& set, const Box& b, int family) {
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
  const auto k = static_cast<int>(b[kTenant].lo);
  if (k >= 1 && k <= set.tenants_size()) return format_tuple(t) + " of tenant " + set.tenants(k - 1).name();
  return format_tuple(t);
}

struct RuleRegions {
  Region region[2];  // v4, v6
  Box bound[2];
  bool has[2] = {false, false};
  bool single[2] = {false, false};  // the region is its bounding box
  bool approximate[2] = {false, false};  // too many boxes: the bounding box stands in
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
    if (j.approximate[f]) return false;  // what it covers is not known exactly
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

// The analysis of one rule set: what every finding kind reads, computed
// once, and one function per kind. Rules are indexed in match order.
//
// Time: a rule that expires is counted on only while it lives. Rule j can
// stand in for rule i (cover it, or take over its flows) only when j lives
// at least as long as i; so a rule that expires never makes a permanent
// rule look shadowed or redundant.
class Analysis {
 public:
  Analysis(const pb::CompiledRuleSet& set, const AnalysisOptions& opt)
      : set_(set), opt_(opt), n_(set.rules_size()), regions_(size(n_)), until_(size(n_)), expired_(size(n_)),
        effective_(size(n_)), exact_(size(n_), {false, false}), shadowed_(size(n_)), unknown_(size(n_)) {}

  std::vector<Finding> run() {
    expired_rules();
    build_regions();
    shadowed_rules();
    redundant_rules();
    conflicts();
    too_broad_rules();
    unanswered_names();
    unread_server_names();
    dead_segments();
    std::stable_sort(out_.begin(), out_.end(), [](const Finding& a, const Finding& b) {
      const uint32_t la = a.lines.empty() ? 0 : a.lines[0], lb = b.lines.empty() ? 0 : b.lines[0];
      const uint32_t ca = a.columns.empty() ? 0 : a.columns[0], cb = b.columns.empty() ? 0 : b.columns[0];
      return la != lb ? la < lb : ca < cb;
    });
    return std::move(out_);
  }

 private:
  static size_t size(int n) { return static_cast<size_t>(n); }
  const pb::CompiledRule& rule(int i) const { return set_.rules(i); }
  bool allow(int i) const { return rule(i).action() == pb::ACTION_ALLOW; }
  // What rule i may match (reach), and what it surely matches (cover):
  // only the latter stands in for other rules (Part).
  const RuleRegions& region(int i) const { return regions_[size(i)]; }
  const RuleRegions& cover(int i) const { return has_names(rule(i)) ? sure_[size(i)] : regions_[size(i)]; }
  // j can stand in for i for as long as i lives.
  bool outlives(int j, int i) const { return until_[size(j)] >= until_[size(i)]; }
  bool skipped(int i) const { return expired_[size(i)] || shadowed_[size(i)]; }

  // "rule 'ID'", and " of tenant NAME" for a tenant's rule: findings say
  // whose rules they are about.
  std::string named(int i) const {
    return "rule '" + rule(i).id() + "'" + (rule(i).tenant().empty() ? "" : " of tenant " + rule(i).tenant());
  }

  // A finding about rules `ids` (the subject first), each at its place.
  void add(Finding::Severity severity, Finding::Kind kind, const std::vector<int>& ids, std::string message,
           std::vector<std::string> examples = {}) {
    Finding f{severity, kind, {}, {}, {}, std::move(message), std::move(examples), {}};
    if (!ids.empty()) f.tenant = rule(ids.front()).tenant();
    for (int i : ids) {
      f.rules.push_back(rule(i).id());
      f.lines.push_back(rule(i).location().line());
      f.columns.push_back(rule(i).location().column());
    }
    out_.push_back(std::move(f));
  }

  // Rules that no longer match.
  void expired_rules() {
    for (int i = 0; i < n_; ++i) {
      const int64_t at = rule(i).expires_at();
      until_[size(i)] = at == 0 ? std::numeric_limits<int64_t>::max() : at;
      expired_[size(i)] = at != 0 && opt_.now_unix >= at;
      if (expired_[size(i)])
        add(Finding::Severity::warning, Finding::Kind::expired_rule, {i},
            named(i) + " expired and no longer matches; remove it");
    }
  }

  // The tenants a rule judges (Dim kTenant).
  Interval tenant_interval(const pb::CompiledRule& r) const {
    if (r.tenant().empty()) return {0, static_cast<u128>(set_.tenants_size())};
    if (tenant_index_.empty())
      for (int k = 0; k < set_.tenants_size(); ++k) tenant_index_.emplace(set_.tenants(k).name(), k + 1);
    const auto it = tenant_index_.find(r.tenant());
    if (it == tenant_index_.end()) return {0, 0};  // a set the compiler did not make
    return {static_cast<u128>(it->second), static_cast<u128>(it->second)};
  }
  mutable std::unordered_map<std::string, int> tenant_index_;

  // Each live rule's boxes, and for each rule and family the other rules
  // whose bounds meet its bound (in rule order): every pairwise question
  // below is about those alone.
  void build_regions() {
    sure_.resize(size(n_));
    for (int i = 0; i < n_; ++i) {
      if (expired_[size(i)]) continue;
      for (const Part part : {Part::reach, Part::sure}) {
        if (part == Part::sure && !has_names(rule(i))) continue;
        auto& rr = (part == Part::reach ? regions_ : sure_)[size(i)];
        for (int f = 0; f < 2; ++f) {
          rr.region[f] = rule_region(rule(i), tenant_interval(rule(i)), f == 0 ? 4 : 6, opt_.max_pieces,
                                     rr.approximate[f], part);
          rr.has[f] = !rr.region[f].empty();
          if (rr.has[f]) rr.bound[f] = bounds(rr.region[f]);
          rr.single[f] = rr.region[f].size() == 1;
        }
      }
    }
    for (int f = 0; f < 2; ++f) {
      const BoundIndex index(regions_, f);
      near_[f].resize(size(n_));
      for (int i = 0; i < n_; ++i)
        if (region(i).has[f]) near_[f][size(i)] = index.meeting(region(i).bound[f]);
    }
  }

  // The earlier rules that meet rule i in family f and live as long as it.
  std::vector<int> earlier(int i, int f) const {
    std::vector<int> v;
    for (int j : near_[f][size(i)]) {
      if (j >= i) break;
      if (outlives(j, i)) v.push_back(j);
    }
    return v;
  }

  // Whether an earlier rule (that lives as long as i) holds p, a point of i.
  bool earlier_hold(int i, int f, const Point& p) const {
    for (int j : earlier(i, f))
      if (rule_holds(cover(j), f, p)) return true;
    return false;
  }

  // Rule i's exact effective region in family f: its space minus every
  // earlier rule that lives as long as it, earlier rules largest first.
  // False when the pieces grow past the limit. `covering` collects the
  // rules that took part of it.
  bool exact_effective(int i, int f, std::set<int>* covering) {
    auto volume = [&](int j) {
      long double v = 1;
      for (const auto& b : cover(j).region[f])
        for (int d = 0; d < kDims; ++d) v *= static_cast<long double>(b[d].hi - b[d].lo) + 1;
      return v;
    };
    std::vector<std::pair<long double, int>> by_volume;
    for (int j : earlier(i, f)) by_volume.push_back({-volume(j), j});
    std::sort(by_volume.begin(), by_volume.end());
    Region pieces = region(i).region[f];
    for (const auto& [v, j] : by_volume) {
      if (pieces.empty()) break;
      bool hit = false;
      if (!subtract_rule(pieces, cover(j), f, opt_.max_pieces, hit)) return false;
      if (hit && covering) covering->insert(j);
    }
    effective_[size(i)][f] = std::move(pieces);
    exact_[size(i)][f] = true;
    return true;
  }

  // Shadowed: earlier rules cover the rule entirely. What each rule decides
  // is a witness point when one is found quickly (no region arithmetic,
  // which keeps 10K-rule sets fast), else its exact effective region.
  void shadowed_rules() {
    for (int i = 0; i < n_; ++i) {
      const auto& ri = region(i);
      if (expired_[size(i)] || (!ri.has[0] && !ri.has[1])) continue;
      if (ri.approximate[0] || ri.approximate[1]) {
        unknown_[size(i)] = true;
        add(Finding::Severity::info, Finding::Kind::incomplete, {i},
            named(i) + ": more than " + std::to_string(opt_.max_pieces) +
                " address and port combinations; not analysed exactly");
        continue;
      }
      bool decided_something = false;
      for (int f = 0; f < 2 && !decided_something; ++f) {
        if (!ri.has[f]) continue;
        for (const auto& p : candidates(ri.region[f]))
          if (rule_holds(ri, f, p) && !earlier_hold(i, f, p)) {
            effective_[size(i)][f] = {point_box(p)};
            decided_something = true;
            break;
          }
      }
      if (decided_something) continue;
      std::set<int> covering;
      bool complete = true, empty = true;
      for (int f = 0; f < 2 && complete; ++f) {
        if (!ri.has[f]) continue;
        complete = exact_effective(i, f, &covering);
        if (complete && !effective_[size(i)][f].empty()) empty = false;
      }
      if (!complete) {
        unknown_[size(i)] = true;
        add(Finding::Severity::info, Finding::Kind::incomplete, {i},
            named(i) + ": overlaps too fragmented to analyse exactly");
        continue;
      }
      if (!empty) continue;
      shadowed_[size(i)] = true;
      std::vector<int> ids{i};
      bool other_action = false;
      std::string by;
      for (int j : covering) {
        ids.push_back(j);
        other_action = other_action || allow(j) != allow(i);
        if (ids.size() <= 6) by += (ids.size() > 2 ? ", " : "") + rule(j).id();
      }
      if (ids.size() > 6) by += ", ...";
      const int f = ri.has[0] ? 0 : 1;
      add(other_action ? Finding::Severity::error : Finding::Severity::warning, Finding::Kind::shadowed, ids,
          named(i) + " can never match: earlier rules (" + by + ") cover it entirely" +
              (other_action ? ", some with the opposite action" : ""),
          {example(set_, ri.region[f].front(), f == 0 ? 4 : 6)});
    }
  }

  // The verdict of the first later rule holding p (a point of rule i), or
  // the default action's.
  bool later_verdict(int i, int f, const Point& p) const {
    for (int j : near_[f][size(i)])
      if (j > i && rule_holds(region(j), f, p)) return allow(j);
    return set_.default_action() == pb::ACTION_ALLOW;
  }

  // Later rules meeting rule i in either family, in rule order.
  std::vector<int> later_near(int i) const {
    std::vector<int> v;
    for (int f = 0; f < 2; ++f)
      for (int j : near_[f][size(i)])
        if (j > i) v.push_back(j);
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  }

  // A later rule of the same action that holds all of rule i and lives as
  // long as it, with no rule of the other action touching i in between; -1
  // when there is none.
  int later_container(int i) const {
    const auto& ri = region(i);
    for (int j : later_near(i)) {
      const auto& rj = region(j);
      const auto& cj = cover(j);
      bool holds_all = outlives(j, i), touches = false;
      for (int f = 0; f < 2; ++f) {
        if (!ri.has[f]) continue;
        touches = touches || (rj.has[f] && intersects(ri.bound[f], rj.bound[f]));
        if (!cj.has[f] || cj.approximate[f]) {
          holds_all = false;
          continue;
        }
        bool in = false;
        for (const auto& jb : cj.region[f]) in = in || contains(jb, ri.bound[f]);
        holds_all = holds_all && in;
      }
      if (allow(j) != allow(i)) {
        if (touches) return -1;
      } else if (holds_all) {
        return j;
      }
    }
    return -1;
  }

  // Redundant: removing the rule changes no verdict at any time it lives —
  // everything it decides would be decided the same way by the rules after
  // it that live as long (or by the default). `taker` names one of them.
  bool takes_over(int i, std::string& taker) {
    const auto& ri = region(i);
    const bool default_allow = set_.default_action() == pb::ACTION_ALLOW;
    bool any = false;
    for (int f = 0; f < 2; ++f) {
      if (!ri.has[f]) continue;
      if (!exact_[size(i)][f] && !exact_effective(i, f, nullptr)) return false;
      Region pieces = effective_[size(i)][f];
      if (pieces.empty()) continue;
      any = true;
      for (int j : near_[f][size(i)]) {
        if (j <= i) continue;
        if (pieces.empty()) break;
        const auto& rj = region(j);
        bool touches = false;
        for (const auto& p : pieces)
          if (intersects(p, rj.bound[f]))
            for (const auto& jb : rj.region[f]) touches = touches || intersects(p, jb);
        if (!touches) continue;
        if (allow(j) != allow(i)) return false;
        // A shorter-lived rule of the same action decides the same while it
        // lives; after that the flows go on past it, as if it were not there.
        if (!outlives(j, i)) continue;
        bool hit = false;
        if (!subtract_rule(pieces, cover(j), f, opt_.max_pieces, hit)) return false;
        if (hit && taker.empty()) taker = rule(j).id();
      }
      if (!pieces.empty() && default_allow != allow(i)) return false;
    }
    return any;
  }

  void redundant_rules() {
    for (int i = 0; i < n_; ++i) {
      if (skipped(i) || unknown_[size(i)]) continue;
      const auto& ri = region(i);
      if (!ri.has[0] && !ri.has[1]) continue;
      // A witness whose verdict would change settles it at once.
      bool changes = false;
      for (int f = 0; f < 2 && !changes; ++f) {
        if (!ri.has[f] || exact_[size(i)][f] || effective_[size(i)][f].empty()) continue;
        Point p;
        for (int d = 0; d < kDims; ++d) p[d] = effective_[size(i)][f].front()[d].lo;
        changes = later_verdict(i, f, p) != allow(i);
      }
      if (changes) continue;
      std::string taker;
      if (const int j = later_container(i); j >= 0) taker = rule(j).id();
      else if (!takes_over(i, taker)) continue;
      add(Finding::Severity::warning, Finding::Kind::redundant, {i},
          named(i) + " is redundant: without it every flow it decides gets the same verdict (" +
              (taker.empty() ? std::string("from the default action") : "from later rules, e.g. '" + taker + "'") +
              ")");
    }
  }

  // A partial overlap of rules i (earlier) and j of opposite actions in
  // family f: an example both match (i decides it) and one only j decides.
  bool partial_overlap(int i, int j, int f, Box& both) const {
    const auto& ri = region(i);
    const auto& rj = region(j);
    if (!ri.has[f] || !rj.has[f] || ri.approximate[f] || rj.approximate[f] ||
        !intersects(ri.bound[f], rj.bound[f]) || effective_[size(j)][f].empty())
      return false;
    bool found = false;
    for (const auto& a : ri.region[f]) {
      for (const auto& b : rj.region[f])
        if (intersects(a, b)) {
          both = intersection(a, b);
          found = true;
          break;
        }
      if (found) break;
    }
    if (!found) return false;
    // An earlier exception carved out of a broader rule is not a conflict.
    for (const auto& a : ri.region[f]) {
      bool in = false;
      for (const auto& b : rj.region[f]) in = in || contains(b, a);
      if (!in) return true;
    }
    return false;
  }

  // Conflicting partial overlaps between allow and deny rules.
  void conflicts() {
    size_t count = 0;
    for (int j = 0; j < n_; ++j) {
      if (skipped(j)) continue;
      std::vector<int> before;  // earlier rules meeting j in either family, in rule order
      for (int f = 0; f < 2; ++f)
        for (int i : near_[f][size(j)])
          if (i < j) before.push_back(i);
      std::sort(before.begin(), before.end());
      before.erase(std::unique(before.begin(), before.end()), before.end());
      for (int i : before) {
        // A tenant's rule before a shared one overrides it for that tenant:
        // what the tenant's rules are for, not a conflict.
        if (allow(i) == allow(j) || expired_[size(i)] || rule(i).tenant() != rule(j).tenant()) continue;
        for (int f = 0; f < 2; ++f) {
          Box both;
          if (!partial_overlap(i, j, f, both)) continue;
          if (++count > opt_.max_conflicts) break;
          const int family = f == 0 ? 4 : 6;
          add(Finding::Severity::warning, Finding::Kind::conflict, {j, i},
              "rules '" + rule(i).id() + "' (" + (allow(i) ? "allow" : "deny") + ") and '" + rule(j).id() + "' (" +
                  (allow(j) ? "allow" : "deny") + ")" + (rule(j).tenant().empty() ? "" : " of tenant " + rule(j).tenant()) +
                  " partially overlap: the earlier one wins where both match",
              {example(set_, both, family) + " is " + (allow(i) ? "allowed" : "denied") + " by " + rule(i).id(),
               example(set_, effective_[size(j)][f].front(), family) + " is " + (allow(j) ? "allowed" : "denied") +
                   " by " + rule(j).id()});
          break;
        }
      }
    }
    if (count > opt_.max_conflicts)
      out_.push_back({Finding::Severity::info, Finding::Kind::conflict, {}, {}, {},
                      std::to_string(count - opt_.max_conflicts) + " more conflicting overlaps not listed", {}, {}});
  }

  // Allows of every protocol or port, from broad sources, or reaching
  // administrative and database ports from them.
  void too_broad_rules() {
    for (int i = 0; i < n_; ++i) {
      const auto& r = rule(i);
      if (!allow(i) || skipped(i)) continue;
      const bool broad_src = broad(r.src());
      const bool all_ports =
          r.dports().empty() && (r.any_proto() || r.proto() == 6 || r.proto() == 17 || r.proto() == 132);
      std::vector<std::string> why;
      if (r.any_proto() && r.dports().empty() && r.sports().empty()) why.push_back("allows every protocol");
      else if (all_ports) why.push_back("allows every destination port");
      if (broad_src) {
        why.push_back(r.src().empty() ? "from any source" : "from a source of half the address space or more");
        for (uint16_t p : opt_.sensitive_ports) {
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
      std::string msg = named(i) + " is too broad: ";
      for (size_t k = 0; k < why.size(); ++k) msg += (k ? ", " : "") + why[k];
      add(Finding::Severity::warning, Finding::Kind::too_broad, {i}, msg);
    }
  }

  // A rule reaches names through DNS answers its clients get from a
  // trusted resolver, through the appliance: when no client of the rule can
  // ask one (UDP or TCP port 53) in any family, no name ever binds for it.
  // Flows the rules between decide by name are taken as allowed: only a
  // rule that is certain to say no leaves a query unanswered.
  void unanswered_names() {
    if (!set_.has_names()) return;
    for (int i = 0; i < n_; ++i) {
      if (expired_[size(i)] || rule(i).fqdn_size() == 0) continue;
      bool answered = false;
      for (int f = 0; f < 2 && !answered; ++f) answered = resolver_reachable(i, f);
      if (answered) continue;
      add(Finding::Severity::warning, Finding::Kind::no_resolver, {i},
          named(i) + " reaches names, but no rule lets its clients ask a trusted resolver (udp or tcp port 53): "
                     "no answer will bind a name for them");
    }
  }

  // Whether some client of rule i, in family f, is let through to a
  // trusted resolver's port 53.
  bool resolver_reachable(int i, int f) const {
    const auto& ri = region(i);
    if (!ri.has[f]) return false;
    const size_t addr_len = f == 0 ? 4 : 16;
    Region pieces;
    for (const auto& resolver : set_.names().trusted_resolvers()) {
      if (resolver.addr().size() != addr_len) continue;
      const Interval dst = prefix_interval(resolver, f == 0 ? 4 : 6);
      for (const auto& b : ri.region[f])
        for (const u128 proto : {u128{6}, u128{17}}) {
          Box q{Interval{proto, proto}, b[kSrc], dst, Interval{0, 65535}, Interval{53, 53}, b[kTenant]};
          if (std::none_of(pieces.begin(), pieces.end(), [&](const Box& x) { return contains(x, q); }))
            pieces.push_back(q);
        }
    }
    for (int j = 0; j < n_ && !pieces.empty(); ++j) {
      if (expired_[size(j)]) continue;
      const auto& rj = region(j);
      if (!rj.has[f] || !intersects(bounds(pieces), rj.bound[f])) continue;
      if (allow(j)) {
        for (const auto& p : pieces)
          for (const auto& jb : rj.region[f])
            if (intersects(p, jb)) return true;
        continue;
      }
      bool hit = false;
      if (!subtract_rule(pieces, cover(j), f, opt_.max_pieces, hit)) return true;  // too fragmented: no claim
    }
    return !pieces.empty() && set_.default_action() == pb::ACTION_ALLOW;
  }

  // A rule with sni matches only connections whose server name is read:
  // TCP to a port of tls.ports, UDP to one of tls.quic_ports.
  void unread_server_names() {
    if (!set_.has_names()) return;
    const auto& n = set_.names();
    auto meets = [](const pb::CompiledRule& r, const google::protobuf::RepeatedPtrField<pb::PortRange>& read) {
      if (r.dports().empty()) return !read.empty();
      for (const auto& a : r.dports())
        for (const auto& b : read)
          if (a.lo() <= b.hi() && b.lo() <= a.hi()) return true;
      return false;
    };
    auto list = [](const google::protobuf::RepeatedPtrField<pb::PortRange>& read) {
      std::string s;
      for (const auto& x : read)
        s += (s.empty() ? "" : ", ") + std::to_string(x.lo()) + (x.hi() != x.lo() ? "-" + std::to_string(x.hi()) : "");
      return s.empty() ? std::string("none") : s;
    };
    for (int i = 0; i < n_; ++i) {
      const auto& r = rule(i);
      if (expired_[size(i)] || r.sni_size() == 0) continue;
      const bool tcp = r.any_proto() || r.proto() == 6, udp = r.any_proto() || r.proto() == 17;
      if ((tcp && meets(r, n.tls_ports())) || (udp && meets(r, n.quic_ports()))) continue;
      add(Finding::Severity::warning, Finding::Kind::name_never_matches, {i},
          named(i) + " has sni names but can never match: server names are read only from TCP to tls.ports (" +
              list(n.tls_ports()) + ") and UDP to tls.quic_ports (" + list(n.quic_ports()) + ")" +
              (tcp || udp ? ", none of its ports" : ", not its protocol"));
    }
  }

  // Segments no rule uses, and segments left empty by their exceptions.
  void dead_segments() {
    std::unordered_set<std::string> used;
    for (const auto& r : set_.rules()) {
      for (const auto& name : r.from_names()) used.insert(name);
      for (const auto& name : r.to_names()) used.insert(name);
    }
    for (const auto& s : set_.segments()) {
      auto segment = [&](Finding::Kind kind, std::string message) {
        out_.push_back({Finding::Severity::warning, kind, {}, {s.line()}, {s.column()}, std::move(message), {}, {}});
      };
      if (s.prefixes().empty()) segment(Finding::Kind::empty_segment, "segment '" + s.name() + "' is empty after except");
      if (!used.count(s.name())) segment(Finding::Kind::unused_segment, "segment '" + s.name() + "' is not used by any rule");
    }
  }

  const pb::CompiledRuleSet& set_;
  const AnalysisOptions& opt_;
  const int n_;
  std::vector<RuleRegions> regions_;
  std::vector<RuleRegions> sure_;  // of the rules with names (Part::sure)
  std::vector<int64_t> until_;  // when each rule stops matching (the largest int64: never)
  std::vector<bool> expired_;
  std::vector<std::vector<int>> near_[2];
  // What each rule decides: a witness point, or (exact_) its whole
  // effective region.
  std::vector<std::array<Region, 2>> effective_;
  std::vector<std::array<bool, 2>> exact_;
  std::vector<bool> shadowed_;
  std::vector<bool> unknown_;  // not analysed exactly
  std::vector<Finding> out_;
};

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
    case Finding::Kind::no_resolver: return "no-resolver";
    case Finding::Kind::name_never_matches: return "name-never-matches";
  }
  return "?";
}

const char* severity_name(Finding::Severity s) {
  switch (s) {
    case Finding::Severity::error: return "error";
    case Finding::Severity::warning: return "warning";
    case Finding::Severity::info: return "note";
  }
  return "?";
}

std::string Finding::str(std::string_view file) const {
  std::string s(file);
  if (!lines.empty() && lines[0] > 0) {
    s += ':' + std::to_string(lines[0]);
    if (!columns.empty() && columns[0] > 0) s += ':' + std::to_string(columns[0]);
  }
  s += std::string(": ") + severity_name(severity) + ": [" + finding_kind_name(kind) + "] " + message;
  return s;
}

std::vector<Finding> analyse(const pb::CompiledRuleSet& set, const AnalysisOptions& opt) {
  return Analysis(set, opt).run();
}

}  // namespace bulkhead::rules
