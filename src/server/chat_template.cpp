#include "server/chat_template.h"

#include "core/error.h"
#include "server/jinja_ast.h"
#include "server/jinja_interpreter.h"
#include "server/jinja_parser.h"

namespace cpm {

ChatTemplate::ChatTemplate(const std::string& source)
    : program_(std::make_shared<const jinja::Program>(jinja::parse_template(source))) {}

std::string ChatTemplate::render(const nlohmann::ordered_json& context) const {
  if (!context.is_object()) fail("the chat template context must be a JSON object");
  jinja::Interpreter interpreter;
  jinja::Scope globals;
  interpreter.define_globals(globals);
  for (const auto& [name, value] : context.items()) globals.set(name, jinja::from_json(value));
  if (!globals.has_own("add_generation_prompt"))
    globals.set("add_generation_prompt", jinja::Value::boolean(false));
  if (!globals.has_own("tools")) globals.set("tools", jinja::Value::none());
  if (!globals.has_own("documents")) globals.set("documents", jinja::Value::none());
  return interpreter.render(*program_, globals);
}

const std::string& default_chatml_template() {
  static const std::string kChatML =
      "{% for message in messages %}"
      "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
      "{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  return kChatML;
}

}  // namespace cpm
