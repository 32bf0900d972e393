// Chat templates in the styles of common model families, and conversations to render them with,
// for the comparison with @huggingface/jinja (chat_template_reference_test.cpp).
#pragma once

#include <nlohmann/json.hpp>

namespace cpm::test {

inline nlohmann::ordered_json multi_turn_messages() {
  return nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "  You are MiniCPM, a helpful assistant.  "},
    {"role": "user", "content": "Bonjour! Quelle heure est-il à Paris? \"Quote\" \\ back\\slash\n"},
    {"role": "assistant", "content": "Il est midi. ✓ 😀"},
    {"role": "user", "content": "Merci\n\n"}])");
}

inline nlohmann::ordered_json single_user_message() {
  return nlohmann::ordered_json::parse(R"([{"role": "user", "content": "What is 2+2?"}])");
}

// Function definitions with enum, default, pattern/title, nested object and array-of-object parameters.
inline nlohmann::ordered_json weather_and_search_tools() {
  return nlohmann::ordered_json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather.",
      "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "City and state, e.g. \"San Francisco, CA\""},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "default": 1},
        "detail": {"type": "object", "description": "What to include",
          "properties": {"hourly": {"type": "boolean", "description": "hourly data"},
                         "fields": {"type": "array", "items": {"type": "string"}}},
          "required": ["hourly"]},
        "stops": {"type": "array", "items": {"type": "object",
          "properties": {"name": {"type": "string"}, "minutes": {"type": "number", "default": 5.5}},
          "required": ["name"]}},
        "note": {"type": "string", "default": "none given", "pattern": "^[a-z]+$", "title": "Note"},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}}},
      "required": ["location"]}}},
    {"type": "function", "function": {"name": "search", "description": "Search the web 🌐.",
      "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}])");
}

// An assistant turn with a thought and a tool call, the tool's answer, and the final answer.
inline nlohmann::ordered_json tool_call_messages() {
  return nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Use tools when needed."},
    {"role": "user", "content": "Weather in Paris, in °C?"},
    {"role": "assistant", "content": "", "thought": "I should call get_weather.",
     "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather",
       "arguments": {"location": "Paris", "unit": "celsius", "detail": {"hourly": true, "fields": ["temp", "wind"]}}}},
       {"id": "call_2", "type": "function", "function": {"name": "search", "arguments": {"query": "Paris \"news\""}}}]},
    {"role": "tool", "content": "{\"temp\": 21}"},
    {"role": "assistant", "thought": "It is warm.", "content": "It is 21 °C in Paris."}])");
}

inline nlohmann::ordered_json qwen_tool_messages() {
  return nlohmann::ordered_json::parse(R"([
    {"role": "user", "content": "Weather in Tokyo?"},
    {"role": "assistant", "content": "Let me check.", "tool_calls": [{"type": "function",
      "function": {"name": "get_weather", "arguments": {"location": "Tokyo", "days": 2}}}]},
    {"role": "tool", "content": "sunny"},
    {"role": "tool", "content": "22C"},
    {"role": "assistant", "content": "Sunny and 22C."}])");
}

inline nlohmann::ordered_json llama_tool_messages() {
  return nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "You can call tools."},
    {"role": "user", "content": "  Weather in Tokyo?  "},
    {"role": "assistant", "tool_calls": [{"type": "function",
      "function": {"name": "get_weather", "arguments": {"location": "Tokyo", "stops": [{"name": "a"}]}}}]},
    {"role": "tool", "content": {"temperature": 22, "sky": "clear"}},
    {"role": "ipython", "content": "plain text"}])");
}

inline constexpr const char* kChatMLWithDefaultSystem = R"JINJA({% for message in messages %}
{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}
{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}
{% endfor %}
{% if add_generation_prompt %}
{{ '<|im_start|>assistant\n' }}
{% endif %}
)JINJA";

inline constexpr const char* kLlama3Template =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 "
    "== 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt "
    "%}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

inline constexpr const char* kLlama31ToolTemplate = R"JINJA({{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)JINJA";

inline constexpr const char* kQwenStyleTemplate = R"JINJA({%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object within <tool_call></tool_call> XML tags.<|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)JINJA";

inline constexpr const char* kAlternatingRolesTemplate =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) "
    "%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

// Exercises much of the language at once: macros with call blocks, namespaces, filters, tests,
// slicing, loop variables, whitespace control and tojson options.
inline constexpr const char* kFeatureTourTemplate = R"JINJA({#- a tour of the language -#}
{%- macro describe(value, depth=0) -%}
  {%- if value is mapping -%}
    {{ '{' }}{% for k, v in value|items %}{{ k }}={{ describe(v, depth + 1) }}{{ ', ' if not loop.last }}{% endfor %}{{ '}' }}
  {%- elif value is string -%}
    '{{ value }}'
  {%- elif value is iterable -%}
    [{{ value|length }} items]
  {%- else -%}
    {{ value }}
  {%- endif -%}
{%- endmacro -%}
{%- macro box(title) -%}
== {{ title|upper }} ==
{{ caller()|trim }}
{%- endmacro -%}
{{ bos_token }}
{%- set ns = namespace(users=0, chars=0, roles=[]) %}
{%- for m in messages if m.role != 'system' %}
  {%- set ns.users = ns.users + (1 if m.role == 'user' else 0) %}
  {%- set ns.chars = ns.chars + m.content|length %}
  {%- set ns.roles = ns.roles + [m.role] %}
{%- endfor %}
users={{ ns.users }} chars={{ ns.chars }} roles={{ ns.roles|unique|join(',') }} last={{ (messages|last).role }}
{% call box('system') %}
  {{ messages[0].content|trim|title }} / {{ messages[0].content.strip().split()|length }} words
{% endcall %}
{% for tool in tools %}
{{ loop.index }}/{{ loop.length }} {{ tool.function.name }}: {{ describe(tool.function.parameters.properties.detail) }}
{{ tool.function.parameters|tojson(indent=2) if loop.first else tool|tojson(sort_keys=true) }}
{%- endfor %}
{{ messages[1:3]|map(attribute='role')|join('+') }} {{ messages[::-1][0].content|replace('\n', '\\n') }}
{{ 'x' ~ 3 ~ 2.5 ~ [1, 'y'] }} {{ 7 // 2 }} {{ 2 ** 8 }} {{ -7 % 3 }} {{ 10 / 4 }} {{ range(3)|sort(reverse=true) }}
{%- if add_generation_prompt %}
<assistant>
{% endif -%}
)JINJA";

}  // namespace cpm::test
