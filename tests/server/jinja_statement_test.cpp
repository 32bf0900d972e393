// Statements, whitespace control, macros, namespaces and errors of the chat-template language.
// Expected strings are what @huggingface/jinja renders for the same template.
#include <gtest/gtest.h>

#include <string>

#include "jinja_test_util.h"

namespace cpm::test {
namespace {

using nlohmann::ordered_json;

ordered_json three_messages() {
  return {{"messages", ordered_json::parse(R"([{"role": "system", "content": "S"},
    {"role": "user", "content": "U1"}, {"role": "user", "content": "U2"}])")}};
}

TEST(JinjaControlFlow, IfElifElse) {
  EXPECT_EQ(render("{% if 0 %}a{% elif '' %}b{% elif [] %}c{% elif {} %}d{% else %}e{% endif %}"), "e");
  EXPECT_EQ(render("{% if 1 %}a{% elif 1 %}b{% endif %}{% if x %}x{% endif %}"), "a");
  EXPECT_EQ(render("{% if not m[0].content.startswith('S') %}no{% else %}yes{% endif %}",
                   {{"m", three_messages()["messages"]}}),
            "yes");
}

TEST(JinjaControlFlow, ForLoopVariables) {
  EXPECT_EQ(
      render("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
             "{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
             three_messages()),
      "1032truefalse3|2121falsefalse3|3210falsetrue3|");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}"),
            "-2;1-3;2-;");
  EXPECT_EQ(render("{% for i in range(3) %}{% for j in range(2) %}{{ i }}{{ j }}{{ loop.index }} {% endfor "
                   "%}{{ loop.index }};{% endfor %}"),
            "001 012 1;101 112 2;201 212 3;");
}

TEST(JinjaControlFlow, ForFiltersElseAndUnpacking) {
  EXPECT_EQ(render("{% for m in messages if m.role == 'user' %}{{ loop.index }}:{{ m.content }};{% else "
                   "%}none{% endfor %}",
                   three_messages()),
            "1:U1;2:U2;");
  EXPECT_EQ(render("{% for m in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for k in {'a': 1, 'b': 2} %}{{ k }},{% endfor %}{% for a, b in [[1, 2], [3, 4]] %}{{ "
                   "a + b }}{% endfor %}"),
            "a,b,37");
}

TEST(JinjaControlFlow, BreakAndContinueDropTheInterruptedIteration) {
  // @huggingface/jinja loses what an iteration printed before {% break %} / {% continue %}.
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}A{% if x == 2 %}B{% continue %}{% endif %}C{% endfor %}"),
            "ACAC");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}A{% if x == 2 %}B{% break %}{% endif %}C{% endfor %}"), "AC");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{% continue %}{% else %}ELSE{% endfor %}"), "ELSE");
  EXPECT_EQ(
      render(
          "{% for x in [1, 2, 3] %}{{ x }}{% if x == 1 %}{% break %}{% endif %}{% else %}ELSE{% endfor %}"),
      "ELSE");
}

TEST(JinjaControlFlow, SetAndScopes) {
  EXPECT_EQ(render("{% set x %}block {{ 1 + 1 }}{% endset %}[{{ x }}]"), "[block 2]");
  EXPECT_EQ(render("{% filter upper %}hello {{ 'world' }}{% endfilter %}"), "HELLO WORLD");
  // `set` inside if changes the outer variable; inside a loop it stays in the loop.
  EXPECT_EQ(render("{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}{% for i in [1] %}{% set x "
                   "= 3 %}{% endfor %}{{ x }}"),
            "22");
  EXPECT_EQ(
      render("{% for m in messages %}{% set last = m.role %}{% endfor %}[{{ last }}]", three_messages()),
      "[]");
  EXPECT_EQ(render("{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}{% endif "
                   "%}{{ sys }}",
                   three_messages()),
            "S");
}

TEST(JinjaWhitespace, TrimAndLstripBlocksAreOn) {
  EXPECT_EQ(render("a\n  {% if true %}\n    b\n  {% endif %}\nc\n"), "a\n    b\nc");
  EXPECT_EQ(render("line1\n{% if true %}\n  inner\n{% endif %}\nline2\n"), "line1\n  inner\nline2");
  EXPECT_EQ(render("  {{ 'expr' }}\n  {# c #}\n  text\n"), "  expr\n  text");
  EXPECT_EQ(render("\t{% if true %}x{% endif %}\t\n"), "x\t");
  // Only \n follows a tag for trim_blocks; the \r of a CRLF stays.
  EXPECT_EQ(render("a\r\n  {% if true %}\r\n    b\r\n  {% endif %}\r\nc\r\n"), "a\r\n\r\n    b\r\n\r\nc\r");
  EXPECT_EQ(render("{% for i in range(2) %}\n{{ i }}\n{% endfor %}\n"), "0\n1\n");
}

TEST(JinjaWhitespace, DashesStripWhitespace) {
  EXPECT_EQ(render("a   {{- 'x' -}}   b {%- if true -%}   c   {%- endif -%}   d"), "axbcd");
  EXPECT_EQ(render("{%- for i in range(2) -%}\n  {{ i }}\n{%- endfor -%}\n"), "01");
  EXPECT_EQ(render("{{- 'x' -}}\n\n{{- 'y' -}}"), "xy");
  // JavaScript's \s includes no-break and ideographic spaces.
  EXPECT_EQ(render("x\xC2\xA0 {%- if true -%}\xE3\x80\x80\xC2\xA0\n z{%- endif %}"), "xz");
}

TEST(JinjaWhitespace, CommentsAndGenerationMarkers) {
  EXPECT_EQ(render("{# comment #}a {#- trimmed -#} b {# c -#} c"), "ab c");
  EXPECT_EQ(render("{#- only comment -#}"), "");
  EXPECT_EQ(render("{{ 'a' }}\n\n"), "a\n");
  EXPECT_EQ(render("a{% generation %}b{% endgeneration %}c"), "abc");
  EXPECT_EQ(render("a  {%- generation %}  b  {% endgeneration -%}  c"), "a  b  c");
}

TEST(JinjaMacros, ArgumentsAndDefaults) {
  EXPECT_EQ(render("{% macro m(a, b=2, c='z') %}[{{ a }}|{{ b }}|{{ c }}]{% endmacro %}{{ m(1) }}{{ m(1, 3) "
                   "}}{{ m(1, c=5) }}"),
            "[1|2|z][1|3|z][1|2|5]");
  EXPECT_EQ(render("{% macro m(a, b) %}{{ a }}{{ b }}{% endmacro %}{{ m(b=1, a=2) }}|{{ m() }}|"), "21||");
  EXPECT_EQ(render("{% macro m(a) %}{{ varargs|length }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}"),
            "2{\"k\": \"v\"}");
  EXPECT_EQ(render("{% macro m(a, b=a * 2) %}{{ b }}{% endmacro %}{{ m(4) }}"), "8");
}

TEST(JinjaMacros, SeeTheCallersVariablesAndRecurse) {
  EXPECT_EQ(render("{% macro m() %}{{ outer_var }}{% endmacro %}{% set outer_var = 'seen' %}{{ m() }}"),
            "seen");
  EXPECT_EQ(
      render(
          "{% set x = 'outer' %}{% macro m() %}{% set x = 'inner' %}{{ x }}{% endmacro %}{{ m() }}{{ x }}"),
      "innerouter");
  EXPECT_EQ(
      render("{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}"),
      "54321");
}

TEST(JinjaMacros, CallBlocksAndCaller) {
  EXPECT_EQ(render("{% macro outer() %}<{{ caller() }}>{% endmacro %}{% call outer() %}inside{% endcall %}"),
            "<inside>");
  EXPECT_EQ(render("{% macro outer(x) %}<{{ caller(x * 2) }}>{% endmacro %}{% call(y) outer(21) %}got {{ y "
                   "}}{% endcall %}"),
            "<got 42>");
  EXPECT_EQ(render("{% macro wrap() %}{% set ns = namespace(f=caller()) %}[{{ ns.f }}]{% endmacro %}"
                   "{% for i in [1, 2] %}{% call wrap() %}{{ i }}{% endcall %}{% endfor %}"),
            "[1][2]");
}

TEST(JinjaNamespace, HoldsStateAcrossLoops) {
  EXPECT_EQ(
      render("{% set ns = namespace(a=1, b='x') %}{% set ns.a = ns.a + 1 %}{{ ns.a }}{{ ns.b }}{{ ns }}"),
      "2x{\"a\": 2, \"b\": \"x\"}");
  EXPECT_EQ(render("{% set ns = namespace(items=[]) %}{% for i in range(3) %}{% set ns.items = ns.items + "
                   "[i] %}{% endfor %}{{ ns.items }}"),
            "[0, 1, 2]");
  EXPECT_EQ(
      render("{% set ns = namespace({'a': 1}) %}{{ ns.a }}{% set ns2 = namespace([['b', 2]]) %}{{ ns2.b }}"),
      "12");
}

TEST(JinjaErrors, SyntaxErrorsNameTheLine) {
  EXPECT_EQ(render_error("a\n{% if true %}unclosed"),
            "chat template syntax error, line 2: the {% if %} opened on line 2 is never closed (expected {% "
            "endif %})");
  EXPECT_EQ(render_error("\n\n{% endif %}"),
            "chat template syntax error, line 3: {% endif %} without a matching opening tag");
  EXPECT_EQ(render_error("{% foo %}"), "chat template syntax error, line 1: unknown statement 'foo'");
  EXPECT_EQ(render_error("{{ 'unterminated }}"),
            "chat template syntax error, line 1: a string literal is not closed");
  EXPECT_EQ(render_error("x\n{{ 1 + }}"), "chat template syntax error, line 2: unexpected '}}'");
  EXPECT_EQ(render_error("{# unterminated"),
            "chat template syntax error, line 1: a {# comment #} is not closed");
  EXPECT_EQ(render_error("{% macro m(a=1, b) %}{% endmacro %}"),
            "chat template syntax error, line 1: a parameter without a default follows one with a default");
  EXPECT_EQ(render_error("{{ f(a=1, 2) }}"),
            "chat template syntax error, line 1: positional arguments must come before keyword arguments");
  EXPECT_EQ(render_error("{{ 'a' ! 'b' }}"), "chat template syntax error, line 1: unexpected character '!'");
  EXPECT_THROW(ChatTemplate("{{ }}"), Error);
  EXPECT_THROW(ChatTemplate("{% for %}{% endfor %}"), Error);
}

TEST(JinjaErrors, RuntimeErrorsNameTheLine) {
  EXPECT_EQ(render_error("ok\n{{ raise_exception('Roles must alternate') }}"),
            "chat template error, line 2: raise_exception: Roles must alternate");
  EXPECT_EQ(render_error("{{ x + 1 }}"),
            "chat template error, line 1: Cannot perform operation + on undefined values");
  EXPECT_EQ(render_error("{{ 'abc' ~ none }}"),
            "chat template error, line 1: Cannot perform operation ~ on null values");
  EXPECT_EQ(render_error("{% for x in 5 %}{% endfor %}"),
            "chat template error, line 1: Expected iterable or object type in for loop: got IntegerValue");
  EXPECT_EQ(render_error("{{ 'x'|nonexistent }}"),
            "chat template error, line 1: Unknown filter 'nonexistent' for StringValue");
  EXPECT_EQ(render_error("{{ 'x' is nonexistent }}"),
            "chat template error, line 1: Unknown test: nonexistent");
  EXPECT_EQ(render_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"),
            "chat template error, line 1: macro 'm' takes not more than 1 argument(s)");
  EXPECT_EQ(render_error("{% if true %}{% break %}{% endif %}"),
            "chat template error: {% break %} outside of a loop");
  EXPECT_EQ(render_error("{{ [3, 'a']|sort }}"),
            "chat template error, line 1: Cannot compare different types: StringValue and IntegerValue");
  EXPECT_EQ(render_error("{{ 1 / 0 }}"), "chat template error, line 1: division by zero");
  EXPECT_EQ(render_error("{{ messages }}", ordered_json::array()),
            "the chat template context must be a JSON object");
  // An error inside a macro names the line in the macro.
  EXPECT_EQ(render_error("{% macro m() %}\n{{ undefined_fn() }}\n{% endmacro %}\n{{ m() }}"),
            "chat template error, line 2: Cannot call something that is not a function: got UndefinedValue");
}

TEST(JinjaLimits, RecursionIsBounded) {
  EXPECT_EQ(render_error("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}"),
            "chat template error, line 1: macro 'r' recurses more than 100 deep");
  std::string parentheses = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_EQ(render_error("{{ " + parentheses + " }}"),
            "chat template syntax error, line 1: the template nests deeper than the parser allows");
  std::string chain = "{{ 1";
  for (int i = 0; i < 100000; ++i) chain += " + 1";
  EXPECT_EQ(render_error(chain + " }}"),
            "chat template syntax error, line 1: an expression is nested or chained too deeply");
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  EXPECT_NE(render_error(ifs).find("nests deeper than the parser allows"), std::string::npos);
  ordered_json deep = 1;
  for (int i = 0; i < 1000; ++i) deep = ordered_json::array({deep});
  EXPECT_EQ(render_error("{{ x }}", {{"x", deep}}), "context data is nested deeper than 256 levels");
}

TEST(JinjaLimits, RunningTimeAndOutputAreBounded) {
  EXPECT_EQ(
      render_error("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}"),
      "chat template error, line 1: the template runs too long (it used up its work budget)");
  EXPECT_EQ(
      render_error(
          "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
      "chat template error, line 1: a string would exceed 16 MiB");
  EXPECT_EQ(render_error("{{ range(100000000) }}"),
            "chat template error, line 1: range() of more than 1000000 numbers");
}

// Each of these would run for minutes if only statements were counted.
TEST(JinjaLimits, WorkOnLongListsAndStringsIsCharged) {
  const std::string budget_error =
      "chat template error, line 1: the template runs too long (it used up its work budget)";
  EXPECT_EQ(render_error(
                "{% set big = range(1000000) %}{% for i in big %}{% if i in big %}{% endif %}{% endfor %}"),
            budget_error);
  EXPECT_EQ(
      render_error("{% set l = range(1000000) %}{% for i in range(1000) %}{{ (l|unique)[0] }}{% endfor %}"),
      budget_error);
  EXPECT_EQ(render_error(
                "{% set s = 'a ' * 5000000 %}{% for i in range(1000) %}{{ s.split()|length }}{% endfor %}"),
            budget_error);
  EXPECT_EQ(
      render_error("{% set s = 'x' * 10000000 %}{% for i in range(1000) %}{{ s[::-1]|length }}{% endfor %}"),
      budget_error);
  EXPECT_EQ(render_error("{% set s = 'x' * 10000000 %}{% for c in s %}{% endfor %}"), budget_error);
  EXPECT_EQ(render("{{ ('' * 9000000000000000000)|length }}"), "0");
}

TEST(JinjaLimits, SelfReferencesFailCleanly) {
  EXPECT_EQ(render_error("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}"),
            "chat template error, line 1: a value is nested too deeply (or contains itself) for tojson");
  EXPECT_EQ(render_error("{% set ns = namespace() %}{% macro m() %}{% set ns.c = caller %}{% endmacro %}"
                         "{% call m() %}x{% endcall %}{{ ns.c() }}"),
            "chat template error, line 1: caller() was called after its {% call %} block ended");
}

}  // namespace
}  // namespace cpm::test
