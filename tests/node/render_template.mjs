// Renders a chat template the way transformers.js's apply_chat_template does, with @huggingface/jinja:
// the reference the C++ renderer (src/server/chat_template.cpp) is compared against byte for byte.
//
//   node render_template.mjs --context CONTEXT.json (--template TEMPLATE.jinja | --tokenizer-config FILE.json)
//
// CONTEXT.json is the object the server renders with: {"messages": [...], "add_generation_prompt": ...,
// "tools": [...], "bos_token": ..., any extra variables}. With --tokenizer-config the template and the
// special tokens come from a tokenizer_config.json, as transformers.js reads them; the context's own
// values win. The rendering goes to stdout unchanged; an error goes to stderr with exit status 1.
import { readFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

// The special tokens transformers.js passes to every chat template (SPECIAL_TOKEN_ATTRIBUTES).
const SPECIAL_TOKEN_ATTRIBUTES = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

function parseArguments(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`missing value after ${flag}`);
    if (flag === "--context") options.context = value;
    else if (flag === "--template") options.template = value;
    else if (flag === "--tokenizer-config") options.tokenizerConfig = value;
    else throw new Error(`unknown option ${flag}`);
  }
  if (!options.context || (!options.template === !options.tokenizerConfig)) {
    throw new Error("usage: render_template.mjs --context FILE (--template FILE | --tokenizer-config FILE)");
  }
  return options;
}

// A token in tokenizer_config.json is a string or an AddedToken object {"content": ...}.
function tokenContent(value) {
  return value !== null && typeof value === "object" ? value.content : value;
}

// transformers.js's get_chat_template: a list of named templates picks "tool_use" when tools are given.
function chooseTemplate(chatTemplate, tools) {
  if (typeof chatTemplate === "string") return chatTemplate;
  const named = Object.fromEntries(chatTemplate.map(({ name, template }) => [name, template]));
  if (tools !== null && named.tool_use !== undefined) return named.tool_use;
  if (named.default === undefined) throw new Error("the tokenizer config has no default chat template");
  return named.default;
}

function render({ context, template, tokenizerConfig }) {
  const { messages, add_generation_prompt = false, tools = null, documents = null, ...kwargs } = context;
  const specialTokens = {};
  let source = template;
  if (tokenizerConfig) {
    source = chooseTemplate(tokenizerConfig.chat_template, tools);
    for (const key of SPECIAL_TOKEN_ATTRIBUTES) {
      const value = tokenContent(tokenizerConfig[key]);
      if (value) specialTokens[key] = value;
    }
  }
  // The same object transformers.js builds in apply_chat_template.
  return new Template(source).render({ messages, add_generation_prompt, tools, documents, ...specialTokens, ...kwargs });
}

try {
  const options = parseArguments(process.argv.slice(2));
  const rendered = render({
    context: JSON.parse(readFileSync(options.context, "utf8")),
    template: options.template && readFileSync(options.template, "utf8"),
    tokenizerConfig: options.tokenizerConfig && JSON.parse(readFileSync(options.tokenizerConfig, "utf8")),
  });
  process.stdout.write(rendered);
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
}
