#include "runtime/regex_nfa.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace cpm {

namespace {

using Ranges = std::vector<std::pair<char32_t, char32_t>>;  // inclusive code point ranges

constexpr char32_t kMaxCodePoint = 0x10FFFF;
constexpr int kMaxRepeat = 10000;
constexpr int kMaxNesting = 200;

// Sorted, merged, without the surrogates (they have no UTF-8 encoding).
Ranges normalize(Ranges ranges) {
  Ranges split;
  for (auto [low, high] : ranges) {
    if (low <= 0xDFFF && high >= 0xD800) {
      if (low < 0xD800) split.push_back({low, 0xD7FF});
      if (high > 0xDFFF) split.push_back({0xE000, high});
    } else {
      split.push_back({low, high});
    }
  }
  std::sort(split.begin(), split.end());
  Ranges merged;
  for (auto range : split) {
    if (!merged.empty() && range.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, range.second);
    } else {
      merged.push_back(range);
    }
  }
  return merged;
}

Ranges complement(const Ranges& ranges) {
  Ranges result;
  char32_t next = 0;
  for (auto [low, high] : normalize(ranges)) {
    if (low > next) result.push_back({next, low - 1});
    next = high + 1;
  }
  if (next <= kMaxCodePoint) result.push_back({next, kMaxCodePoint});
  return normalize(result);
}

struct Node {
  enum Kind { kEmpty, kSet, kConcat, kAlternate, kRepeat } kind = kEmpty;
  Ranges set;
  std::vector<Node> children;
  int min = 0, max = -1;  // kRepeat; max -1: unbounded
};

Node node_of(Node::Kind kind) {
  Node node;
  node.kind = kind;
  return node;
}

class Parser {
 public:
  explicit Parser(std::string_view pattern) : pattern_(pattern) {}

  Node parse() {
    if (!done() && pattern_[at_] == '^') ++at_;
    Node node = alternation(0);
    if (!done()) error("unbalanced ')'");
    return node;
  }

 private:
  [[noreturn]] void error(const std::string& problem) const {
    fail("regex: ", problem, " at position ", at_, " of \"", pattern_, "\"");
  }
  bool done() const { return at_ >= pattern_.size(); }
  bool consume(char c) {
    if (done() || pattern_[at_] != c) return false;
    ++at_;
    return true;
  }

  Node alternation(int depth) {
    if (depth > kMaxNesting) error("groups nested too deeply");
    Node first = concatenation(depth);
    if (done() || pattern_[at_] != '|') return first;
    Node node = node_of(Node::kAlternate);
    node.children.push_back(std::move(first));
    while (consume('|')) node.children.push_back(concatenation(depth));
    return node;
  }

  Node concatenation(int depth) {
    Node node = node_of(Node::kConcat);
    while (!done() && pattern_[at_] != '|' && pattern_[at_] != ')') {
      if (pattern_[at_] == '$') {
        if (at_ + 1 != pattern_.size()) error("'$' is only supported at the end of the pattern");
        ++at_;
        break;
      }
      Node item = atom(depth);
      node.children.push_back(quantified(std::move(item)));
    }
    if (node.children.size() == 1) return std::move(node.children[0]);
    if (node.children.empty()) return Node{};
    return node;
  }

  // {n}, {n,} or {n,m} at at_ (just past '{'); false (and at_ unchanged) when it is a literal '{'.
  bool counted(int* min, int* max) {
    const size_t saved = at_;
    auto number = [&](int* out) {
      size_t digits = 0;
      int64_t value = 0;
      while (!done() && pattern_[at_] >= '0' && pattern_[at_] <= '9') {
        value = std::min<int64_t>(value * 10 + (pattern_[at_++] - '0'), kMaxRepeat + 1);
        ++digits;
      }
      *out = static_cast<int>(value);
      return digits > 0;
    };
    if (!number(min)) return at_ = saved, false;
    *max = *min;
    if (consume(',')) {
      if (!number(max)) *max = -1;
    }
    if (!consume('}')) return at_ = saved, false;
    if (*min > kMaxRepeat || *max > kMaxRepeat)
      error("a repetition count above " + std::to_string(kMaxRepeat));
    if (*max != -1 && *max < *min) error("a repetition {n,m} with m < n");
    return true;
  }

  Node quantified(Node item) {
    if (done()) return item;
    int min = 0, max = -1;
    const char c = pattern_[at_];
    if (c == '*' || c == '+' || c == '?') {
      ++at_;
      min = c == '+' ? 1 : 0;
      max = c == '?' ? 1 : -1;
    } else if (c == '{') {
      ++at_;
      if (!counted(&min, &max)) {
        --at_;
        return item;
      }
    } else {
      return item;
    }
    consume('?');  // lazy: the same set of strings
    if (!done() && (pattern_[at_] == '*' || pattern_[at_] == '+' || pattern_[at_] == '{')) {
      error("a quantifier after a quantifier");
    }
    Node node = node_of(Node::kRepeat);
    node.children.push_back(std::move(item));
    node.min = min;
    node.max = max;
    return node;
  }

  Node atom(int depth) {
    const char c = pattern_[at_];
    if (c == '(') return group(depth);
    if (c == '[') return set_node(char_class());
    if (c == '*' || c == '+' || c == '?') error("nothing to repeat");
    if (c == '^') error("'^' is only supported at the start of the pattern");
    ++at_;
    if (c == '.') return set_node(complement({{'\n', '\n'}}));
    if (c == '\\') return set_node(escape(false));
    --at_;
    const char32_t code_point = literal();
    return set_node({{code_point, code_point}});
  }

  static Node set_node(Ranges ranges) {
    Node node = node_of(Node::kSet);
    node.set = normalize(std::move(ranges));
    return node;
  }

  char32_t literal() {
    size_t at = at_;
    const char32_t code_point = utf8::next_code_point(pattern_, &at);
    if (code_point >= utf8::kInvalidByteBase) error("invalid UTF-8");
    at_ = at;
    return code_point;
  }

  Node group(int depth) {
    ++at_;  // '('
    if (consume('?')) {
      if (consume(':')) {
      } else if (consume('P') || (!done() && pattern_[at_] == '<' && at_ + 1 < pattern_.size() &&
                                  pattern_[at_ + 1] != '=' && pattern_[at_ + 1] != '!')) {
        if (!consume('<')) error("unsupported group (?P...); named groups are (?P<name>...)");
        while (!done() && pattern_[at_] != '>') ++at_;
        if (!consume('>')) error("unterminated group name");
      } else {
        error("unsupported group: look-around and inline flags are not supported");
      }
    }
    Node node = alternation(depth + 1);
    if (!consume(')')) error("missing ')'");
    return node;
  }

  uint32_t hex_digits(int count) {
    uint32_t value = 0;
    for (int k = 0; k < count; ++k) {
      if (done()) error("a short hexadecimal escape");
      const char c = pattern_[at_++];
      const int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
      if (digit < 0) error("a bad hexadecimal digit");
      value = value * 16 + static_cast<uint32_t>(digit);
    }
    return value;
  }

  // Just past a backslash. In a class, \b is a backspace as in Python.
  Ranges escape(bool in_class) {
    if (done()) error("a pattern ending in '\\'");
    const char c = pattern_[at_++];
    const Ranges digit{{'0', '9'}}, word{{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
    const Ranges space{{'\t', '\r'}, {' ', ' '}};
    auto single = [](char32_t code_point) { return Ranges{{code_point, code_point}}; };
    switch (c) {
      case 'd':
        return digit;
      case 'D':
        return complement(digit);
      case 'w':
        return word;
      case 'W':
        return complement(word);
      case 's':
        return space;
      case 'S':
        return complement(space);
      case 'n':
        return single('\n');
      case 't':
        return single('\t');
      case 'r':
        return single('\r');
      case 'f':
        return single('\f');
      case 'v':
        return single('\v');
      case '0':
        return single(0);
      case 'x':
        return single(hex_digits(2));
      case 'u': {
        const char32_t code_point = hex_digits(4);
        if (code_point >= 0xD800 && code_point <= 0xDFFF) error("a surrogate \\u escape");
        return single(code_point);
      }
      case 'b':
        if (in_class) return single('\b');
        [[fallthrough]];
      default:
        break;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9')) {
      --at_;
      error(std::string("unsupported escape '\\") + c + "' (back-references, anchors and word boundaries)");
    }
    --at_;
    const char32_t code_point = literal();
    return single(code_point);
  }

  Ranges char_class() {
    ++at_;  // '['
    const bool negated = consume('^');
    Ranges ranges;
    bool first = true;
    while (true) {
      if (done()) error("missing ']'");
      if (pattern_[at_] == ']' && !first) break;
      first = false;
      Ranges item;
      if (consume('\\')) {
        item = escape(true);
      } else {
        const char32_t code_point = literal();
        item = {{code_point, code_point}};
      }
      const bool is_range = item.size() == 1 && item[0].first == item[0].second &&
                            at_ + 1 < pattern_.size() && pattern_[at_] == '-' && pattern_[at_ + 1] != ']';
      if (is_range) {
        ++at_;  // '-'
        char32_t last = 0;
        if (consume('\\')) {
          const Ranges end = escape(true);
          if (end.size() != 1 || end[0].first != end[0].second) error("a class range ending in a class");
          last = end[0].first;
        } else {
          last = literal();
        }
        if (last < item[0].first) error("a class range out of order");
        item[0].second = last;
      }
      ranges.insert(ranges.end(), item.begin(), item.end());
    }
    ++at_;  // ']'
    return negated ? complement(ranges) : ranges;
  }

  std::string_view pattern_;
  size_t at_ = 0;
};

using ByteSequence = std::vector<std::pair<uint8_t, uint8_t>>;

// The UTF-8 encodings of [low, high] as sequences of byte ranges (the split RE2 and Rust's
// regex-syntax use): each sequence covers code points of one length whose bytes vary independently.
void utf8_sequences(char32_t low, char32_t high, std::vector<ByteSequence>* out) {
  for (char32_t boundary : {char32_t{0x7F}, char32_t{0x7FF}, char32_t{0xFFFF}}) {
    if (low <= boundary && high > boundary) {
      utf8_sequences(low, boundary, out);
      utf8_sequences(boundary + 1, high, out);
      return;
    }
  }
  if (high <= 0x7F) {
    out->push_back({{static_cast<uint8_t>(low), static_cast<uint8_t>(high)}});
    return;
  }
  for (int i = 1; i < 4; ++i) {
    const char32_t mask = (char32_t{1} << (6 * i)) - 1;
    if ((low & ~mask) != (high & ~mask)) {
      if ((low & mask) != 0) {
        utf8_sequences(low, low | mask, out);
        utf8_sequences((low | mask) + 1, high, out);
        return;
      }
      if ((high & mask) != mask) {
        utf8_sequences(low, (high & ~mask) - 1, out);
        utf8_sequences(high & ~mask, high, out);
        return;
      }
    }
  }
  std::string first, last;
  utf8::append(low, &first);
  utf8::append(high, &last);
  ByteSequence sequence;
  for (size_t k = 0; k < first.size(); ++k) {
    sequence.push_back({static_cast<uint8_t>(first[k]), static_cast<uint8_t>(last[k])});
  }
  out->push_back(std::move(sequence));
}

class NfaBuilder {
 public:
  explicit NfaBuilder(size_t max_states) : max_states_(max_states) {}

  RegexNfa build(const Node& root) {
    nfa_.start = add_state();
    const int32_t end = build(root, nfa_.start);
    nfa_.accept = add_state();
    nfa_.states[end].epsilons.push_back(nfa_.accept);
    return std::move(nfa_);
  }

 private:
  int32_t add_state() {
    if (nfa_.states.size() >= max_states_) {
      fail("regex: the pattern needs more than ", max_states_, " automaton states; simplify it");
    }
    nfa_.states.emplace_back();
    return static_cast<int32_t>(nfa_.states.size() - 1);
  }
  void epsilon(int32_t from, int32_t to) { nfa_.states[from].epsilons.push_back(to); }

  // Adds `node` starting at state `from`; returns its end state.
  int32_t build(const Node& node, int32_t from) {
    switch (node.kind) {
      case Node::kEmpty:
        return from;
      case Node::kSet:
        return build_set(node.set, from);
      case Node::kConcat:
        for (const Node& child : node.children) from = build(child, from);
        return from;
      case Node::kAlternate: {
        const int32_t end = add_state();
        for (const Node& child : node.children) {
          const int32_t branch = add_state();
          epsilon(from, branch);
          epsilon(build(child, branch), end);
        }
        return end;
      }
      case Node::kRepeat:
        return build_repeat(node, from);
    }
    return from;
  }

  int32_t build_set(const Ranges& ranges, int32_t from) {
    const int32_t end = add_state();
    std::vector<ByteSequence> sequences;
    for (auto [low, high] : ranges) utf8_sequences(low, high, &sequences);
    for (const ByteSequence& sequence : sequences) {
      int32_t at = from;
      for (size_t k = 0; k < sequence.size(); ++k) {
        const int32_t next = k + 1 == sequence.size() ? end : add_state();
        nfa_.states[at].edges.push_back({sequence[k].first, sequence[k].second, next});
        at = next;
      }
    }
    return end;
  }

  int32_t build_repeat(const Node& node, int32_t from) {
    const Node& child = node.children[0];
    for (int k = 0; k < node.min; ++k) from = build(child, from);
    if (node.max == -1) {
      const int32_t loop = add_state();
      epsilon(from, loop);
      epsilon(build(child, loop), loop);
      const int32_t end = add_state();
      epsilon(loop, end);
      return end;
    }
    const int32_t end = add_state();
    for (int k = node.min; k < node.max; ++k) {
      epsilon(from, end);
      const int32_t copy = add_state();
      epsilon(from, copy);
      from = build(child, copy);
    }
    epsilon(from, end);
    return end;
  }

  RegexNfa nfa_;
  size_t max_states_;
};

}  // namespace

RegexNfa compile_regex(std::string_view pattern, size_t max_states) {
  const Node root = Parser(pattern).parse();
  return NfaBuilder(max_states).build(root);
}

std::string regex_escape(std::string_view text) {
  static constexpr std::string_view kSpecial = "\\^$.|?*+()[]{}-/";
  std::string escaped;
  for (char c : text) {
    if (kSpecial.find(c) != std::string_view::npos) escaped += '\\';
    escaped += c;
  }
  return escaped;
}

}  // namespace cpm
