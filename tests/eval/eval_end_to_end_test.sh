#!/usr/bin/env bash
# `cpmserve eval gsm8k` and `cpmserve bench serving` against a real cpmserve server on a small
# random checkpoint (accuracy is meaningless there; the protocol, the plumbing and the reports are
# what is checked). GSM8K data is read from ../shared; never copied into the project.
set -uo pipefail
bin=$1
source_dir=$2
data="$source_dir/../shared/data/gsm8k/test.jsonl"
if [ ! -f "$data" ]; then
  if [ "${CI:-}" = "true" ]; then echo "FAIL: $data is missing and CI=true"; exit 1; fi
  echo "SKIP: $data not found"; exit 0
fi
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
passed=0
failed=0
expect() {  # expect NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; fi
}

"$bin" make-checkpoint --preset tiny --out "$work/tiny" 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --model-path "$work/tiny" --port "$port" --threads 1 --kv-cache-memory 64M 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port"

for backend in native openai; do
  "$bin" eval gsm8k --base-url "$url" --backend "$backend" --data-path "$data" --num-shots 2 --num-questions 6 \
      --parallel 3 --max-new-tokens 12 --output "$work/$backend.jsonl" --json >"$work/$backend.json" 2>"$work/$backend.err"
  expect "eval gsm8k ($backend) exits 0" test $? -eq 0
  expect "eval gsm8k ($backend) reports accuracy and invalid rate" \
      grep -q '"accuracy"' "$work/$backend.json"
  expect "eval gsm8k ($backend) writes one line per question" test "$(wc -l < "$work/$backend.jsonl")" -eq 6
  expect "eval gsm8k ($backend) lines carry index, prompt, output, pred, label, correct" python3 - "$work/$backend.jsonl" "$data" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
records = [json.loads(l) for l in open(sys.argv[2])][:6]
shots = "".join("Question: " + r["question"] + "\nAnswer: " + r["answer"] + "\n\n" for r in records[:2])
for line in lines:
    for key in ("index", "prompt", "output", "pred", "label", "correct"):
        assert key in line, key
    assert line["prompt"] == shots + "Question: " + records[line["index"]]["question"] + "\nAnswer:"
PY
done

"$bin" bench serving --base-url "$url" --dataset random --random-input-len 24 --random-output-len 8 \
    --random-range-ratio 1 --num-prompts 8 --max-concurrency 4 --output-file "$work/bench.json" >"$work/bench.txt" 2>"$work/bench.err"
expect "bench serving exits 0" test $? -eq 0
expect "bench serving reports throughput and latencies" python3 - "$work/bench.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
text = json.dumps(report)
for key in ("completed", "request_throughput", "output_throughput", "ttft", "itl", "e2e"):
    assert key in text, key
PY

echo "eval end to end: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
