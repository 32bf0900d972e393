// EBNF grammars (the GBNF syntax of llama.cpp, which xgrammar and sglang's `ebnf` take) as regular
// expressions for constrained decoding.
//
//   root   ::= answer ("\n" answer)*        # comments run to the end of the line
//   answer ::= "Yes" | "No" | [0-9]{1,3}
//
// Rules are `name ::= alternatives`; a rule ends where the next `name ::=` begins. Terms: string
// literals in double quotes (escapes \n \t \r \\ \" \xHH \uHHHH \UHHHHHHHH), character classes
// `[a-z]` / `[^...]` with the same escapes, rule names, groups `( )`, alternation `|`, and the
// repetitions `* + ? {m} {m,} {m,n}`. Generation starts at `root`.
//
// A regex cannot count nesting, so a rule that refers back to itself (directly or through others) is
// expanded at most kMaxRuleRecursion levels deep: the output may nest that deep and no deeper. The
// constraint is then narrower than the grammar, never wider. Errors (syntax, an undefined rule, no
// root, a grammar too large) throw cpm::Error naming the line and the problem.
#pragma once

#include <string>
#include <string_view>

namespace cpm {

inline constexpr int kMaxRuleRecursion = 4;

std::string ebnf_to_regex(std::string_view grammar);

}  // namespace cpm
