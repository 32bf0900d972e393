#!/usr/bin/env bash
# The built-in demo model, end to end through the real stack: `cpmserve serve` on models/demo and
# `cpmserve eval gsm8k` (5-shot, the reference protocol) on 50 held-out generated problems. Any bug in
# the tokenizer, attention, rope, batching, prefix caching or sampling takes accuracy near zero; the
# full 500-problem figure is in the README.
set -uo pipefail
bin=$1
source_dir=$2
min_accuracy=${3:-0.6}
model="$source_dir/models/demo"
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --model-path "$model" --port "$port" --threads 2 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

"$bin" eval gsm8k --base-url "http://127.0.0.1:$port" --data-path "$model/eval/test.jsonl" --num-shots 5 \
    --skip-shots --num-questions 50 --parallel 16 --max-new-tokens 160 --json >"$work/report.json" 2>"$work/eval.err"
status=$?
if [ $status -ne 0 ]; then
  echo "FAIL: eval gsm8k exited $status"; cat "$work/eval.err"; tail -20 "$work/server.log"; exit 1
fi
python3 - "$work/report.json" "$min_accuracy" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
accuracy, bound = report["accuracy"], float(sys.argv[2])
print(f"demo model: accuracy {accuracy:.3f} on {report.get('num_questions', 50)} problems (bound {bound})")
sys.exit(0 if accuracy >= bound else 1)
PY
