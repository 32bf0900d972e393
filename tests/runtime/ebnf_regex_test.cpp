// EBNF grammars as regexes: the texts a grammar derives match, others do not; errors name the line.
#include "runtime/ebnf_regex.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "runtime/regex_matcher.h"

namespace cpm {
namespace {

// Matches what the grammar derives.
class Matcher : public RegexMatcher {
 public:
  explicit Matcher(std::string_view grammar) : RegexMatcher(ebnf_to_regex(grammar)) {}
};

std::string error_of(std::string_view grammar) {
  try {
    ebnf_to_regex(grammar);
  } catch (const Error& error) {
    return error.what();
  }
  return "no error";
}

TEST(EbnfRegexTest, RulesLiteralsClassesAndRepetitions) {
  Matcher match(R"g(# capitals
root ::= city " is the capital of " country "." ("\n" note)?
city ::= "London" | "Paris" | "Tōkyō"
country ::= [A-Z] [a-z]+
note    ::= "(" [^()\n]{1,10} ")"   # a short remark
)g");
  EXPECT_TRUE(match("London is the capital of England."));
  EXPECT_TRUE(match("Tōkyō is the capital of Japan.\n(east)"));
  EXPECT_FALSE(match("Rome is the capital of Italy."));
  EXPECT_FALSE(match("Paris is the capital of france."));
  EXPECT_FALSE(match("Paris is the capital of France.\n()"));
  EXPECT_FALSE(match("Paris is the capital of France.\n(a remark that is too long)"));

  Matcher escapes(R"g(root ::= "\"q\"\t" [\x41-\x43\u00e9\]]{2} "\\" [^\n]*)g");
  EXPECT_TRUE(escapes("\"q\"\tAé\\ anything"));
  EXPECT_TRUE(escapes("\"q\"\t]C\\"));
  EXPECT_FALSE(escapes("\"q\"\tAD\\"));
  EXPECT_FALSE(escapes("\"q\"\tAB\\x\ny"));

  Matcher counts(R"g(root ::= "a"{2} "b"{1,} "c"{0,2} d*
d ::= "d" | )g");
  EXPECT_TRUE(counts("aab"));
  EXPECT_TRUE(counts("aabbbccdd"));
  EXPECT_FALSE(counts("ab"));
  EXPECT_FALSE(counts("aabccc"));
}

TEST(EbnfRegexTest, RecursionIsExpandedToABoundedDepth) {
  Matcher arithmetic(R"g(
root   ::= expr
expr   ::= term (("+" | "-") term)*
term   ::= number | "(" expr ")"
number ::= [0-9]+
)g");
  EXPECT_TRUE(arithmetic("1+2"));
  EXPECT_TRUE(arithmetic("(1+(2-3))+40"));
  EXPECT_TRUE(arithmetic("(((1)))"));  // expr opened four times: the deepest allowed
  EXPECT_FALSE(arithmetic("((((1))))"));
  EXPECT_FALSE(arithmetic("(1+2"));
  EXPECT_FALSE(arithmetic("1+"));
  Matcher list(R"g(root ::= "[" (item ("," item)*)? "]"
item ::= [a-z] | root)g");
  EXPECT_TRUE(list("[a,[b,c],[]]"));
  EXPECT_FALSE(list("[a,[b,c]"));
}

TEST(EbnfRegexTest, ErrorsNameTheProblemAndLine) {
  EXPECT_NE(error_of("answer ::= \"yes\"").find("no 'root' rule"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\" b\n").find("line 1: rule 'b' is not defined"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"\nroot ::= \"b\"").find("line 2: rule 'root' is defined twice"),
            std::string::npos);
  EXPECT_NE(error_of("root ::=\n  \"a\n\"").find("line 2: a literal or class may not span lines"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= [z-a]").find("higher to a lower"), std::string::npos);
  EXPECT_NE(error_of("root ::= (\"a\"").find("expected ')'"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{3,1}").find("n below m"), std::string::npos);
  EXPECT_NE(error_of("root \"a\"").find("expected '::='"), std::string::npos);
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"\\q\"").find("unknown escape"), std::string::npos);
  EXPECT_NE(error_of("root ::= a\na ::= a").find("matches nothing"), std::string::npos);
  EXPECT_NE(
      error_of("root ::= x x x x x\nx ::= y y y y y | \"a\"\ny ::= x x x x x | \"b\"").find("over 1 MB"),
      std::string::npos);
  std::string deep = "root ::= ";
  for (int k = 0; k < 100; ++k) deep += "(";
  EXPECT_NE(error_of(deep).find("deeper than 64"), std::string::npos);
}

}  // namespace
}  // namespace cpm
