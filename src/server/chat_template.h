// Renders a model's chat template (the Jinja2 `chat_template` of tokenizer_config.json) into the
// prompt text, byte for byte as transformers.js does with @huggingface/jinja: trim_blocks and
// lstrip_blocks on, one trailing newline of the template dropped, booleans printed as true/false,
// none printed as nothing, lists and dicts printed as JSON, tojson spaced like Python's json.dumps.
//
// Where @huggingface/jinja fails but Python's Jinja2 renders, we render as Python does: lookups with
// a non-string key give undefined, `x|default`, `x|length()`, `none|string`, `undefined|items`,
// `'ab'|list` and `list|map('filter')` work, strings compare with < > and repeat with *, loops run
// over a string's characters, `(a,)` is a tuple, unknown string escapes stay as written, and slices
// accept none. Where both render but differently, we follow @huggingface/jinja, except that
// str.strip/lstrip/rstrip honour their characters argument (which it ignores), and division or
// modulo by zero is an error (where it prints Infinity or NaN).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace cpm {

namespace jinja {
struct Program;
}

class ChatTemplate {
 public:
  // Parses `source`; throws cpm::Error naming the line on a syntax error.
  explicit ChatTemplate(const std::string& source);

  // Renders with the variables of `context` (a JSON object), typically {"messages": [...],
  // "add_generation_prompt": bool, "tools": [...], "bos_token": ..., "eos_token": ...}. Missing
  // `tools` and `documents` are none and a missing `add_generation_prompt` is false, as
  // apply_chat_template passes them; key order is kept (tojson prints it). Throws cpm::Error, naming
  // the template line, when the template fails or calls raise_exception, and when it would recurse,
  // run, allocate or grow a string beyond fixed limits (no string over 16 MiB, about half a second
  // of work). Safe to call from several threads at once.
  std::string render(const nlohmann::ordered_json& context) const;

 private:
  std::shared_ptr<const jinja::Program> program_;
};

// The ChatML template used when a model folder has none.
const std::string& default_chatml_template();

}  // namespace cpm
