#include "rules/yaml_doc.h"

#include <yaml.h>

#include <map>

namespace bulkhead::rules::yaml {
namespace {

const std::string kEmpty;

Mark mark_of(const yaml_mark_t& m) { return Mark{static_cast<uint32_t>(m.line), static_cast<uint32_t>(m.column)}; }

// A plain scalar YAML 1.2's core schema reads as null.
bool null_text(const yaml_event_t& e) {
  if (e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
  const std::string_view v(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
  return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
}

class Reader {
 public:
  explicit Reader(const ReadLimits& limits) : limits_(limits) {}

  std::unique_ptr<Document> run(std::string_view text, ReadError& error) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
      error.message = "cannot start the YAML reader";
      return nullptr;
    }
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    auto doc = std::make_unique<Document>();
    doc_ = doc.get();
    bool ok = true, done = false;
    while (ok && !done) {
      yaml_event_t e;
      if (!yaml_parser_parse(&parser, &e)) {
        error.mark = mark_of(parser.problem_mark);
        error.message = parser.problem ? parser.problem : "malformed YAML";
        if (parser.context) error.message = std::string(parser.context) + ": " + error.message;
        ok = false;
        break;
      }
      ok = on_event(e, error, done);
      yaml_event_delete(&e);
    }
    yaml_parser_delete(&parser);
    if (!ok) return nullptr;
    if (doc->items.empty()) {  // an empty document is a null root
      doc->items.emplace_back();
    }
    return doc;
  }

 private:
  struct Open {
    uint32_t item;
    std::vector<uint32_t> children;
  };

  // Adds a finished node (index) to the container being read, or makes it
  // the root.
  void attach(uint32_t index) {
    if (!stack_.empty()) stack_.back().children.push_back(index);
  }

  uint32_t add(Item item, const char* anchor, uint64_t expanded) {
    const auto index = static_cast<uint32_t>(doc_->items.size());
    doc_->items.push_back(std::move(item));
    expanded_.push_back(expanded);
    if (anchor != nullptr) anchors_[anchor] = index;
    return index;
  }

  bool on_event(const yaml_event_t& e, ReadError& error, bool& done) {
    switch (e.type) {
      case YAML_DOCUMENT_START_EVENT:
        if (documents_++ > 0) {
          error.mark = mark_of(e.start_mark);
          error.message = "a second YAML document starts here; a file holds one";
          return false;
        }
        return true;
      case YAML_STREAM_END_EVENT:
        done = true;
        return true;
      case YAML_SCALAR_EVENT: {
        Item it;
        it.mark = mark_of(e.start_mark);
        if (null_text(e)) {
          it.type = Item::Type::null;
        } else {
          it.type = Item::Type::scalar;
          it.scalar.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
        }
        attach(add(std::move(it), reinterpret_cast<const char*>(e.data.scalar.anchor), 1));
        return true;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        Item it;
        it.mark = mark_of(e.start_mark);
        const bool seq = e.type == YAML_SEQUENCE_START_EVENT;
        it.type = seq ? Item::Type::sequence : Item::Type::map;
        it.flow = seq ? e.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
                      : e.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
        const auto* anchor = reinterpret_cast<const char*>(seq ? e.data.sequence_start.anchor
                                                                : e.data.mapping_start.anchor);
        if (stack_.size() >= limits_.max_depth) {
          error.mark = it.mark;
          error.message = "nesting deeper than " + std::to_string(limits_.max_depth) + " levels";
          return false;
        }
        const uint32_t index = add(std::move(it), nullptr, 1);
        stack_.push_back(Open{index, {}});
        if (anchor != nullptr) pending_anchor_.emplace_back(index, anchor);
        return true;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        Open open = std::move(stack_.back());
        stack_.pop_back();
        Item& it = doc_->items[open.item];
        it.first = static_cast<uint32_t>(doc_->children.size());
        it.count = static_cast<uint32_t>(open.children.size());
        uint64_t expanded = 1;
        for (uint32_t c : open.children) expanded += expanded_[c];
        expanded_[open.item] = expanded;
        if (expanded > limits_.max_expanded) {
          error.mark = it.mark;
          error.message = "aliases expand this document past " + std::to_string(limits_.max_expanded) + " nodes";
          return false;
        }
        doc_->children.insert(doc_->children.end(), open.children.begin(), open.children.end());
        // An anchor names the finished node (an alias inside it to itself
        // is an error in libyaml already).
        if (!pending_anchor_.empty() && pending_anchor_.back().first == open.item) {
          anchors_[pending_anchor_.back().second] = open.item;
          pending_anchor_.pop_back();
        }
        attach(open.item);
        return true;
      }
      case YAML_ALIAS_EVENT: {
        const auto it = anchors_.find(reinterpret_cast<const char*>(e.data.alias.anchor));
        if (it == anchors_.end()) {
          error.mark = mark_of(e.start_mark);
          error.message = "unknown alias '" + std::string(reinterpret_cast<const char*>(e.data.alias.anchor)) + "'";
          return false;
        }
        attach(it->second);  // by reference: the anchored node itself
        return true;
      }
      default:  // stream and document start, no data
        return true;
    }
  }

  ReadLimits limits_;
  uint32_t documents_ = 0;
  Document* doc_ = nullptr;
  std::vector<Open> stack_;
  std::vector<uint64_t> expanded_;  // per item: nodes it stands for, aliases expanded
  std::map<std::string, uint32_t> anchors_;
  std::vector<std::pair<uint32_t, std::string>> pending_anchor_;
};

}  // namespace

const Item* Node::item() const noexcept { return doc_ == nullptr ? nullptr : &doc_->items[index_]; }
bool Node::IsNull() const noexcept { return doc_ != nullptr && item()->type == Item::Type::null; }
bool Node::IsScalar() const noexcept { return doc_ != nullptr && item()->type == Item::Type::scalar; }
bool Node::IsSequence() const noexcept { return doc_ != nullptr && item()->type == Item::Type::sequence; }
bool Node::IsMap() const noexcept { return doc_ != nullptr && item()->type == Item::Type::map; }
bool Node::IsFlow() const noexcept { return doc_ != nullptr && item()->flow; }
const std::string& Node::Scalar() const noexcept { return IsScalar() ? item()->scalar : kEmpty; }
Mark Node::GetMark() const noexcept { return doc_ == nullptr ? Mark{} : item()->mark; }

size_t Node::size() const noexcept {
  if (IsSequence()) return item()->count;
  if (IsMap()) return item()->count / 2;
  return 0;
}

Node Node::operator[](std::string_view key) const noexcept {
  if (!IsMap()) return {};
  const Item* it = item();
  for (uint32_t i = 0; i + 1 < it->count; i += 2) {
    const Item& k = doc_->items[doc_->children[it->first + i]];
    if (k.type == Item::Type::scalar && k.scalar == key) return Node(doc_, doc_->children[it->first + i + 1]);
  }
  return {};
}

Node::Iterator Node::begin() const noexcept { return Iterator(doc_, item(), 0); }

Node::Iterator Node::end() const noexcept {
  const Item* it = item();
  if (it == nullptr || (it->type != Item::Type::sequence && it->type != Item::Type::map)) return Iterator(doc_, it, 0);
  return Iterator(doc_, it, it->type == Item::Type::map ? it->count / 2 : it->count);
}

Node::Entry Node::Iterator::operator*() const noexcept {
  Entry e;
  if (item_->type == Item::Type::map) {
    e.first = Node(doc_, doc_->children[item_->first + 2 * pos_]);
    e.second = Node(doc_, doc_->children[item_->first + 2 * pos_ + 1]);
  } else {
    static_cast<Node&>(e) = Node(doc_, doc_->children[item_->first + pos_]);
  }
  return e;
}

std::unique_ptr<Document> read(std::string_view text, ReadError& error, const ReadLimits& limits) {
  return Reader(limits).run(text, error);
}

}  // namespace bulkhead::rules::yaml
