// Parses a chat template into a syntax tree with @huggingface/jinja's grammar and operator precedence
// (lowest first): `x if c else y`, or, and, not, comparisons and `in`, + - ~, * / // %, **, `is`
// tests, | filters, unary signs, calls / attributes / subscripts.
#pragma once

#include <string_view>

#include "server/jinja_ast.h"

namespace cpm::jinja {

// Throws cpm::Error naming the line on a syntax error.
Program parse_template(std::string_view source);

}  // namespace cpm::jinja
