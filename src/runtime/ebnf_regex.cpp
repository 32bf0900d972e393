#include "runtime/ebnf_regex.h"

#include <map>
#include <optional>
#include <vector>

#include "core/error.h"
#include "runtime/regex_building.h"
#include "runtime/regex_nfa.h"
#include "tokenizer/utf8.h"

namespace cpm {

namespace {

// A grammar term. Literals and classes are kept as regex text already.
struct Term {
  enum class Kind { kRegex, kRule, kSequence, kChoice, kRepeat };
  explicit Term(Kind term_kind) : kind(term_kind) {}
  Kind kind;
  std::string text;         // kRegex: the regex; kRule: the rule's name
  std::vector<Term> parts;  // kSequence / kChoice: the parts; kRepeat: the repeated term
  int min = 0, max = -1;    // kRepeat; max -1: no upper bound
  int line = 0;             // where a kRule reference was written, for errors
};

struct Rule {
  Term body;
  int line = 0;
};

constexpr size_t kMaxRegexBytes = 1 << 20;

class GrammarParser {
 public:
  explicit GrammarParser(std::string_view text) : text_(text) {}

  std::map<std::string, Rule> rules() {
    std::map<std::string, Rule> rules;
    skip_space();
    if (done()) error("the grammar is empty");
    while (!done()) {
      const int line = line_;
      const std::string rule_name = name();
      if (rule_name.empty()) error("expected a rule name");
      skip_space();
      if (text_.substr(at_, 3) != "::=") error("expected '::=' after rule name '" + rule_name + "'");
      at_ += 3;
      Term body = choice(0);
      if (!rules.emplace(rule_name, Rule{std::move(body), line}).second)
        fail("EBNF line ", line, ": rule '", rule_name, "' is defined twice");
      skip_space();
    }
    return rules;
  }

 private:
  static constexpr int kMaxNesting = 64;

  bool done() const { return at_ >= text_.size(); }
  char peek() const { return done() ? '\0' : text_[at_]; }
  [[noreturn]] void error(const std::string& what) const { fail("EBNF line ", line_, ": ", what); }
  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  }

  void skip_space() {
    while (!done()) {
      if (peek() == '#') {
        while (!done() && peek() != '\n') ++at_;
      } else if (peek() == ' ' || peek() == '\t' || peek() == '\r' || peek() == '\n') {
        line_ += peek() == '\n';
        ++at_;
      } else {
        break;
      }
    }
  }

  std::string name() {
    const size_t begin = at_;
    while (!done() && name_char(peek())) ++at_;
    return std::string(text_.substr(begin, at_ - begin));
  }

  // True when the next thing is `name ::=`: the current rule ends there.
  bool at_rule_start() {
    const size_t saved_at = at_;
    const int saved_line = line_;
    const bool starts = !name().empty() && (skip_space(), text_.substr(at_, 3) == "::=");
    at_ = saved_at;
    line_ = saved_line;
    return starts;
  }

  Term choice(int depth) {
    if (depth > kMaxNesting) error("groups nested deeper than 64 levels");
    Term term(Term::Kind::kChoice);
    term.parts.push_back(sequence(depth));
    while (true) {
      skip_space();
      if (peek() != '|') break;
      ++at_;
      term.parts.push_back(sequence(depth));
    }
    return term.parts.size() == 1 ? std::move(term.parts[0]) : term;
  }

  Term sequence(int depth) {
    Term term(Term::Kind::kSequence);
    while (true) {
      skip_space();
      if (done() || peek() == '|' || peek() == ')' || at_rule_start()) break;
      term.parts.push_back(repeated(depth));
    }
    return term;
  }

  Term repeated(int depth) {
    Term term = primary(depth);
    while (true) {
      const char c = peek();  // no blank between a term and its repetition
      if (c != '*' && c != '+' && c != '?' && c != '{') return term;
      ++at_;
      Term repeat(Term::Kind::kRepeat);
      repeat.parts.push_back(std::move(term));
      if (c == '+') repeat.min = 1;
      if (c == '?') repeat.max = 1;
      if (c == '{') bounds(&repeat);
      term = std::move(repeat);
    }
  }

  void bounds(Term* repeat) {
    auto number = [this]() {
      skip_space();
      const size_t begin = at_;
      while (!done() && peek() >= '0' && peek() <= '9') ++at_;
      if (at_ == begin || at_ - begin > 5) error("expected a repetition count (0 to 99999)");
      return std::stoi(std::string(text_.substr(begin, at_ - begin)));
    };
    repeat->min = number();
    repeat->max = repeat->min;
    skip_space();
    if (peek() == ',') {
      ++at_;
      skip_space();
      repeat->max = peek() == '}' ? -1 : number();
      skip_space();
    }
    if (peek() != '}') error("expected '}' to close a repetition");
    ++at_;
    if (repeat->max >= 0 && repeat->max < repeat->min) error("a repetition {m,n} with n below m");
  }

  Term primary(int depth) {
    const char c = peek();
    if (c == '"') return regex_term(regex_escape(literal()));
    if (c == '[') return regex_term(char_class());
    if (c == '(') {
      ++at_;
      Term inner = choice(depth + 1);
      skip_space();
      if (peek() != ')') error("expected ')'");
      ++at_;
      return inner;
    }
    if (name_char(c)) {
      Term reference(Term::Kind::kRule);
      reference.line = line_;
      reference.text = name();
      return reference;
    }
    error(done() ? std::string("unexpected end of the grammar") : "unexpected '" + std::string(1, c) + "'");
  }

  static Term regex_term(std::string regex) {
    Term term(Term::Kind::kRegex);
    term.text = std::move(regex);
    return term;
  }

  // Just past a backslash, in a literal or a class.
  char32_t escape() {
    if (done()) error("a grammar ending in '\\'");
    const char c = text_[at_++];
    switch (c) {
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case 'x':
        return hex(2);
      case 'u':
        return hex(4);
      case 'U':
        return hex(8);
      default:
        if (c == '\\' || c == '"' || c == '[' || c == ']' || c == '-' || c == '^' || c == '\'') return c;
        error("unknown escape '\\" + std::string(1, c) + "'");
    }
  }

  char32_t hex(int digits) {
    if (at_ + static_cast<size_t>(digits) > text_.size()) error("a short hexadecimal escape");
    const std::string hex_text(text_.substr(at_, static_cast<size_t>(digits)));
    if (hex_text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      error("a bad hexadecimal escape");
    at_ += static_cast<size_t>(digits);
    const auto code_point = static_cast<char32_t>(std::stoul(hex_text, nullptr, 16));
    if (code_point > 0x10FFFF || (code_point >= 0xD800 && code_point < 0xE000))
      error("an escape that is not a Unicode character");
    return code_point;
  }

  // The next character of a literal or class, escapes decoded.
  char32_t character() {
    if (peek() == '\n') error("a literal or class may not span lines");
    if (peek() == '\\') {
      ++at_;
      return escape();
    }
    const char32_t code_point = utf8::next_code_point(text_, &at_);
    if (code_point >= utf8::kInvalidByteBase) error("invalid UTF-8");
    return code_point;
  }

  std::string literal() {
    ++at_;  // '"'
    std::string text;
    while (peek() != '"') {
      if (done()) error("unterminated string literal");
      utf8::append(character(), &text);
    }
    ++at_;
    return text;
  }

  // A class in the regex syntax: ASCII letters and digits as they are, other ASCII escaped, the rest
  // as UTF-8.
  static void append_class_character(char32_t code_point, std::string* out) {
    const bool plain = (code_point >= 'a' && code_point <= 'z') || (code_point >= 'A' && code_point <= 'Z') ||
                       (code_point >= '0' && code_point <= '9');
    if (plain || code_point >= 0x80) {
      utf8::append(code_point, out);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out->append("\\x").push_back(kHex[code_point >> 4]);
      out->push_back(kHex[code_point & 15]);
    }
  }

  std::string char_class() {
    ++at_;  // '['
    std::string regex = "[";
    if (peek() == '^') {
      ++at_;
      regex += '^';
    }
    bool empty = true;
    while (peek() != ']') {
      if (done()) error("unterminated character class");
      const char32_t low = character();
      char32_t high = low;
      if (peek() == '-' && at_ + 1 < text_.size() && text_[at_ + 1] != ']') {
        ++at_;
        high = character();
        if (high < low) error("a class range from a higher to a lower character");
      }
      append_class_character(low, &regex);
      if (high != low) {
        regex += '-';
        append_class_character(high, &regex);
      }
      empty = false;
    }
    ++at_;
    if (empty) error("an empty character class");
    return regex + "]";
  }

  std::string_view text_;
  size_t at_ = 0;
  int line_ = 1;
};

// Rules inlined into one regex; a rule that is already kMaxRuleRecursion deep on the current path
// matches nothing there (nullopt), which removes the alternatives that would go deeper.
class RegexWriter {
 public:
  explicit RegexWriter(const std::map<std::string, Rule>& rules) : rules_(rules) {}

  std::optional<std::string> write(const Term& term) {
    switch (term.kind) {
      case Term::Kind::kRegex:
        return term.text;
      case Term::Kind::kRule:
        return rule(term);
      case Term::Kind::kSequence: {
        std::string regex;
        for (const Term& part : term.parts) {
          std::optional<std::string> written = write(part);
          if (!written) return std::nullopt;
          regex += group(*written);
          if (regex.size() > kMaxRegexBytes) too_large();
        }
        return regex;
      }
      case Term::Kind::kChoice: {
        std::vector<std::string> options;
        for (const Term& part : term.parts) {
          if (std::optional<std::string> written = write(part)) options.push_back(std::move(*written));
        }
        if (options.empty()) return std::nullopt;
        return alternatives(options);
      }
      case Term::Kind::kRepeat:
        break;
    }
    std::optional<std::string> inner = write(term.parts[0]);
    if (!inner) return term.min == 0 ? std::optional<std::string>("") : std::nullopt;
    const std::string bounds = term.max < 0
                                   ? cat({"{", std::to_string(term.min), ",}"})
                                   : cat({"{", std::to_string(term.min), ",", std::to_string(term.max), "}"});
    return cat({group(*inner), bounds});
  }

 private:
  [[noreturn]] static void too_large() {
    fail("EBNF: the grammar expands to a regex over 1 MB (recursive rules are expanded ", kMaxRuleRecursion,
         " levels deep); simplify it");
  }

  std::optional<std::string> rule(const Term& reference) {
    const auto found = rules_.find(reference.text);
    if (found == rules_.end())
      fail("EBNF line ", reference.line, ": rule '", reference.text, "' is not defined");
    int& depth = depth_[reference.text];
    if (depth >= kMaxRuleRecursion) return std::nullopt;
    ++depth;
    std::optional<std::string> written = write(found->second.body);
    --depth;
    return written;
  }

  const std::map<std::string, Rule>& rules_;
  std::map<std::string, int> depth_;  // how many times each rule is open on the current path
};

}  // namespace

std::string ebnf_to_regex(std::string_view grammar) {
  const std::map<std::string, Rule> rules = GrammarParser(grammar).rules();
  const auto root = rules.find("root");
  if (root == rules.end()) fail("EBNF: the grammar has no 'root' rule, where generation starts");
  RegexWriter writer(rules);
  Term start(Term::Kind::kRule);
  start.text = "root";
  std::optional<std::string> regex = writer.write(start);
  if (!regex) fail("EBNF: 'root' matches nothing within ", kMaxRuleRecursion, " levels of recursion");
  return *regex;
}

}  // namespace cpm
