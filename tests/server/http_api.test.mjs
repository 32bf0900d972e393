// Raw HTTP tests: the sglang-style /generate, operational endpoints, metrics, error statuses,
// client disconnects and shutdown.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binary, startServer, postJson, sseData, demoModelDir } from "./server_harness.mjs";

let server;
before(async () => { server = await startServer(["--disable-radix-cache"]); });
after(async () => { await server.stop(); });

const serverInfo = async (s) => (await fetch(`${s.url}/get_server_info`)).json();

async function waitUntil(predicate, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("generate: text, token ids, batches and meta_info", async () => {
  const single = await postJson(`${server.url}/generate`, { text: "Hello", sampling_params: { max_new_tokens: 5, temperature: 0, ignore_eos: true } });
  assert.equal(single.status, 200);
  assert.equal(single.json.output_ids.length, 5);
  assert.equal(single.json.meta_info.completion_tokens, 5);
  assert.deepEqual(single.json.meta_info.finish_reason, { type: "length", length: 5 });
  assert.ok(single.json.meta_info.prompt_tokens >= 2);

  const batch = await postJson(`${server.url}/generate`, { input_ids: [[1, 10, 20], [1, 30]], sampling_params: { max_new_tokens: 3, temperature: 0 }, return_logprob: true });
  assert.equal(batch.status, 200);
  assert.equal(batch.json.length, 2);
  assert.equal(batch.json[1].meta_info.prompt_tokens, 2);
  assert.equal(batch.json[0].meta_info.output_token_logprobs.length, batch.json[0].output_ids.length);
});

test("a stop token id is reported as a number (openai_client tests stop strings)", async () => {
  const params = { max_new_tokens: 8, temperature: 0, ignore_eos: true };
  const free = await postJson(`${server.url}/generate`, { input_ids: [1, 10, 20], sampling_params: params });
  const stopId = free.json.output_ids[3];
  const byId = await postJson(`${server.url}/generate`, { input_ids: [1, 10, 20], sampling_params: { ...params, stop_token_ids: [stopId] } });
  assert.deepEqual(byId.json.meta_info.finish_reason, { type: "stop", matched: stopId });
  const model = (await (await fetch(`${server.url}/v1/models`)).json()).data[0].id;
  const openai = await postJson(`${server.url}/v1/completions`, { model, prompt: [1, 10, 20], max_tokens: 8, temperature: 0, ignore_eos: true, stop_token_ids: [stopId] });
  assert.equal(openai.status, 200);
  assert.equal(openai.json.choices[0].finish_reason, "stop");
  assert.equal(openai.json.choices[0].matched_stop, stopId);
});

test("generate streaming sends cumulative text ending with [DONE]", async () => {
  const body = { text: "Hello", sampling_params: { max_new_tokens: 6, temperature: 0, ignore_eos: true } };
  const whole = await postJson(`${server.url}/generate`, body);
  const streamed = await postJson(`${server.url}/generate`, { ...body, stream: true });
  const events = sseData(streamed.text);
  assert.equal(events.at(-1), "[DONE]");
  const last = JSON.parse(events.at(-2));
  assert.equal(last.text, whole.json.text);
  assert.deepEqual(last.output_ids, whole.json.output_ids);
});

test("operational endpoints", async () => {
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
  assert.equal((await fetch(`${server.url}/health_generate`)).status, 200);
  const info = await (await fetch(`${server.url}/get_model_info`)).json();
  assert.equal(info.is_generation, true);
  assert.equal(info.vocab_size, 512);
  assert.equal((await fetch(`${server.url}/flush_cache`, { method: "POST" })).status, 200);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  for (const name of ["cpmserve_requests_total{status=\"length\"}", "cpmserve_prompt_tokens_total", "cpmserve_generation_tokens_total",
                      "cpmserve_cached_tokens_total", "cpmserve_time_to_first_token_seconds_bucket", "cpmserve_inter_token_latency_seconds_count",
                      "cpmserve_num_running_requests", "cpmserve_num_queued_requests", "cpmserve_kv_cache_usage_ratio"]) {
    assert.ok(metrics.includes(name), `metrics lack ${name}`);
  }
  const generated = Number(/cpmserve_generation_tokens_total (\d+)/.exec(metrics)[1]);
  assert.ok(generated >= 11);
});

test("speculative decoding (ngram) through the server: same tokens, drafts counted", async () => {
  const spec = await startServer(["--speculative-algorithm", "ngram", "--speculative-num-draft-tokens", "3"]);
  try {
    // logit_bias makes the output one token over and over: every draft after the first is right.
    const body = { input_ids: [1, 10, 20, 30], sampling_params: { max_new_tokens: 24, temperature: 0, ignore_eos: true, logit_bias: { "77": 100 } } };
    const reply = await postJson(`${spec.url}/generate`, body);
    const plain = await postJson(`${server.url}/generate`, body);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json.output_ids, plain.json.output_ids);
    assert.deepEqual(reply.json.output_ids, Array(24).fill(77));
    const metrics = await (await fetch(`${spec.url}/metrics`)).text();
    const drafted = Number(/cpmserve_spec_draft_tokens_total (\d+)/.exec(metrics)[1]);
    const accepted = Number(/cpmserve_spec_accepted_tokens_total (\d+)/.exec(metrics)[1]);
    assert.ok(accepted >= 15 && accepted <= drafted, `${accepted} of ${drafted} drafts accepted`);
    const info = await (await fetch(`${spec.url}/get_server_info`)).json();
    assert.equal(info.speculative_algorithm, "ngram");
    assert.equal(info.spec_accept_rate, accepted / drafted);
    assert.equal((await (await fetch(`${server.url}/get_server_info`)).json()).speculative_algorithm, "none");
  } finally {
    await spec.stop();
  }
});

test("tokenize and detokenize count tokens as the generation endpoints do", async () => {
  const prompt = "Tom has 3 apples.";
  const counted = await postJson(`${server.url}/tokenize`, { prompt, return_token_strs: true });
  assert.equal(counted.status, 200);
  assert.equal(counted.json.count, counted.json.tokens.length);
  assert.equal(counted.json.max_model_len, 2048);
  assert.equal(counted.json.token_strs.length, counted.json.count);
  const completion = await postJson(`${server.url}/v1/completions`, { prompt, max_tokens: 1 });
  assert.equal(completion.json.usage.prompt_tokens, counted.json.count);
  const plain = await postJson(`${server.url}/tokenize`, { content: prompt, add_special_tokens: false });
  assert.deepEqual(plain.json.tokens, counted.json.tokens.slice(1));  // without the tiny tokenizer's BOS
  const back = await postJson(`${server.url}/detokenize`, { tokens: plain.json.tokens });
  assert.equal(back.json.prompt, prompt);

  // A chat request's messages through the chat template: as many tokens as the chat prompt has.
  const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: prompt }];
  const chat = await postJson(`${server.url}/tokenize`, { messages });
  const reply = await postJson(`${server.url}/v1/chat/completions`, { messages, max_tokens: 1 });
  assert.equal(chat.json.count, reply.json.usage.prompt_tokens);

  for (const [path, body, pattern] of [
    ["/tokenize", {}, /needs 'prompt'/],
    ["/tokenize", { prompt: 5 }, /'prompt' must be a string/],
    ["/tokenize", { prompt: "a", messages }, /either 'prompt' or 'messages'/],
    ["/tokenize", { messages: [] }, /non-empty list/],
    ["/detokenize", { tokens: [1, 100000] }, /token id 100000 is outside the vocabulary \[0, 512\)/],
    ["/detokenize", { tokens: "1 2" }, /'tokens' must be a list/],
  ]) {
    const bad = await postJson(`${server.url}${path}`, body);
    assert.equal(bad.status, 400, JSON.stringify(body));
    assert.match(bad.json.error.message, pattern);
  }
});

test("error statuses use the OpenAI error JSON", async () => {
  const bad = await postJson(`${server.url}/v1/completions`, "{not json");
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 400);
  assert.ok(bad.json.error.message.length > 0);
  assert.equal((await postJson(`${server.url}/v1/completions`, { prompt: 5 })).status, 400);
  assert.equal((await postJson(`${server.url}/v1/completions`, { prompt: "x", max_tokens: "ten" })).status, 400);
  assert.equal((await postJson(`${server.url}/v1/completions`, { prompt: "x", model: "gpt-4" })).status, 404);
  assert.equal((await postJson(`${server.url}/generate`, { text: "x", sampling_params: { top_p: 5 } })).status, 400);
  // A prompt longer than the context (2048 tokens) names both numbers.
  const long = await postJson(`${server.url}/v1/completions`, { prompt: Array(3000).fill(7), max_tokens: 1 });
  assert.equal(long.status, 400);
  assert.match(long.json.error.message, /3000 tokens.*2048/);
  assert.equal((await fetch(`${server.url}/no/such/endpoint`)).status, 404);
});

test("a client that disconnects mid-stream frees its KV pages", async () => {
  // The demo preset is slow enough that 2000 tokens outlast the disconnect.
  const slow = await startServer(["--disable-radix-cache"], demoModelDir());
  try {
    await disconnectMidStream(slow);
  } finally {
    await slow.stop();
  }
});

async function disconnectMidStream(server) {
  const controller = new AbortController();
  const response = await fetch(`${server.url}/v1/completions`, {
    method: "POST", headers: { "Content-Type": "application/json" }, signal: controller.signal,
    body: JSON.stringify({ prompt: "Hello", max_tokens: 2000, temperature: 0, ignore_eos: true, stream: true }),
  });
  const reader = response.body.getReader();
  await reader.read();
  await reader.read();
  assert.ok((await serverInfo(server)).kv_cache_used_tokens > 0);
  controller.abort();
  await waitUntil(async () => {
    const info = await serverInfo(server);
    return info.kv_cache_used_tokens === 0 && info.num_running_requests === 0;
  }, "the aborted request's pages to return");
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /cpmserve_requests_total\{status="abort"\} 1/);
  assert.ok(Number(/cpmserve_generation_tokens_total (\d+)/.exec(metrics)[1]) < 2000);
}

test("abort_request stops a request by its rid, or all of them; a rid names one request at a time", async () => {
  const slow = await startServer(["--disable-radix-cache"], demoModelDir());  // 2000 tokens outlast the calls
  try {
    const long = { text: "Hello", rid: "long-1", stream: true, sampling_params: { max_new_tokens: 2000, temperature: 0, ignore_eos: true } };
    const response = await fetch(`${slow.url}/generate`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(long) });
    const reader = response.body.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    const taken = await postJson(`${slow.url}/generate`, { ...long, stream: false });
    assert.equal(taken.status, 400);
    assert.match(taken.json.error.message, /request id 'long-1' is already in flight/);

    const aborted = await postJson(`${slow.url}/abort_request`, { rid: "long-1" });
    assert.equal(aborted.status, 200);
    assert.deepEqual(aborted.json, { aborted: 1 });
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
    const events = sseData(text);
    assert.equal(events.at(-1), "[DONE]");
    const last = JSON.parse(events.at(-2));
    assert.equal(last.meta_info.finish_reason.type, "abort");
    assert.ok(last.meta_info.completion_tokens < 2000, `${last.meta_info.completion_tokens} tokens`);

    // The rid is free again once its request is over; abort_all reaches the OpenAI endpoints too.
    const again = postJson(`${slow.url}/generate`, { ...long, stream: false });
    const completion = postJson(`${slow.url}/v1/completions`, { prompt: "Hi", max_tokens: 2000, temperature: 0, ignore_eos: true });
    await waitUntil(async () => (await serverInfo(slow)).num_running_requests === 2, "both requests to run");
    assert.deepEqual((await postJson(`${slow.url}/abort_request`, { abort_all: true })).json, { aborted: 2 });
    assert.equal((await again).json.meta_info.finish_reason.type, "abort");
    assert.equal((await completion).json.choices[0].finish_reason, "abort");

    assert.deepEqual((await postJson(`${slow.url}/abort_request`, { rid: "long-1" })).json, { aborted: 0 });
    for (const body of [{}, { rid: 7 }, { abort_all: "yes" }]) {
      const bad = await postJson(`${slow.url}/abort_request`, body);
      assert.equal(bad.status, 400, JSON.stringify(body));
    }
    const metrics = await (await fetch(`${slow.url}/metrics`)).text();
    assert.match(metrics, /cpmserve_requests_total\{status="abort"\} 3/);
  } finally {
    await slow.stop();
  }
});

test("API key, body size and queue limits", async () => {
  const guarded = await startServer(["--api-key", "sekret", "--max-body-bytes", "2000", "--max-running-requests", "1",
                                     "--max-queued-requests", "1"]);
  try {
    assert.equal((await postJson(`${guarded.url}/v1/completions`, { prompt: "x" })).status, 401);
    assert.equal((await postJson(`${guarded.url}/v1/completions`, { prompt: "x" }, { Authorization: "Bearer wrong" })).status, 401);
    const auth = { Authorization: "Bearer sekret" };
    assert.equal((await postJson(`${guarded.url}/v1/completions`, { prompt: "x", max_tokens: 1 }, auth)).status, 200);
    assert.equal((await fetch(`${guarded.url}/health`)).status, 200);
    const big = await postJson(`${guarded.url}/v1/completions`, { prompt: "x".repeat(5000) }, auth);
    assert.equal(big.status, 413);
    // One running, one queued: further requests are refused with 503 while those two are busy.
    const slow = { prompt: "Hello", max_tokens: 1500, temperature: 0, ignore_eos: true };
    const results = await Promise.all(Array.from({ length: 5 }, () => postJson(`${guarded.url}/v1/completions`, slow, auth)));
    const statuses = results.map((r) => r.status);
    assert.ok(statuses.includes(503), `statuses ${statuses}`);
    assert.ok(statuses.includes(200), `statuses ${statuses}`);
    assert.equal(results.find((r) => r.status === 503).json.error.code, 503);
  } finally {
    await guarded.stop();
  }
});

test("CORS: preflights answered without the API key, allowed pages named on every answer", async () => {
  const origin = "http://ui.example";
  const cors = await startServer(["--api-key", "sekret", "--allowed-origins", origin]);
  try {
    const preflight = await fetch(`${cors.url}/v1/chat/completions`, { method: "OPTIONS", headers: {
      Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type" } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), origin);
    assert.equal(preflight.headers.get("access-control-allow-headers"), "authorization,content-type");
    assert.match(preflight.headers.get("access-control-allow-methods"), /POST/);
    const refused = await fetch(`${cors.url}/v1/models`, { method: "OPTIONS", headers: { Origin: "http://other.example" } });
    assert.equal(refused.status, 403);
    assert.match((await refused.json()).error.message, /origin 'http:\/\/other.example' is not allowed/);

    const models = await fetch(`${cors.url}/v1/models`, { headers: { Origin: origin, Authorization: "Bearer sekret" } });
    assert.equal(models.status, 200);
    assert.equal(models.headers.get("access-control-allow-origin"), origin);
    const keyless = await fetch(`${cors.url}/v1/models`, { headers: { Origin: origin } });
    assert.equal(keyless.status, 401);  // and the page may read why
    assert.equal(keyless.headers.get("access-control-allow-origin"), origin);
    const stream = await postJson(`${cors.url}/generate`, { text: "Hi", stream: true, sampling_params: { max_new_tokens: 2 } },
                                  { Origin: origin, Authorization: "Bearer sekret" });
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get("access-control-allow-origin"), origin);
    const other = await fetch(`${cors.url}/v1/models`, { headers: { Origin: "http://other.example", Authorization: "Bearer sekret" } });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  } finally {
    await cors.stop();
  }
  // By default any page may (as in sglang and vLLM).
  const health = await fetch(`${server.url}/health`, { headers: { Origin: "http://any.example" } });
  assert.equal(health.headers.get("access-control-allow-origin"), "http://any.example");
  assert.equal((await fetch(`${server.url}/health`)).headers.get("access-control-allow-origin"), null);
});

test("SIGTERM stops a busy server promptly with exit code 0", async () => {
  const busy = await startServer();
  const pending = postJson(`${busy.url}/v1/completions`, { prompt: "Hello", max_tokens: 2000, ignore_eos: true }).catch(() => null);
  await waitUntil(async () => (await serverInfo(busy)).num_running_requests > 0, "the request to start");
  const started = Date.now();
  busy.child.kill("SIGTERM");
  const { code } = await busy.exited;
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 5000);
  const result = await pending;
  if (result) assert.ok([200, 503].includes(result.status));
});

// A load that never finishes: config.json is a FIFO no one writes, so reading it blocks. The signal
// must not wait for the load (a real one places GBs of weights).
test("SIGTERM during the model load ends the server at once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cpmserve-fifo-"));
  execFileSync("mkfifo", [join(dir, "config.json")]);
  const child = spawn(binary, ["serve", "--model-path", dir, "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (chunk) => { log += chunk; });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  try {
    // The line that says signals are handled (a sanitizer build may take a while to get there).
    const deadline = Date.now() + 30_000;
    while (!/INFO loading /.test(log) && child.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.match(log, /INFO loading /, "the server never started loading");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(child.exitCode, null, `the server should still be loading:\n${log}`);
    const started = Date.now();
    child.kill("SIGTERM");
    const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), 5000));
    const result = await Promise.race([exited, timeout]);
    assert.notEqual(result, "timeout", "the server kept loading after SIGTERM");
    assert.deepEqual(result, { code: 128 + 15, signal: null });
    assert.ok(Date.now() - started < 5000);
    assert.match(log, /received SIGTERM while loading: exiting/);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a POST without Content-Length gets a 400 that says what is missing, after --timeout", async () => {
  // cpp-httplib reads such a body until the socket times out; a short --timeout keeps the test quick.
  const quick = await startServer(["--timeout", "2"]);
  const { port } = new URL(quick.url);
  const started = Date.now();
  const reply = await new Promise((resolve, reject) => {
    let data = "";
    const socket = net.connect(Number(port), "127.0.0.1", () =>
      socket.write("POST /flush_cache HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
    socket.on("data", (chunk) => { data += chunk; });
    socket.on("end", () => resolve(data));
    socket.on("error", reject);
  });
  await quick.stop();
  assert.match(reply, /^HTTP\/1\.1 400/);
  assert.match(reply, /Content-Length header/);
  assert.ok(Date.now() - started < 30000);
});

test("generate: regex, json_schema and ebnf constraints; bad patterns are 400s", async () => {
  const question = "Question: Tom has 3 apples and buys 4 more. How many apples does he have?\nAnswer:";
  const regex = "The answer is [0-9]{1,3}\\.";
  const constrained = await postJson(`${server.url}/generate`, { text: question, sampling_params: { max_new_tokens: 32, temperature: 0, regex } });
  assert.equal(constrained.status, 200);
  assert.match(constrained.json.text, /^The answer is [0-9]{1,3}\.$/);
  assert.equal(constrained.json.meta_info.finish_reason.type, "stop");

  const schema = { type: "object", properties: { z: { type: "boolean" }, a: { type: "integer", minimum: -9, maximum: 99 } }, required: ["z", "a"] };
  for (const json_schema of [schema, JSON.stringify(schema)]) {
    const result = await postJson(`${server.url}/generate`, { text: question, sampling_params: { max_new_tokens: 200, temperature: 0, json_schema } });
    assert.equal(result.status, 200);
    assert.equal(result.json.meta_info.finish_reason.type, "stop", result.json.text);
    const value = JSON.parse(result.json.text);
    assert.deepEqual(Object.keys(value), ["z", "a"]);
    assert.equal(typeof value.z, "boolean");
    assert.ok(Number.isInteger(value.a));
  }

  // A grammar with a recursive rule: sums of numbers, parenthesized up to four levels.
  const ebnf = 'root ::= "The answer is " expr "."\nexpr ::= term ("+" term)*\nterm ::= [0-9]{1,3} | "(" expr ")"';
  const grammar = await postJson(`${server.url}/generate`, { text: question, sampling_params: { max_new_tokens: 48, temperature: 0, ebnf } });
  assert.equal(grammar.status, 200);
  assert.match(grammar.json.text, /^The answer is [0-9()+]+\.$/);
  assert.equal(grammar.json.meta_info.finish_reason.type, "stop", grammar.json.text);

  for (const [sampling_params, pattern] of [
    [{ regex: "(unclosed" }, /regex: missing '\)'/],
    [{ ebnf: "root ::= \"a\" b" }, /EBNF line 1: rule 'b' is not defined/],
    [{ ebnf: "answer ::= \"a\"" }, /no 'root' rule/],
    [{ ebnf: "root ::= \"a\"", regex: "a" }, /at most one/],
    [{ json_schema: "{not json" }, /json_schema is not valid JSON/],
    [{ json_schema: { type: "string", format: "email" } }, /format/],
    [{ regex: "a", json_schema: { type: "string" } }, /at most one/],
    [{ logit_bias: { x: 1 } }, /logit_bias key/],
    [{ logit_bias: { 5: 500 } }, /logit_bias/],
  ]) {
    const bad = await postJson(`${server.url}/generate`, { text: question, sampling_params: { max_new_tokens: 4, ...sampling_params } });
    assert.equal(bad.status, 400, JSON.stringify(sampling_params));
    assert.match(bad.json.error.message, pattern);
  }
});
