#!/usr/bin/env bash
# cpmserve logits and generate with --tp-size 2 under mpirun -np 2 against the same commands in one
# process, on the golden checkpoints and both attention backends: logits within 5e-4, greedy
# continuations equal; bench reports the communication per step. Plus: a killed rank ends the job promptly; ranks with different checkpoints or
# flags are refused; the messages for a wrong --tp-size and an uneven split.
set -uo pipefail
bin=$1
source_dir=$2
keep_loaded=${3:-}  # the keep_shared_objects_loaded library, for sanitizer builds
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Ranks on one machine over shared memory, one thread each, not pinned (the cores are shared).
mpi=(mpirun -np 2 --oversubscribe --allow-run-as-root --bind-to none --mca btl self,vader)
# Sanitizer builds: leaks inside the MPI libraries are theirs and suppressed by library name; ours
# stay reported. Naming them needs the plugins kept loaded and a full unwind (libc has no frame
# pointers); the sanitizer runtime must come first among preloaded libraries.
asan_runtime=$(ldd "$bin" | awk '/libasan/ {print $3}')
if [ -n "$asan_runtime" ] && [ -n "$keep_loaded" ]; then
  mpi+=(-x "LD_PRELOAD=$asan_runtime:$keep_loaded"
        -x "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
        -x "LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$source_dir/tests/dist/lsan_mpi.supp")
fi
passed=0
failed=0
fail() { failed=$((failed + 1)); echo "FAIL: $1"; [ -f "$work/err" ] && cat "$work/err"; }
check() {  # check NAME COMMAND...: the command must succeed
  local name=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then passed=$((passed + 1)); else fail "$name"; fi
}
# check_error NAME PATTERN COMMAND...: non-zero exit and an error line matching PATTERN. Every rank
# reports a setup error ("error (rank N): ..." for N > 0); mpirun may stop the others before they do.
check_error() {
  local name=$1 pattern=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"
  local code=$?
  if [ $code -ne 0 ] && grep -Eq "^error( \(rank [0-9]+\))?: .*$pattern" "$work/err"; then passed=$((passed + 1)); else fail "$name (exit $code)"; fi
}

for checkpoint in tiny-a tiny-c; do
  model="$source_dir/tests/data/golden/$checkpoint"
  prompts=$(python3 -c 'import json, sys; [print(",".join(map(str, c["prompt_ids"]))) for c in json.load(open(sys.argv[1]))]' "$model/cases.json")
  for backend in latent materialized; do
    case=0
    for ids in $prompts; do
      case=$((case + 1))
      name="$checkpoint $backend case $case"
      flags=(--model-path "$model" --attention-backend "$backend" --threads 1)
      check "$name: logits, one process" "$bin" logits "${flags[@]}" --prompt-ids "$ids" --all-positions
      cp "$work/out" "$work/single.json"
      check "$name: logits, tp 2" "${mpi[@]}" "$bin" logits "${flags[@]}" --tp-size 2 --prompt-ids "$ids" --all-positions
      cp "$work/out" "$work/tp.json"
      check "$name: logits within 5e-4 and printed once" python3 - "$work/single.json" "$work/tp.json" <<'PY'
import json, sys
single = json.load(open(sys.argv[1]))["logits"]
with open(sys.argv[2]) as f:
    lines = f.read().splitlines()
assert len(lines) == 1, f"{len(lines)} lines of output"
tp = json.loads(lines[0])["logits"]
assert len(single) == len(tp) and all(len(a) == len(b) for a, b in zip(single, tp))
worst = max(abs(x - y) for a, b in zip(single, tp) for x, y in zip(a, b))
assert worst <= 5e-4, f"largest difference {worst}"
PY
      gen=(generate "${flags[@]}" --prompt-ids "$ids" --max-new-tokens 16 --ignore-eos --json)
      check "$name: generate, one process" "$bin" "${gen[@]}"
      cp "$work/out" "$work/single.json"
      check "$name: generate, tp 2" "${mpi[@]}" "$bin" "${gen[@]}" --tp-size 2
      cp "$work/out" "$work/tp.json"
      check "$name: same greedy tokens, printed once" cmp "$work/single.json" "$work/tp.json"
    done
  done
done

# serve --tp-size 2: rank 0 serves HTTP, greedy completions as in one process, SIGTERM stops all ranks.
"$bin" make-checkpoint --preset tiny --out "$work/tiny" --seed 3 2>/dev/null
check "tiny: generate, one process" "$bin" generate --model-path "$work/tiny" --threads 1 --prompt-ids 1,20,30,40 \
  --max-new-tokens 12 --ignore-eos --json
python3 -c 'import json, sys; print(json.load(sys.stdin)["output_ids"])' <"$work/out" >"$work/single_ids"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${mpi[@]}" "$bin" serve --model-path "$work/tiny" --port "$port" --threads 1 --kv-cache-memory 64M --tp-size 2 \
  >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
for i in 1 2 3; do  # concurrent requests share the leader's batches
  curl -sf "http://127.0.0.1:$port/generate" -H 'Content-Type: application/json' \
    -d "{\"input_ids\": [1, 20, 30, 40], \"sampling_params\": {\"max_new_tokens\": 12, \"temperature\": 0, \"ignore_eos\": true}}" \
    >"$work/serve_$i.json" &
done
wait $(jobs -p | grep -v "^$server_pid\$")
for i in 1 2 3; do
  check "serve tp 2: request $i gives the one-process tokens" python3 - "$work/serve_$i.json" "$work/single_ids" <<'PY'
import json, sys
reply = json.load(open(sys.argv[1]))
ids = reply.get("output_ids") or reply.get("meta_info", {}).get("output_ids")
assert str(ids) == open(sys.argv[2]).read().strip(), (ids, reply)
PY
done
# mpirun forwards SIGTERM to the ranks; it exits non-zero after a signal whatever the ranks do, so
# the check is that rank 0 shut down in order and mpirun returned.
kill -TERM "$server_pid"
wait "$server_pid"
if grep -q "INFO stopped" "$work/serve.log"; then passed=$((passed + 1)); else cp "$work/serve.log" "$work/err"; fail "serve tp 2 stops on SIGTERM"; fi

# A rank that dies ends the job promptly with mpirun's message naming it, instead of leaving rank 0
# waiting in a collective for ever.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${mpi[@]}" "$bin" serve --model-path "$work/tiny" --port "$port" --threads 1 --kv-cache-memory 64M --tp-size 2 \
  >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
rank_one=""
for pid in $(pgrep -f -- "--port $port"); do
  grep -qz '^OMPI_COMM_WORLD_RANK=1$' "/proc/$pid/environ" 2>/dev/null && rank_one=$pid
done
if [ -z "$rank_one" ]; then
  fail "rank death: rank 1 of the server not found"
else
  kill -KILL "$rank_one"
  for _ in $(seq 1 300); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid"; cp "$work/serve.log" "$work/err"; fail "rank death: mpirun still running 30 s after rank 1 was killed"
  else
    wait "$server_pid"
    code=$?
    if [ $code -ne 0 ] && grep -q "rank 1 .* exited on signal 9" "$work/serve.log"; then passed=$((passed + 1)); else
      cp "$work/serve.log" "$work/err"; fail "rank death: exit $code without the message naming rank 1"; fi
  fi
fi

# bench --tp-size 2 reports once, with the leader's communication per decode step: 2 all-reduces per
# layer (attention output, MLP), one for the embedding and one all-gather of the vocabulary shards.
check "bench tp 2" "${mpi[@]}" "$bin" bench --model-path "$work/tiny" --threads 1 --tp-size 2 \
  --prompt-len 8 --gen-len 4 --repeats 2 --json
cp "$work/out" "$work/bench.json"
check "bench tp 2: one report with the communication per step" python3 - "$work/bench.json" "$work/tiny/config.json" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, f"{len(lines)} lines of output"
report, config = json.loads(lines[0]), json.load(open(sys.argv[2]))
c = report["communication"]
layers, hidden, vocab = config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]
assert report["tp_size"] == 2 and c["tp_size"] == 2, report
assert c["decode_collectives_per_step"] == 2 * layers + 2, c
assert c["decode_collective_bytes_per_step"] == 4 * hidden * (2 * layers + 1) + 4 * vocab // 2, c
assert 0 < c["decode_collective_seconds_per_step"] < c["decode_step_seconds"], c
assert 0 < c["decode_broadcast_seconds_per_step"] < c["decode_step_seconds"], c
assert 0 < c["decode_communication_fraction"] < 1 and c["prefill_collective_seconds"] > 0, c
assert c["prefill_collective_bytes"] == 8 * (4 * hidden * (2 * layers + 1)) + 4 * vocab // 2, c
PY
check_error "bench refuses dp attention" "for DP attention measure a server" \
  "${mpi[@]}" "$bin" bench --model-path "$work/tiny" --threads 1 --tp-size 2 --dp-size 2 --enable-dp-attention

# Ranks started with different checkpoints or model flags refuse to run (config hash exchange).
model="$source_dir/tests/data/golden/tiny-a"
mpmd=("${mpi[0]}" "${mpi[@]:3}")  # mpirun without -np 2: each program gets its own -np 1
one_rank() { echo -np 1 "$bin" logits --tp-size 2 --threads 1 --prompt-ids 1,2 "$@"; }
"$bin" make-checkpoint --preset tiny --out "$work/tiny_other" --seed 4 2>/dev/null
check_error "rank 1 with another checkpoint" "rank 1 loaded a different checkpoint from rank 0" \
  "${mpmd[@]}" $(one_rank --model-path "$model") : $(one_rank --model-path "$source_dir/tests/data/golden/tiny-c")
check_error "rank 1 with other weights of the same shapes" "rank 1 loaded a different checkpoint from rank 0" \
  "${mpmd[@]}" $(one_rank --model-path "$work/tiny") : $(one_rank --model-path "$work/tiny_other")
check_error "rank 1 with another --dtype" "rank 1 was started with different model flags" \
  "${mpmd[@]}" $(one_rank --model-path "$model") : $(one_rank --model-path "$model" --dtype bf16)
check_error "rank 1 without its checkpoint" "cannot read $work/missing/config.json" \
  "${mpmd[@]}" $(one_rank --model-path "$model") : $(one_rank --model-path "$work/missing")

check_error "tp size differs from the world" "--tp-size 3 does not match the 2 processes" \
  "${mpi[@]}" "$bin" logits --model-path "$model" --tp-size 3 --prompt-ids 1,2
check_error "tp size without mpirun" "launch it as mpirun -np 2" "$bin" logits --model-path "$model" --tp-size 2 --prompt-ids 1
three_ranks=("${mpi[@]}")
three_ranks[2]=3  # mpirun -np 3
check_error "uneven split" "does not divide num_attention_heads" \
  "${three_ranks[@]}" "$bin" logits --model-path "$model" --tp-size 3 --prompt-ids 1

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
