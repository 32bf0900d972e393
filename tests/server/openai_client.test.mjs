// The OpenAI endpoints driven by the official `openai` npm client against a real server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, modelDir } from "./server_harness.mjs";

const require = createRequire(new URL("../node/package.json", import.meta.url));
const { default: OpenAI } = await import(require.resolve("openai"));

let server, client;
before(async () => {
  server = await startServer(["--served-model-name", "tiny"]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
after(async () => { await server.stop(); });

const messages = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Tom has 3 apples and buys 4 more. How many apples?" },
];

test("models lists the served model", async () => {
  const models = await client.models.list();
  assert.equal(models.data[0].id, "tiny");
  const card = await client.models.retrieve("tiny");
  assert.equal(card.id, "tiny");
  assert.equal(card.object, "model");
  await assert.rejects(client.models.retrieve("gpt-4"), (error) => error.status === 404 && /does not exist/.test(error.message));
});

test("chat completion, greedy, with usage", async () => {
  const reply = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 12, temperature: 0 });
  assert.equal(reply.object, "chat.completion");
  assert.equal(reply.choices[0].message.role, "assistant");
  assert.equal(typeof reply.choices[0].message.content, "string");
  assert.ok(["stop", "length"].includes(reply.choices[0].finish_reason));
  assert.ok(reply.usage.prompt_tokens > 10);
  assert.equal(reply.usage.total_tokens, reply.usage.prompt_tokens + reply.usage.completion_tokens);
});

test("streamed chat text joins to the non-streamed text", async () => {
  const request = { model: "tiny", messages, max_tokens: 24, temperature: 0, ignore_eos: true };
  const whole = await client.chat.completions.create(request);
  const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
  let text = "", finish = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.delta?.content ?? "";
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, "length");
  assert.equal(usage.completion_tokens, 24);
});

test("completions, streaming and not, agree", async () => {
  const request = { model: "tiny", prompt: "Question: 2 + 3 = ?\nAnswer:", max_tokens: 16, temperature: 0 };
  const whole = await client.completions.create(request);
  assert.equal(whole.object, "text_completion");
  let text = "";
  for await (const chunk of await client.completions.create({ ...request, stream: true })) text += chunk.choices[0]?.text ?? "";
  assert.equal(text, whole.choices[0].text);
});

test("n choices with a seed are reproducible", async () => {
  const request = { model: "tiny", prompt: "Once", max_tokens: 8, temperature: 1.0, n: 3, seed: 11 };
  const first = await client.completions.create(request);
  const second = await client.completions.create(request);
  assert.equal(first.choices.length, 3);
  assert.deepEqual(first.choices.map((c) => c.text), second.choices.map((c) => c.text));
});

test("logprobs for chat and completions", async () => {
  const chat = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3 });
  const content = chat.choices[0].logprobs.content;
  assert.equal(content.length, chat.usage.completion_tokens);
  assert.equal(content[0].top_logprobs.length, 3);
  assert.ok(content[0].logprob <= 0);
  // Greedy: the chosen token is the most likely one.
  assert.equal(content[0].logprob, content[0].top_logprobs[0].logprob);
  const completion = await client.completions.create({ model: "tiny", prompt: "Hi", max_tokens: 3, temperature: 0, logprobs: 2 });
  assert.equal(completion.choices[0].logprobs.token_logprobs.length, 3);

  // Logprob tokens join into the text: words keep their leading spaces (a regex makes the words).
  const words = await client.completions.create({ model: "tiny", prompt: "Tom has", max_tokens: 40, temperature: 0,
    logprobs: 1, regex: "( [a-z]{2,5}){3}" });
  const tokens = words.choices[0].logprobs.tokens;
  assert.equal(tokens.join(""), words.choices[0].text);
  assert.ok(tokens.some((token) => token.startsWith(" ")), JSON.stringify(tokens));
  const spaced = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 40, temperature: 0,
    logprobs: true, regex: "( [a-z]{2,5}){3}" });
  const pieces = spaced.choices[0].logprobs.content;
  assert.equal(Buffer.from(pieces.flatMap((piece) => piece.bytes)).toString("utf8"), spaced.choices[0].message.content);
});

test("stop strings end the text before them", async () => {
  const base = { model: "tiny", prompt: "The", max_tokens: 20, temperature: 0, ignore_eos: true };
  const free = (await client.completions.create(base)).choices[0].text;
  const stop = free.slice(5, 8);
  const cut = await client.completions.create({ ...base, stop: [stop] });
  assert.equal(cut.choices[0].text, free.slice(0, free.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, "stop");
  assert.equal(cut.choices[0].matched_stop, stop);  // sglang's field: the string (a token id is a number)
});

test("client errors map to OpenAI error classes", async () => {
  await assert.rejects(client.chat.completions.create({ model: "other", messages }), (e) => e.status === 404);
  await assert.rejects(client.chat.completions.create({ model: "tiny", messages, temperature: -1 }), (e) => e.status === 400);
  await assert.rejects(client.chat.completions.create({ model: "tiny", messages: [] }), (e) => e.status === 400);
  // A malformed message is named by its place in the list.
  const user = { role: "user", content: "Hi" };
  for (const [bad, message] of [
    [{ role: "user", content: null }, /messages\[1\] needs 'content'/],
    [{ role: "system" }, /messages\[1\] needs 'content'/],
    [{ content: "x" }, /messages\[1\] needs a string 'role'/],
    [{ role: "user", content: 5 }, /messages\[1\] 'content' must be a string or a list of text parts/],
    [{ role: "user", content: [{ type: "text", text: "a" }, { type: "image_url", image_url: { url: "x" } }] }, /messages\[1\] content\[1\] is of type 'image_url': only text parts/],
    [{ role: "user", content: [{ type: "text", text: 5 }] }, /messages\[1\] content\[0\] needs 'text'/],
    [{ role: "assistant", content: null, tool_calls: 5 }, /messages\[1\] 'tool_calls' must be a list/],
    [{ role: "assistant", tool_calls: [{ type: "function", function: { name: "f", arguments: "{" } }] }, /messages\[1\] tool_calls\[0\] has arguments that are not JSON/],
    [{ role: "assistant", tool_calls: [{ type: "function", function: { arguments: "{}" } }] }, /messages\[1\] tool_calls\[0\] needs a 'function' with a string 'name'/],
  ]) {
    await assert.rejects(client.chat.completions.create({ model: "tiny", messages: [user, bad] }),
      (e) => e.status === 400 && message.test(e.message), JSON.stringify(bad));
  }
  // Text parts are joined.
  const parts = await client.chat.completions.create({ model: "tiny", max_tokens: 1, messages: [{ role: "user", content: [{ type: "text", text: "H" }, { type: "text", text: "i" }] }] });
  const whole = await client.chat.completions.create({ model: "tiny", max_tokens: 1, messages: [user] });
  assert.equal(parts.usage.prompt_tokens, whole.usage.prompt_tokens);
});

test("structured output: response_format json_schema, json_object and logit_bias", async () => {
  const schema = {
    type: "object",
    properties: { unit: { enum: ["apples", "pears"] }, answer: { type: "integer", minimum: 0, maximum: 1000 } },
    required: ["unit", "answer"],
  };
  const reply = await client.chat.completions.create({
    model: "tiny", messages, max_tokens: 200, temperature: 0,
    response_format: { type: "json_schema", json_schema: { name: "fruit", schema, strict: true } },
  });
  assert.equal(reply.choices[0].finish_reason, "stop");
  const value = JSON.parse(reply.choices[0].message.content);
  assert.deepEqual(Object.keys(value), ["unit", "answer"]);  // the schema's order, not sorted
  assert.ok(Number.isInteger(value.answer) && value.answer >= 0 && value.answer <= 1000);
  assert.ok(["apples", "pears"].includes(value.unit));

  const object = await client.chat.completions.create({
    model: "tiny", messages, max_tokens: 300, temperature: 0.8, seed: 5, response_format: { type: "json_object" },
  });
  if (object.choices[0].finish_reason === "stop") {
    assert.equal(typeof JSON.parse(object.choices[0].message.content), "object");
  } else {
    assert.ok(object.choices[0].message.content.startsWith("{"));
  }

  // logit_bias +100 on one token makes every output that token, through both APIs.
  const prompt = "Question: 3 + 4?\nAnswer:";
  const free = await generate({ text: prompt, sampling_params: { max_new_tokens: 4, temperature: 0 } });
  const forced = free.output_ids.at(-1);
  const native = await generate({ text: prompt, sampling_params: { max_new_tokens: 3, temperature: 0, ignore_eos: true, logit_bias: { [forced]: 100 } } });
  assert.deepEqual(native.output_ids, [forced, forced, forced]);
  const openai = await client.completions.create({ model: "tiny", prompt, max_tokens: 3, temperature: 0, ignore_eos: true, logit_bias: { [forced]: 100 } });
  assert.equal(openai.choices[0].text, native.text);

  await assert.rejects(
    client.chat.completions.create({ model: "tiny", messages, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", not: {} } } } }),
    (error) => error.status === 400 && /not/.test(error.message));
  await assert.rejects(
    client.chat.completions.create({ model: "tiny", messages, response_format: { type: "yaml" } }),
    (error) => error.status === 400 && /response_format/.test(error.message));

  // sglang's ebnf extra: a grammar the reply must derive from.
  const ebnf = 'root ::= answer (", " answer){0,2}\nanswer ::= "yes" | "no" | [0-9]{1,2}';
  const grammar = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 40, temperature: 0, ebnf });
  assert.match(grammar.choices[0].message.content, /^(yes|no|[0-9]{1,2})(, (yes|no|[0-9]{1,2})){0,2}$/);
  assert.equal(grammar.choices[0].finish_reason, "stop");
  await assert.rejects(
    client.chat.completions.create({ model: "tiny", messages, ebnf, response_format: { type: "json_object" } }),
    (error) => error.status === 400 && /not both/.test(error.message));
  await assert.rejects(
    client.chat.completions.create({ model: "tiny", messages, ebnf: "root ::= (" }),
    (error) => error.status === 400 && /EBNF line 1/.test(error.message));
});

async function generate(body) {
  const response = await fetch(`${server.url}/generate`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  assert.equal(response.status, 200);
  return response.json();
}

test("echo with logprobs scores the prompt, as harnesses compute log-likelihoods", async () => {
  const prompt = "Tom has 3 apples and buys 4 more.";
  const native = await generate({ text: prompt, return_logprob: true, logprob_start_len: 0, top_logprobs_num: 2,
    sampling_params: { max_new_tokens: 1, temperature: 0 } });
  const scored = native.meta_info.input_token_logprobs;
  assert.equal(scored.length, native.meta_info.prompt_tokens);
  assert.equal(scored[0][0], null);  // nothing predicts the first token
  assert.ok(scored.slice(1).every(([logprob]) => logprob < 0));
  assert.equal(native.meta_info.input_top_logprobs[1].length, 2);
  const tail = await generate({ text: prompt, return_logprob: true, logprob_start_len: 5, sampling_params: { max_new_tokens: 1, temperature: 0 } });
  // Requests share cached prefixes, and without --deterministic-inference their rounding may differ.
  const close = (a, b) => (a === null ? b === null : Math.abs(a - b) < 1e-4);
  const expectClose = (actual, expected) => {
    assert.equal(actual.length, expected.length);
    actual.forEach((value, k) => assert.ok(close(value, expected[k]), `${k}: ${value} vs ${expected[k]}`));
  };
  const tailScored = tail.meta_info.input_token_logprobs;
  assert.deepEqual(tailScored.map(([, id]) => id), scored.slice(5).map(([, id]) => id));
  expectClose(tailScored.map(([logprob]) => logprob), scored.slice(5).map(([logprob]) => logprob));

  for (const stream of [false, true]) {
    const reply = await client.completions.create({ model: "tiny", prompt, max_tokens: 1, temperature: 0, echo: true, logprobs: 1, stream });
    let logprobs;
    if (stream) {
      logprobs = { tokens: [], token_logprobs: [] };
      for await (const chunk of reply) {
        logprobs.tokens.push(...chunk.choices[0].logprobs.tokens);
        logprobs.token_logprobs.push(...chunk.choices[0].logprobs.token_logprobs);
      }
    } else {
      assert.ok(reply.choices[0].text.startsWith(prompt));
      logprobs = reply.choices[0].logprobs;
    }
    assert.equal(logprobs.tokens.length, scored.length + 1);
    expectClose(logprobs.token_logprobs.slice(0, scored.length), scored.map(([logprob]) => logprob));
    assert.ok(close(logprobs.token_logprobs.at(-1), native.meta_info.output_token_logprobs[0][0]));
  }
  // max_tokens 0: only the prompt, scored.
  const only = await client.completions.create({ model: "tiny", prompt, max_tokens: 0, echo: true, logprobs: 1 });
  assert.equal(only.choices[0].text, prompt);
  assert.equal(only.usage.completion_tokens, 0);
  expectClose(only.choices[0].logprobs.token_logprobs, scored.map(([logprob]) => logprob));
});

test("tool calls in MiniCPM3's format come back as tool_calls, whole or streamed", async () => {
  const tools = [{ type: "function", function: { name: "get_weather", description: "Weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] } } }];
  // The demo model never learned the format: a regex makes it write a reply as MiniCPM3 would.
  const regex = "<\\|thought_start\\|>\nI need the weather\\.\n<\\|thought_end\\|>\n<\\|tool_call_start\\|>\n```python\n" +
    "get_weather\\(city=\"Paris\", days=3\\)\n```\n<\\|tool_call_end\\|>\nChecking\\.";
  const request = { model: "tiny", messages, tools, max_tokens: 200, temperature: 0, regex };
  const reply = await client.chat.completions.create(request);
  const choice = reply.choices[0];
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal(choice.message.content, "Checking.");
  assert.equal(choice.message.reasoning_content, "I need the weather.");
  assert.equal(choice.message.tool_calls.length, 1);
  assert.equal(choice.message.tool_calls[0].type, "function");
  assert.equal(choice.message.tool_calls[0].function.name, "get_weather");
  assert.deepEqual(JSON.parse(choice.message.tool_calls[0].function.arguments), { city: "Paris", days: 3 });

  // Streamed, the thought and the text arrive as they are written, each call whole once its block ends.
  const stream = await client.chat.completions.create({ ...request, stream: true });
  let content = "", reasoning = "", finish = null, reasoningChunks = 0, contentChunks = 0;
  const calls = [];
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta ?? {};
    assert.ok(!/<\|/.test((delta.content ?? "") + (delta.reasoning_content ?? "")), JSON.stringify(delta));
    content += delta.content ?? "";
    reasoning += delta.reasoning_content ?? "";
    if (delta.reasoning_content) ++reasoningChunks;
    if (delta.content) ++contentChunks;
    if (delta.tool_calls) assert.equal(content, "");  // the calls come before the text after them
    for (const call of delta.tool_calls ?? []) calls[call.index] = call;
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, "tool_calls");
  assert.equal(reasoning, "I need the weather.");
  assert.ok(reasoningChunks >= 2, `the thought came in ${reasoningChunks} piece(s)`);
  assert.equal(content, "Checking.");
  assert.ok(contentChunks >= 2, `the text came in ${contentChunks} piece(s)`);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].function.name, "get_weather");
  assert.equal(calls[0].function.arguments, choice.message.tool_calls[0].function.arguments);

  // parallel_tool_calls: false in tool_choice "auto" keeps the first of the reply's calls.
  const twoCalls = "<\\|tool_call_start\\|>\n```python\nget_weather\\(city=\"Paris\"\\)\nget_weather\\(city=\"Rome\"\\)\n```\n<\\|tool_call_end\\|>";
  const both = await client.chat.completions.create({ ...request, regex: twoCalls });
  assert.deepEqual(both.choices[0].message.tool_calls.map((call) => call.function.arguments), ['{"city":"Paris"}', '{"city":"Rome"}']);
  const first = await client.chat.completions.create({ ...request, regex: twoCalls, parallel_tool_calls: false });
  assert.equal(first.choices[0].finish_reason, "tool_calls");
  assert.deepEqual(first.choices[0].message.tool_calls.map((call) => call.function.arguments), ['{"city":"Paris"}']);
  const firstStreamed = [];
  for await (const chunk of await client.chat.completions.create({ ...request, regex: twoCalls, parallel_tool_calls: false, stream: true }))
    firstStreamed.push(...(chunk.choices[0]?.delta?.tool_calls ?? []));
  assert.deepEqual(firstStreamed.map((call) => [call.index, call.function.arguments]), [[0, '{"city":"Paris"}']]);

  const none = await client.chat.completions.create({ ...request, tool_choice: "none" });
  assert.equal(none.choices[0].finish_reason, "stop");
  assert.ok(none.choices[0].message.content.includes("<|tool_call_start|>"));
  // A forced call cannot also follow the request's own regex.
  await assert.rejects(client.chat.completions.create({ ...request, tool_choice: "required" }),
    (error) => error.status === 400 && /cannot be combined/.test(error.message));
});

test("tool_choice required or by name constrains the reply to a call of the offered functions", async () => {
  const tools = [
    { type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object",
      properties: { city: { type: "string", maxLength: 12 }, days: { type: "integer", minimum: 1, maximum: 7 } },
      required: ["city"] } } },
    { type: "function", function: { name: "now", parameters: { type: "object", properties: {} } } }];
  // The random model would ramble inside the thought: the tokens that are just '<' (a piece or the
  // byte fallback) are favoured so that it closes it; strings are bounded by the schema. Every choice
  // of function and argument stays the model's own.
  const vocabulary = JSON.parse(readFileSync(join(modelDir, "tokenizer.json"), "utf8")).model.vocab;
  const logit_bias = { [vocabulary["<"]]: 10, [vocabulary["<0x3C>"]]: 10 };
  const request = { model: "tiny", messages, tools, max_tokens: 1500, logit_bias };
  for (const [tool_choice, temperature] of [["required", 0], ["required", 1], ["required", 1],
    [{ type: "function", function: { name: "get_weather" } }, 0.8]]) {
    const reply = await client.chat.completions.create({ ...request, tool_choice, temperature, seed: 5 });
    const choice = reply.choices[0];
    assert.equal(choice.finish_reason, "tool_calls", JSON.stringify(choice));
    assert.ok(choice.message.tool_calls.length >= 1);
    for (const call of choice.message.tool_calls) {
      const args = JSON.parse(call.function.arguments);
      if (tool_choice !== "required") assert.equal(call.function.name, "get_weather");
      if (call.function.name === "now") {
        assert.deepEqual(args, {});
      } else {
        assert.equal(call.function.name, "get_weather");
        assert.ok(typeof args.city === "string" && [...args.city].length <= 12);
        assert.ok(args.days === undefined || (Number.isInteger(args.days) && args.days >= 1 && args.days <= 7));
        assert.deepEqual(Object.keys(args).filter((key) => key !== "city" && key !== "days"), []);
      }
    }
  }
  for (let seed = 0; seed < 3; ++seed) {  // parallel_tool_calls: false allows exactly one call
    const one = await client.chat.completions.create({ ...request, tool_choice: "required", temperature: 1, seed, parallel_tool_calls: false });
    assert.equal(one.choices[0].finish_reason, "tool_calls");
    assert.equal(one.choices[0].message.tool_calls.length, 1);
  }
  const streamed = await client.chat.completions.create({ ...request, tool_choice: "required", temperature: 0, stream: true });
  const calls = [];
  let finish = null;
  for await (const chunk of streamed) {
    for (const call of chunk.choices[0]?.delta?.tool_calls ?? []) calls[call.index] = call;
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, "tool_calls");
  assert.ok(calls.length >= 1 && ["get_weather", "now"].includes(calls[0].function.name));

  for (const [tool_choice, message] of [[{ type: "function", function: { name: "missing" } }, /'missing', which is not in 'tools'/],
    ["sometimes", /must be "auto", "none", "required"/]]) {
    await assert.rejects(client.chat.completions.create({ ...request, tool_choice }),
      (error) => error.status === 400 && message.test(error.message));
  }
  const badTool = [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { "a-b": { type: "string" } } } } }];
  await assert.rejects(client.chat.completions.create({ ...request, tools: badTool, tool_choice: "required" }),
    (error) => error.status === 400 && /not a Python identifier/.test(error.message));
  await assert.rejects(client.chat.completions.create({ ...request, tool_choice: "required", response_format: { type: "json_object" } }),
    (error) => error.status === 400 && /cannot be combined/.test(error.message));
});
