#!/usr/bin/env bash
# The cpmserve command end to end: checkpoint creation, generation, batch files, logits, and one
# clear message with a non-zero exit for every kind of bad input.
set -uo pipefail
bin=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() {  # check NAME COMMAND...: the command must succeed
  local name=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; cat "$work/err"; fi
}
check_error() {  # check_error NAME PATTERN COMMAND...: non-zero exit, one "error:" line matching PATTERN, no crash
  local name=$1 pattern=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"
  local code=$?
  if [ $code -ne 0 ] && [ $code -lt 128 ] && grep -q "^error: .*$pattern" "$work/err"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: $name (exit $code)"; cat "$work/err"
  fi
}

check "make tiny checkpoint" "$bin" make-checkpoint --preset tiny --out "$work/tiny" --seed 3
check "deterministic checkpoint" bash -c "'$bin' make-checkpoint --preset tiny --out '$work/tiny2' --seed 3 2>/dev/null && cmp '$work/tiny/model.safetensors' '$work/tiny2/model.safetensors'"

check "generate --json" "$bin" generate --model-path "$work/tiny" --prompt "Tom has 3 apples" --max-new-tokens 5 --json --ignore-eos
cp "$work/out" "$work/generate.json"
check "json output has 5 ids and text" bash -c "grep -q '^{\"output_ids\":\[[0-9]*,[0-9]*,[0-9]*,[0-9]*,[0-9]*\],\"text\":\"' '$work/generate.json'"

check "logits all positions" "$bin" logits --model-path "$source_dir/tests/data/golden/tiny-c" --prompt-ids 1,5,9 --all-positions
cp "$work/out" "$work/logits.json"
check "three rows of logits" bash -c "grep -o '\], \[' '$work/logits.json' | wc -l | grep -qx 2 && head -c 13 '$work/logits.json' | grep -q '{\"logits\": \[\['"
check "logits with deterministic inference" "$bin" logits --model-path "$source_dir/tests/data/golden/tiny-c" --prompt-ids 1,5,9 --all-positions --enable-deterministic-inference
cp "$work/out" "$work/logits_deterministic.json"
check "deterministic inference agrees within rounding" node -e '
  const fs = require("fs");
  const a = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).logits.flat();
  const b = JSON.parse(fs.readFileSync(process.argv[2], "utf8")).logits.flat();
  if (a.length !== b.length || a.length === 0) throw new Error("lengths " + a.length + ", " + b.length);
  const worst = Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  if (!(worst < 5e-4)) throw new Error("largest difference " + worst);
' "$work/logits.json" "$work/logits_deterministic.json"

# 64 prompts through the engine, results in input order.
for i in $(seq 0 63); do
  if [ $((i % 2)) -eq 0 ]; then echo "{\"prompt\": \"Question $i: how many apples?\", \"sampling_params\": {\"max_new_tokens\": $((i % 7 + 1)), \"ignore_eos\": true}}"
  else echo "{\"prompt_ids\": [1, $((i + 3)), 7], \"sampling_params\": {\"max_new_tokens\": 4, \"temperature\": 0.7, \"seed\": $i, \"ignore_eos\": true}}"; fi
done > "$work/prompts.jsonl"
check "generate --prompts-file" "$bin" generate --model-path "$work/tiny" --prompts-file "$work/prompts.jsonl" --output "$work/results.jsonl" --max-running-requests 16
check "64 ordered results" bash -c "
  [ \$(wc -l < '$work/results.jsonl') -eq 64 ] || exit 1
  for i in \$(seq 0 63); do
    line=\$(sed -n \"\$((i + 1))p\" '$work/results.jsonl')
    echo \"\$line\" | grep -q \"^{\\\"index\\\":\$i,\" || exit 1
    if [ \$((i % 2)) -eq 0 ]; then want=\$((i % 7 + 1)); else want=4; fi
    echo \"\$line\" | grep -q \"\\\"completion_tokens\\\":\$want\" || exit 1
    echo \"\$line\" | grep -q '\"finish_reason\":\"length\"' || exit 1
  done"

# bench: the llama-bench-like figures, and the step limit with attention counted.
check "bench --json" "$bin" bench --model-path "$work/tiny" --prompt-len 8 --gen-len 4 --repeats 2 --threads 2 --json
cp "$work/out" "$work/bench.json"
check "bench figures are measured and consistent" node -e '
  const fs = require("fs");
  const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const c = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  for (const k of ["prefill_tokens_per_s", "decode_tokens_per_s", "weight_bytes_per_token", "memory_bandwidth_gb_s",
                   "decode_roofline_fraction", "peak_rss_bytes", "fma_peak_gflop_s", "decode_step_limit_fraction"])
    if (!(r[k] > 0)) throw new Error(k + " = " + r[k]);
  if (!/^(portable|avx2(\+avx-vnni)?(\+avx512f(\+avx512-vnni)?(\+avx512-bf16)?)?)$/.test(r.kernels)) throw new Error("kernels = " + r.kernels);
  if (typeof r.cpu !== "string" || r.cpu.length === 0) throw new Error("cpu = " + r.cpu);
  const huge = r.weights_huge_page_fraction;  // null only where /proc/self/smaps cannot be read
  if (!(huge === null || (huge >= 0 && huge <= 1))) throw new Error("weights_huge_page_fraction = " + huge);
  if (r.deterministic_inference !== false) throw new Error("deterministic_inference = " + r.deterministic_inference);
  if (r.bf16_prefill !== false) throw new Error("bf16_prefill = " + r.bf16_prefill);
  // Latent attention: every head scores the 288-wide row and sums its latent, over 8 + 5/2 cached tokens.
  const perToken = 2 * c.num_attention_heads * (2 * c.kv_lora_rank + c.qk_rope_head_dim);
  const want = perToken * c.num_hidden_layers * (8 + 5 / 2);
  if (Math.abs(r.attention_flops_per_token - want) > 1e-6 * want) throw new Error("attention flops " + r.attention_flops_per_token + " != " + want);
  if (!(r.decode_step_limit_tokens_per_s < r.decode_limit_tokens_per_s)) throw new Error("attention must lower the limit");
  // Bandwidth measured before and after the runs; decode is put against their mean.
  const before = r.memory_bandwidth_gb_s_before, after = r.memory_bandwidth_gb_s_after;
  if (!(before > 0 && after > 0)) throw new Error("bandwidth before " + before + ", after " + after);
  if (Math.abs(r.memory_bandwidth_gb_s - (before + after) / 2) > 1e-9 * r.memory_bandwidth_gb_s) throw new Error("bandwidth is not the mean");
  const limit = r.memory_bandwidth_gb_s * 1e9 / r.weight_bytes_per_token;
  if (Math.abs(r.decode_roofline_fraction - r.decode_tokens_per_s / limit) > 1e-9) throw new Error("fraction not against the mean");
  // Step times pooled over the repeats: ordered percentiles, in milliseconds (a step of one token
  // takes 1000 / tokens per s on average).
  const p10 = r.decode_step_ms_p10, p50 = r.decode_step_ms_p50, p90 = r.decode_step_ms_p90;
  if (!(p10 > 0 && p10 <= p50 && p50 <= p90)) throw new Error("step percentiles " + [p10, p50, p90]);
  const meanStep = 1000 / r.decode_tokens_per_s;
  if (!(p50 > meanStep / 10 && p50 < meanStep * 10)) throw new Error("median step " + p50 + " ms against a mean of " + meanStep);
' "$work/bench.json" "$work/tiny/config.json"
check "bf16 prefill on q8_0 weights" "$bin" logits --model-path "$work/tiny" --prompt-ids 1,2 --dtype q8_0 --enable-bf16-prefill
cp "$work/err" "$work/bf16_prefill.err"
check "it warns that the flag applies to bf16 weights" grep -q "^warning: --enable-bf16-prefill applies to bf16 weights only (these are q8_0)" "$work/bf16_prefill.err"
check_error "bf16 prefill with deterministic inference" "cannot be combined with deterministic inference" "$bin" logits --model-path "$work/tiny" --prompt-ids 1 --enable-bf16-prefill --enable-deterministic-inference
check_error "bench longer than the context" "exceeds the context length" "$bin" bench --model-path "$work/tiny" --prompt-len 8 --gen-len 4 --context-length 10
# Decode from another depth than the prompt's, as llama-bench's tg (an empty cache) and -d N do.
for depth in 0 20; do
  check "bench --context-depth $depth" "$bin" bench --model-path "$work/tiny" --prompt-len 8 --gen-len 4 --repeats 1 --threads 2 --context-depth $depth --json
  cp "$work/out" "$work/depth.json"
  check "bench decodes at depth $depth" node -e '
    const fs = require("fs");
    const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const c = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
    const depth = Number(process.argv[3]);
    if (r.prompt_len !== 8 || r.context_depth !== depth) throw new Error("prompt " + r.prompt_len + ", depth " + r.context_depth);
    if (!(r.prefill_tokens_per_s > 0 && r.decode_tokens_per_s > 0)) throw new Error("no figures");
    const perToken = 2 * c.num_attention_heads * (2 * c.kv_lora_rank + c.qk_rope_head_dim);
    const want = perToken * c.num_hidden_layers * (depth + 5 / 2);
    if (Math.abs(r.attention_flops_per_token - want) > 1e-6 * want) throw new Error("attention flops " + r.attention_flops_per_token + " != " + want);
  ' "$work/depth.json" "$work/tiny/config.json" $depth
done
check_error "bench decode deeper than the context" "--context-depth plus --gen-len exceeds the context length 32" "$bin" bench --model-path "$work/tiny" --prompt-len 8 --gen-len 4 --context-depth 30 --context-length 32
check_error "bench without a prompt" "--prompt-len: must be greater than 0 (got 0)" "$bin" bench --model-path "$work/tiny" --prompt-len 0

# Bad input: one clear message, non-zero exit, never a crash.
mkdir -p "$work/broken"
cp "$source_dir/tests/data/golden/tiny-c/config.json" "$work/broken/"
head -c 10000 "$source_dir/tests/data/golden/tiny-c/model.safetensors" > "$work/broken/model.safetensors"
check_error "truncated checkpoint" "model.safetensors.*truncated" "$bin" logits --model-path "$work/broken" --prompt-ids 1
printf '{"model_type": "minicpm3",' > "$work/broken/config.json"
check_error "malformed config" "config.json: malformed JSON" "$bin" generate --model-path "$work/broken" --prompt-ids 1
check_error "missing folder" "model folder not found" "$bin" logits --model-path "$work/nowhere" --prompt-ids 1
check_error "bad token ids" "is not a token id" "$bin" logits --model-path "$work/tiny" --prompt-ids 1,x,3
check_error "token outside vocabulary" "outside the vocabulary" "$bin" logits --model-path "$work/tiny" --prompt-ids 1,99999
check_error "prompt longer than context" "context length" "$bin" generate --model-path "$work/tiny" --prompt-ids 1,2,3 --context-length 2 --max-new-tokens 1
check_error "bad sampling parameter" "top_p" "$bin" generate --model-path "$work/tiny" --prompt "hi" --top-p 3
check_error "bad regex" "regex: missing ')'" "$bin" generate --model-path "$source_dir/models/demo" --prompt "hi" --regex "(a"
check_error "unsupported schema keyword" "'not' is not supported" "$bin" generate --model-path "$source_dir/models/demo" --prompt "hi" --json-schema '{"not": {}}'
check "generate --regex" "$bin" generate --model-path "$source_dir/models/demo" --prompt "Question: 2 + 5?"$'\n'"Answer:" --regex "#### [0-9]+" --json
cp "$work/out" "$work/regex.json"
check "regex output matches" grep -q '"text":"#### [0-9]*"}$' "$work/regex.json"
check "generate --ebnf" "$bin" generate --model-path "$source_dir/models/demo" --prompt "Question: 2 + 5?"$'\n'"Answer:" --ebnf $'root ::= "#### " digit+\ndigit ::= [0-9]' --json
cp "$work/out" "$work/ebnf.json"
check "ebnf output matches" grep -q '"text":"#### [0-9]*"}$' "$work/ebnf.json"
check_error "bad grammar" "EBNF line 1: expected '::='" "$bin" generate --model-path "$source_dir/models/demo" --prompt "hi" --ebnf 'root "a"'
echo '{"prompt": 5}' > "$work/bad.jsonl"
check_error "bad prompts file line" "bad.jsonl:1" "$bin" generate --model-path "$work/tiny" --prompts-file "$work/bad.jsonl" --output "$work/o.jsonl"

check "export-gguf q4_0" "$bin" export-gguf --model-path "$work/tiny" --out "$work/tiny.gguf" --dtype q4_0 --allow-constant-mismatch
check "gguf magic and version 3" bash -c "head -c 8 '$work/tiny.gguf' | od -An -tx1 | tr -d ' ' | grep -qx 4747554603000000"
check_error "export-gguf refuses constants llama.cpp hard-codes" "dim_model_base" "$bin" export-gguf --model-path "$work/tiny" --out "$work/t.gguf"
check_error "export-gguf unsupported type" "unsupported GGUF type \"q5_k\"" "$bin" export-gguf --model-path "$work/tiny" --out "$work/t.gguf" --dtype q5_k
check_error "export-gguf unwritable path" "cannot write $work/nowhere/t.gguf" "$bin" export-gguf --model-path "$work/tiny" --out "$work/nowhere/t.gguf" --allow-constant-mismatch

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
