// Expressions, operators, filters, tests and methods of the chat-template language. Expected strings
// are what @huggingface/jinja renders for the same template.
#include <gtest/gtest.h>

#include "jinja_test_util.h"

namespace cpm::test {
namespace {

using nlohmann::ordered_json;

TEST(JinjaExpressions, PrintsLiteralsLikeHuggingFaceJinja) {
  EXPECT_EQ(render("{{ 'a' }}|{{ \"b\" }}|{{ 'c' 'd' }}|{{ 42 }}|{{ 1.50 }}|{{ 3.0 }}|{{ -0.0 }}"),
            "a|b|cd|42|1.5|3.0|-0.0");
  EXPECT_EQ(
      render("{{ true }} {{ false }} {{ none }}|{{ [none] }}|{{ undefined_name }}|{{ [undefined_name] }}"),
      "true false |[null]||[undefined]");
  EXPECT_EQ(render("{{ [1, 2.5, 'a', none, true] }}|{{ {'a': [1, {'b': 2}]} }}"),
            "[1, 2.5, \"a\", null, true]|{\"a\": [1, {\"b\": 2}]}");
  EXPECT_EQ(render("{{ 'a\\'b\\n\\t\\\\' }}|{{ '\\x41\\u0042\\ud83d\\ude00' }}"),
            "a'b\n\t\\|AB\xF0\x9F\x98\x80");
}

TEST(JinjaExpressions, FormatsNumbersAsJavaScriptDoes) {
  EXPECT_EQ(render("{{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 10 / 4 }} {{ 10 / 5 }} {{ 2 ** -1 }}"),
            "0.30000000000000004 0.3333333333333333 2.5 2.0 0.5");
  EXPECT_EQ(
      render("{{ 0.000001 }} {{ 0.0000001 }} {{ 1234567890123456789012.0 }} {{ 100000000000000000000.0 }}"),
      "0.000001 1e-7 1.2345678901234568e+21 100000000000000000000.0");
  EXPECT_EQ(render("{{ 2.0 ~ '' }} {{ 'x' + 2.0 }} {{ 2.0|string }} {{ 2.0|tojson }} {{ 2.5|tojson }}"),
            "2 x2 2.0 2 2.5");
}

TEST(JinjaExpressions, Arithmetic) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 ** 2 }} {{ (1 + 2) * 3 }} {{ 5 - 3 - 1 }} {{ 2 * -3 }} {{ 10 - -1 }}"),
            "19 9 1 -6 11");
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7.5 % 2 }} {{ 7.0 // 2 }} {{ -7.5 // 2 }}"),
            "3 -4 -1 1.5 3.0 -4.0");
  EXPECT_EQ(render("{{ 2 ** 10 }} {{ 2 ** 3 ** 2 }} {{ (-3) ** 2 }} {{ -3 ** 2 }} {{ 1.5 * 2 }}"),
            "1024 64 9 9 3.0");
  EXPECT_EQ(render("{{ -x }}", {{"x", 3}}), "-3");
  EXPECT_EQ(render("{{ +x }} {{ -y }}", {{"x", 2.5}, {"y", true}}), "2.5 -1");
}

TEST(JinjaExpressions, ComparisonsUseJavaScriptEquality) {
  EXPECT_EQ(render("{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 1.5 >= 1 }} {{ 'a' == 'a' }} {{ 'a' != 'b' }}"),
            "true true false true true true");
  // @huggingface/jinja compares raw values with JavaScript's ==.
  EXPECT_EQ(
      render(
          "{{ x == none }} {{ 1 == true }} {{ '1' == 1 }} {{ '' == 0 }} {{ none == false }} {{ 1 == 1.0 }}"),
      "true true true true false true");
  EXPECT_EQ(render("{{ [1] == [1] }} {% set a = [1] %}{% set b = a %}{{ a == b }}"), "false true");
}

TEST(JinjaExpressions, LogicReturnsOperands) {
  EXPECT_EQ(render("{{ not true }} {{ not 0 }} {{ true and 'x' }} {{ false or 'y' }} {{ [] or 'empty' }} {{ "
                   "0 and 1 }}"),
            "false true x y empty 0");
  EXPECT_EQ(render("{{ not false and true }} {{ not (false and true) }} {{ not 1 == 2 }}"), "true true true");
  EXPECT_EQ(render("{{ x.y and x.y.z }}|{{ x or 'fallback' }}"), "|fallback");
}

TEST(JinjaExpressions, ConcatenationAndMembership) {
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ 2.0 ~ true ~ [1, 2] }} {{ 'a' + 1 }} {{ 1 + 'a' }} {{ [1] + [2] }}"),
            "a12true1,2 a1 1a [1, 2]");
  EXPECT_EQ(render("{{ 'ell' in 'hello' }} {{ 'x' not in 'hello' }} {{ 1 in [1, 2] }} {{ 'a' in {'a': 1} }}"),
            "true true true true");
  EXPECT_EQ(render("{{ 'q' in missing }} {{ 'q' not in missing }} {{ 1 in [1.0] }} {{ true in [1] }}"),
            "false true true false");
}

TEST(JinjaExpressions, ConditionalExpressions) {
  EXPECT_EQ(render("{{ 'x' if true else 'y' }}{{ 'x' if false else 'y' }}{{ 'z' if false }}."), "xy.");
  EXPECT_EQ(render("{{ 'a' if 1 > 2 else 'b' if 2 > 1 else 'c' }}"), "b");
}

TEST(JinjaExpressions, MemberAccessAndSlicing) {
  ordered_json context = {{"m", ordered_json::array({{{"role", "system"}, {"content", "S"}},
                                                     {{"role", "user"}, {"content", "U"}}})}};
  EXPECT_EQ(
      render("{{ m[1:]|length }} {{ m[-1].content }} {{ m[:1][0].role }} {{ m[0]['role'] }} {{ m.length }}",
             context),
      "1 U system system 2");
  EXPECT_EQ(render("{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ [1, 2, 3, 4, 5][::2] }} {{ [1, 2][0:-1] }} {{ "
                   "'héllo'[1] }}"),
            "el olleh [1, 3, 5] [1] é");
  EXPECT_EQ(
      render("{{ [1, 2, 3][-1] }} {{ [1, 2, 3][5] }}|{{ 'abc'[-5] }}|{% set l = [7, 8] %}{{ l.0 }}{{ l.1 }}"),
      "3 ||78");
  EXPECT_EQ(
      render("{{ {'x': {'y': 1}}.x.y }} {{ {'a': 1}['b'] }}|{{ missing.attr.deeper }}|{{ none.attr }}|"),
      "1 |||");
  EXPECT_EQ(render("{{ 'abc'.length }} {{ 'h\xC3\xA9\xF0\x9F\x98\x80'|length }}"), "3 4");  // UTF-16 units
}

TEST(JinjaExpressions, DictAndListLiterals) {
  EXPECT_EQ(render("{{ {'a': {'b': 1}} }}|{{ {'a': {'b': {'c': 1}}}['a'] }}"),
            "{\"a\": {\"b\": 1}}|{\"b\": {\"c\": 1}}");
  EXPECT_EQ(render("{% set x = {'k': [1, {'z': 2}]} %}{{ x.k[1].z }}{{ [1, 2,]|length }}"), "22");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (1, 'x') %}{{ t|length }}"), "122");
}

TEST(JinjaFilters, Strings) {
  EXPECT_EQ(
      render("{{ '  hi  '|trim }}|{{ 'abc'|upper|lower|title }}|{{ 'AB cD'|capitalize }}|{{ 'abc'|length }}"),
      "hi|Abc|AB cD|3");
  // title() upper-cases after word boundaries only, as /\b\w/g does: "_" is a word character.
  EXPECT_EQ(render("{{ 'abc_def ghi'|title }} {{ \"they're bill's\"|title }} {{ 'x1y'|title }}"),
            "Abc_def Ghi They'Re Bill'S X1y");
  EXPECT_EQ(render("{{ 'h\xC3\xA9llo'|upper }} {{ '\xC3\x80"
                   "B'|lower }} {{ 'stra\xC3\x9F' 'e'|upper }}"),
            "H\xC3\x89LLO \xC3\xA0"
            "b STRASSE");
  EXPECT_EQ(render("{{ 'a\nb\n\nc'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ ' x '|indent(2, first=true, "
                   "blank=true) }}"),
            "a\n    b\n\n    c|  a\n  b|   x ");
  EXPECT_EQ(render("{{ 'hello'|replace('l', '_') }} {{ 'abc'|join('-') }} {{ 'x'|string }}"),
            "he__o a-b-c x");
  EXPECT_EQ(render("{{ '42'|int + 1 }} {{ ' 12abc'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '3.5'|float }} "
                   "{{ '1e3'|float }} {{ 'x'|float(1.5) }}"),
            "43 12 0 7 3.5 1000.0 1.5");
}

TEST(JinjaFilters, Lists) {
  EXPECT_EQ(render("{{ [3, 1, 2]|first }} {{ [3, 1, 2]|last }} {{ [3, 1, 2]|sort }} {{ [3, 1, 2]|reverse }} "
                   "{{ [1, 1, 2]|unique }}"),
            "3 2 [1, 2, 3] [2, 1, 3] [1, 2]");
  EXPECT_EQ(render("{{ ['b', 'A', 'a']|sort }} {{ ['b', 'a', 'C']|sort(reverse=true) }} {{ ['b', 'a', "
                   "'C']|sort(case_sensitive=true) }}"),
            "[\"A\", \"a\", \"b\"] [\"C\", \"b\", \"a\"] [\"C\", \"a\", \"b\"]");
  EXPECT_EQ(render("{{ [1, 2]|join(',') }} {{ ['a', none, 2.0]|join }} {{ [1, [2, 3], {'a': 1}]|join('|') }} "
                   "{{ [1, 2]|string }}"),
            "1,2 a2 1|2,3|[object Map] [1, 2]");
  EXPECT_EQ(
      render("{{ [{'a': {'b': 2}}, {'a': {'b': 1}}]|sort(attribute='a.b')|map(attribute='a.b')|list }}"),
      "[1, 2]");
  EXPECT_EQ(render("{{ [{'a': 1}, {'b': 2}]|map(attribute='a', default='zz')|list }}"), "[1, \"zz\"]");
  EXPECT_EQ(render("{{ [{'a': 1}, {'a': 0}, {}]|selectattr('a')|list }} {{ [{'a': 1}, {'a': 0}, "
                   "{}]|rejectattr('a')|list }}"),
            "[{\"a\": 1}] [{\"a\": 0}, {}]");
  EXPECT_EQ(
      render("{{ m|selectattr('role', 'equalto', 'user')|map(attribute='c')|join(', ') }}",
             {{"m", ordered_json::parse(
                        R"([{"role":"user","c":"a"},{"role":"bot","c":"b"},{"role":"user","c":"c"}])")}}),
      "a, c");
}

TEST(JinjaFilters, DictsNumbersAndDefaults) {
  EXPECT_EQ(
      render("{% for k, v in {'a': 1, 'b': 2}|items %}{{ k }}={{ v }},{% endfor %} {{ {'a': 1}|length }}"),
      "a=1,b=2, 1");
  EXPECT_EQ(
      render("{{ {'b': 2, 'a': 1}|dictsort }} {{ {'b': 2, 'a': 1}|dictsort(by='value', reverse=true) }}"),
      "[[\"a\", 1], [\"b\", 2]] [[\"b\", 2], [\"a\", 1]]");
  EXPECT_EQ(render("{{ 3.7|int }} {{ 3.7|int() }} {{ 3|float }} {{ -3|abs }} {{ true|int }} {{ 42|string }} "
                   "{{ true|string }}"),
            "3 3.7 3.0 3 1 42 true");
  EXPECT_EQ(
      render(
          "{{ x|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ none|default('d') }}|"),
      "d  d |");
}

TEST(JinjaFilters, ToJsonMatchesHuggingFaceSpacing) {
  EXPECT_EQ(
      render(
          "{{ {'b': 1, 'a': none, 'c': 'x'}|tojson }} {{ [true, false, none]|tojson }} {{ missing|tojson }}"),
      "{\"b\": 1, \"a\": null, \"c\": \"x\"} [true, false, null] null");
  EXPECT_EQ(render("{{ {'b': 1, 'a': {'c': [1, 2]}}|tojson(indent=2) }}"),
            "{\n  \"b\": 1,\n  \"a\": {\n    \"c\": [\n      1,\n      2\n    ]\n  }\n}");
  EXPECT_EQ(render("{{ [1, {'a': []}, {}]|tojson(indent=2) }}"),
            "[\n  1,\n  {\n    \"a\": []\n  },\n  {}\n]");
  EXPECT_EQ(
      render("{{ {'a': 1, 'b': [1, 2]}|tojson(separators=(',', ':')) }} {{ {'a': 1}|tojson(indent=0) }}"),
      "{\"a\":1,\"b\":[1,2]} {\"a\": 1}");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2, 'B': 3, '_x': 4, '1': 5}|tojson(sort_keys=true) }}"),
            "{\"_x\": 4, \"1\": 5, \"a\": 2, \"b\": 1, \"B\": 3}");
  EXPECT_EQ(render("{{ {'a': 'x\ny\t\"z\\\\'}|tojson }} {{ '\x01\x1f\x7f'|tojson }}"),
            "{\"a\": \"x\\ny\\t\\\"z\\\\\"} \"\\u0001\\u001f\x7f\"");
  EXPECT_EQ(render("{{ '\xC3\xA9\xF0\x9F\x98\x80'|tojson }} {{ "
                   "'\xC3\xA9\xF0\x9F\x98\x80'|tojson(ensure_ascii=true) }}"),
            "\"\xC3\xA9\xF0\x9F\x98\x80\" \"\\u00e9\\ud83d\\ude00\"");
  // Key order of the context is kept.
  EXPECT_EQ(render("{{ x|tojson }}", {{"x", ordered_json::parse(R"({"z": 1, "a": [1.5, -2, "s"]})")}}),
            "{\"z\": 1, \"a\": [1.5, -2, \"s\"]}");
}

TEST(JinjaTests, TypeAndValueTests) {
  EXPECT_EQ(render("{{ 5 is number }} {{ 5 is integer }} {{ 5.0 is integer }} {{ 'a' is string }} {{ [1] is "
                   "iterable }}"),
            "true true false true true");
  EXPECT_EQ(render("{{ {} is mapping }} {{ none is none }} {{ x is undefined }} {{ x is defined }} {{ 3 is "
                   "odd }} {{ 4 is even }}"),
            "true true true false true true");
  EXPECT_EQ(render("{{ true is boolean }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ (1, 2) is iterable }} "
                   "{{ (1, 2) is sequence }}"),
            "true true true false true");
  EXPECT_EQ(render("{{ 'a' is string and 'b' is not number }} {{ [1, 2, 3]|length is number }} {{ x is not "
                   "defined }}"),
            "true true true");
  EXPECT_EQ(
      render(
          "{{ tools is none }} {{ tools is defined }} {{ documents is none }} {{ add_generation_prompt }}"),
      "true true true false");
}

TEST(JinjaMethods, Strings) {
  EXPECT_EQ(render("{{ '  hi  '.strip() }}|{{ '  hi  '.lstrip() }}|{{ '  hi  '.rstrip() }}|"),
            "hi|hi  |  hi|");
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }} {{ ' a  b c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b  "
                   "c'.split(none, 1) }}"),
            "[\"a\", \"b\", \"\", \"c\"] [\"a\", \"b\", \"c\"] [\"a\", \"b c\"] [\"a\", \"b  c\"]");
  EXPECT_EQ(
      render(
          "{{ 'hello'.replace('l', 'L') }} {{ 'hello'.replace('l', 'L', 1) }} {{ 'abc'.replace('', '-') }}"),
      "heLLo heLlo -a-b-c-");
  EXPECT_EQ(render("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'hello'.upper() }} "
                   "{{ 'HeLLo'.lower() }}"),
            "true true HELLO hello");
  EXPECT_EQ(render("{{ 'hello world'.title() }} {{ 'hello'.capitalize() }}"), "Hello World Hello");
}

TEST(JinjaMethods, Dicts) {
  EXPECT_EQ(render("{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }}|{{ {'a': 1}.get('b', 5) }} {{ {'a': 1, "
                   "'b': 2}.keys() }} {{ {'a': 1}.values() }} {{ {'a': 1}.items() }}"),
            "1 |5 [\"a\", \"b\"] [1] [[\"a\", 1]]");
  // An entry shadows the method of the same name, except for the items filter.
  EXPECT_EQ(render("{{ {'items': 5}.items }} {{ {'items': 5}|items }}"), "5 [[\"items\", 5]]");
}

TEST(JinjaGlobals, RangeNamespaceAndFriends) {
  EXPECT_EQ(render("{{ range(3) }} {{ range(1, 4) }} {{ range(5, 0, -2) }} {{ range(0) }} {{ range(3, 0) }}"),
            "[0, 1, 2] [1, 2, 3] [5, 3, 1] [] []");
  EXPECT_EQ(render("{{ True }} {{ False }} {{ None is none }} {{ strftime_now('%%') }}"),
            "true false true %");
  EXPECT_EQ(render("{{ strftime_now('%Y')|length }}"), "4");
}

}  // namespace
}  // namespace cpm::test
