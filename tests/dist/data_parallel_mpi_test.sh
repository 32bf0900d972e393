#!/usr/bin/env bash
# cpmserve logits, generate and serve with --tp-size 2 --dp-size 2 --enable-dp-attention under
# mpirun -np 2 against the same commands in one process, on the golden checkpoints: logits within
# 5e-4 and printed once, greedy continuations equal, also for a file of mixed prompts run concurrently
# with prefix-cache hits. In all of these one DP rank often has no tokens (a lone request runs on
# rank 0). Plus the messages for flag combinations that do not run.
set -uo pipefail
bin=$1
source_dir=$2
keep_loaded=${3:-}  # the keep_shared_objects_loaded library, for sanitizer builds
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun -np 2 --oversubscribe --allow-run-as-root --bind-to none --mca btl self,vader)
# Sanitizer builds: as in tensor_parallel_mpi_test.sh.
asan_runtime=$(ldd "$bin" | awk '/libasan/ {print $3}')
if [ -n "$asan_runtime" ] && [ -n "$keep_loaded" ]; then
  mpi+=(-x "LD_PRELOAD=$asan_runtime:$keep_loaded"
        -x "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
        -x "LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$source_dir/tests/dist/lsan_mpi.supp")
fi
dp=(--tp-size 2 --dp-size 2 --enable-dp-attention)
passed=0
failed=0
fail() { failed=$((failed + 1)); echo "FAIL: $1"; [ -f "$work/err" ] && cat "$work/err"; }
check() {  # check NAME COMMAND...: the command must succeed
  local name=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then passed=$((passed + 1)); else fail "$name"; fi
}
check_error() {  # check_error NAME PATTERN COMMAND...: non-zero exit and an error line matching PATTERN
  local name=$1 pattern=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"
  local code=$?
  if [ $code -ne 0 ] && grep -Eq "^error( \(rank [0-9]+\))?: .*$pattern" "$work/err"; then passed=$((passed + 1)); else fail "$name (exit $code)"; fi
}
compare_logits() {  # compare_logits NAME SINGLE DP
  check "$1: logits within 5e-4 and printed once" python3 - "$2" "$3" <<'PY'
import json, sys
single = json.load(open(sys.argv[1]))["logits"]
with open(sys.argv[2]) as f:
    lines = f.read().splitlines()
assert len(lines) == 1, f"{len(lines)} lines of output"
dp = json.loads(lines[0])["logits"]
assert len(single) == len(dp) and all(len(a) == len(b) for a, b in zip(single, dp))
worst = max(abs(x - y) for a, b in zip(single, dp) for x, y in zip(a, b))
assert worst <= 5e-4, f"largest difference {worst}"
PY
}

for checkpoint in tiny-a tiny-c; do
  model="$source_dir/tests/data/golden/$checkpoint"
  # Logits of every case with the latent backend, of the longest with the materialized one.
  python3 - "$model/cases.json" "$work/prompts.jsonl" >"$work/cases" <<'PY'
import json, sys
cases = [c["prompt_ids"] for c in json.load(open(sys.argv[1]))]
for ids in cases:
    print("latent", ",".join(map(str, ids)))
print("materialized", ",".join(map(str, cases[-1])))
# A mixed batch: every case, the 33-token one three more times and the longest extended, so that
# prompts repeat on a DP rank after their first run (prefix-cache hits).
lines = cases + [cases[2]] * 3 + [cases[-1] + [5, 6, 7]]
with open(sys.argv[2], "w") as f:
    for i, ids in enumerate(lines):
        f.write(json.dumps({"prompt_ids": ids, "sampling_params": {"max_new_tokens": 8 + i}}) + "\n")
PY
  while read -r backend ids; do
    name="$checkpoint $backend ${#ids}-char prompt"
    flags=(--model-path "$model" --attention-backend "$backend" --threads 1)
    check "$name: logits, one process" "$bin" logits "${flags[@]}" --prompt-ids "$ids" --all-positions
    cp "$work/out" "$work/single.json"
    check "$name: logits, dp attention" "${mpi[@]}" "$bin" logits "${flags[@]}" "${dp[@]}" --prompt-ids "$ids" --all-positions
    cp "$work/out" "$work/dp.json"
    compare_logits "$name" "$work/single.json" "$work/dp.json"
  done <"$work/cases"
  flags=(--model-path "$model" --threads 1)
  gen=(generate "${flags[@]}" --prompt-ids "$(sed -n 2p "$work/cases" | cut -d' ' -f2)" --max-new-tokens 16 --ignore-eos --json)
  check "$checkpoint: generate, one process" "$bin" "${gen[@]}"
  cp "$work/out" "$work/single.json"
  check "$checkpoint: generate, dp attention" "${mpi[@]}" "$bin" "${gen[@]}" "${dp[@]}"
  cp "$work/out" "$work/dp.json"
  check "$checkpoint: same greedy tokens, printed once" cmp "$work/single.json" "$work/dp.json"
  for backend in latent materialized; do
    name="$checkpoint $backend prompts file"
    file=(generate "${flags[@]}" --attention-backend "$backend" --prompts-file "$work/prompts.jsonl" --ignore-eos
          --max-running-requests 1 --chunked-prefill-size 16)
    check "$name: one process" "$bin" "${file[@]}" --output "$work/single.jsonl"
    check "$name: dp attention" "${mpi[@]}" "$bin" "${file[@]}" "${dp[@]}" --output "$work/dp.jsonl"
    check "$name: same tokens, with prefix-cache hits" python3 - "$work/single.jsonl" "$work/dp.jsonl" <<'PY'
import json, sys
single = [json.loads(line) for line in open(sys.argv[1])]
dp = [json.loads(line) for line in open(sys.argv[2])]
assert len(single) == len(dp) == 8, (len(single), len(dp))
for a, b in zip(single, dp):
    assert a["output_ids"] == b["output_ids"], (a, b)
    assert b["finish_reason"] == "length", b
assert sum(r["cached_tokens"] for r in dp) > 0, "no prefix-cache hits"
PY
  done
done

# serve with dp attention: concurrent requests spread over the DP ranks, then one alone (rank 1 has
# no tokens), all with the one-process tokens; SIGTERM stops all ranks.
"$bin" make-checkpoint --preset tiny --out "$work/tiny" --seed 3 2>/dev/null
request() {  # request PROMPT_IDS MAX_NEW OUT
  curl -sf "http://127.0.0.1:$port/generate" -H 'Content-Type: application/json' \
    -d "{\"input_ids\": [$1], \"sampling_params\": {\"max_new_tokens\": $2, \"temperature\": 0, \"ignore_eos\": true}}" >"$3"
}
for ids in "1,20,30,40" "7,8,9,10,11,12,13,14,15"; do
  check "tiny: generate $ids, one process" "$bin" generate --model-path "$work/tiny" --threads 1 --prompt-ids "$ids" \
    --max-new-tokens 12 --ignore-eos --json
  python3 -c 'import json, sys; print(json.load(sys.stdin)["output_ids"])' <"$work/out" >"$work/single_$ids"
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${mpi[@]}" "$bin" serve --model-path "$work/tiny" --port "$port" --threads 1 --kv-cache-memory 64M "${dp[@]}" \
  >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
clients=()
for i in 1 2 3 4; do
  ids=$([ $((i % 2)) -eq 0 ] && echo "1,20,30,40" || echo "7,8,9,10,11,12,13,14,15")
  request "$ids" 12 "$work/serve_$i.json" &
  clients+=($!)
done
wait "${clients[@]}"
request "1,20,30,40" 12 "$work/serve_5.json"
for i in 1 2 3 4 5; do
  ids=$([ $((i % 2)) -eq 0 ] || [ "$i" -eq 5 ] && echo "1,20,30,40" || echo "7,8,9,10,11,12,13,14,15")
  check "serve dp attention: request $i gives the one-process tokens" python3 - "$work/serve_$i.json" "$work/single_$ids" <<'PY'
import json, sys
reply = json.load(open(sys.argv[1]))
ids = reply.get("output_ids") or reply.get("meta_info", {}).get("output_ids")
assert str(ids) == open(sys.argv[2]).read().strip(), (ids, reply)
PY
done
kill -TERM "$server_pid"
wait "$server_pid"
if grep -q "INFO stopped" "$work/serve.log" && grep -q "over 2 data-parallel ranks" "$work/serve.log"; then
  passed=$((passed + 1))
else
  cp "$work/serve.log" "$work/err"; fail "serve dp attention: reports the KV pool per DP rank and stops on SIGTERM"
fi

# Flag combinations that do not run are refused with a message naming the fix.
model="$source_dir/tests/data/golden/tiny-a"
check_error "dp size without dp attention" "--dp-size 2 needs --enable-dp-attention" \
  "$bin" logits --model-path "$model" --dp-size 2 --prompt-ids 1
check_error "dp size other than tp size" "give --dp-size equal to --tp-size" \
  "${mpi[@]}" "$bin" logits --model-path "$model" --tp-size 2 --dp-size 1 --enable-dp-attention --prompt-ids 1

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
