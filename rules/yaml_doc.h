// A YAML document read with libyaml into a compact, read-only tree: what
// the policy parser walks. Every node keeps where it was written.
//
// libyaml's event parser reads a 10,000-rule policy in about 22 ms and does
// not recurse. Nesting is bounded on the parser's own events: the reader
// stops at the first collection deeper than `max_depth`, before libyaml has
// read further (its scanner costs grow with the nesting it holds open).
// Aliases are resolved by reference; a document whose aliases would expand
// past a bound (the "billion laughs") is refused. A stream of more than one
// document is refused: a second document would otherwise be ignored.
//
// Node: truthiness for "defined", IsMap/IsSequence/IsScalar/IsNull,
// Scalar(), size(), operator[](key), iteration (a map's entries have
// .first and .second; a sequence's are the items), GetMark() and IsFlow().
// Thread-safety: a Document is immutable once read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bulkhead::rules::yaml {

struct Mark {
  uint32_t line = 0;    // 0-based, as libyaml reports
  uint32_t column = 0;
};

struct Item;
struct Document;

class Node {
 public:
  Node() = default;
  Node(const Document* doc, uint32_t index) : doc_(doc), index_(index) {}

  explicit operator bool() const noexcept { return doc_ != nullptr; }
  bool IsNull() const noexcept;
  bool IsScalar() const noexcept;
  bool IsSequence() const noexcept;
  bool IsMap() const noexcept;
  bool IsFlow() const noexcept;  // written in flow style ([...] or {...})
  // The text of a scalar ("" for anything else).
  const std::string& Scalar() const noexcept;
  size_t size() const noexcept;
  Mark GetMark() const noexcept;
  // The value of `key` in a map; an undefined Node when absent.
  Node operator[](std::string_view key) const noexcept;

  struct Entry;
  class Iterator;
  Iterator begin() const noexcept;
  Iterator end() const noexcept;

 private:
  const Item* item() const noexcept;
  const Document* doc_ = nullptr;
  uint32_t index_ = 0;
};

// An element of iteration: the item itself for a sequence; `first` and
// `second` for a map.
struct Node::Entry : Node {
  Node first, second;
};

class Node::Iterator {
 public:
  Iterator(const Document* doc, const Item* item, uint32_t pos) : doc_(doc), item_(item), pos_(pos) {}
  Entry operator*() const noexcept;
  Iterator& operator++() noexcept {
    ++pos_;
    return *this;
  }
  bool operator!=(const Iterator& o) const noexcept { return pos_ != o.pos_; }

 private:
  const Document* doc_;
  const Item* item_;
  uint32_t pos_;
};

struct Item {
  enum class Type : uint8_t { null, scalar, sequence, map };
  Type type = Type::null;
  bool flow = false;
  Mark mark;
  std::string scalar;
  uint32_t first = 0;  // into Document::children: items of a sequence, key/value pairs of a map
  uint32_t count = 0;  // children (a map: twice its entries)
};

struct Document {
  std::vector<Item> items;
  std::vector<uint32_t> children;
  Node root() const noexcept { return items.empty() ? Node() : Node(this, 0); }
};

struct ReadError {
  Mark mark;
  std::string message;
};

struct ReadLimits {
  uint32_t max_depth = 32;              // collections open at once
  uint64_t max_expanded = 10'000'000;   // nodes, aliases expanded
};

// Reads the one document of `text`. Returns nullptr and fills `error` on a
// syntax error, a second document, nesting deeper than the limit, or
// aliases that expand past it.
std::unique_ptr<Document> read(std::string_view text, ReadError& error, const ReadLimits& limits = {});

}  // namespace bulkhead::rules::yaml
