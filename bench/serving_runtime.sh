#!/usr/bin/env bash
# Serving-runtime figures of docs/PERFORMANCE.md, measured through a real `cpmserve serve`:
#  1. output tokens/s with 1, 4 and 16 requests decoding concurrently (`bench serving`);
#  2. prefill of a 5-shot GSM8K prompt (about 900 tokens) cold, then with its prefix in the radix cache:
#     the same prompt again, and the same five shots before a new question.
# Usage: bench/serving_runtime.sh MODEL_DIR [GSM8K_TEST_JSONL] [extra serve flags...]
#   e.g. build/cpmserve make-checkpoint --preset minicpm3-4b --out /tmp/minicpm3-4b \
#          --tokenizer-from ../shared/data/minicpm3-4b && bench/serving_runtime.sh /tmp/minicpm3-4b
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
shift
data=../shared/data/gsm8k/test.jsonl
if [ $# -gt 0 ] && [[ $1 != --* ]]; then  # the optional data path, before the serve flags
  data=$1
  shift
fi
bin=build/cpmserve
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
"$bin" serve --model-path "$model" --port "$port" "$@" 2>/tmp/serving_runtime.log &
server=$!
trap 'kill $server 2>/dev/null; wait 2>/dev/null' EXIT
until curl -sf "$url/health" >/dev/null; do
  kill -0 $server 2>/dev/null || { echo "the server exited:"; cat /tmp/serving_runtime.log; exit 1; }
  sleep 1
done

echo "## decode throughput (input 64 tokens, output 32 tokens per request)"
for concurrency in 1 4 16; do
  "$bin" bench serving --base-url "$url" --dataset random --random-input-len 64 --random-output-len 32 \
      --random-range-ratio 1 --num-prompts $((concurrency * 2)) --max-concurrency "$concurrency" \
      --warmup-requests 1 --json | python3 -c "
import json, sys
r = json.load(sys.stdin)
print(f'concurrency $concurrency: output {r[\"output_throughput\"]:.2f} tok/s, '
      f'median inter-token {r[\"itl_median_ms\"]:.0f} ms, completed {r[\"completed\"]}')"
done

echo "## 5-shot GSM8K prefill: cold, then cached"
prompt() {  # prompt QUESTION_INDEX: the protocol's 5 shots, then question QUESTION_INDEX
  python3 - "$data" "$1" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
shots = "".join(f"Question: {r['question']}\nAnswer: {r['answer']}\n\n" for r in records[:5])
print(json.dumps({"text": shots + f"Question: {records[int(sys.argv[2])]['question']}\nAnswer:",
                  "sampling_params": {"max_new_tokens": 1, "temperature": 0}}))
PY
}
measure() {  # measure LABEL BODY
  curl -s "$url/generate" -H 'Content-Type: application/json' -d "$2" | python3 -c "
import json, sys
meta = json.load(sys.stdin)['meta_info']
print(f'$1: {meta[\"prompt_tokens\"]} prompt tokens, {meta[\"cached_tokens\"]} cached, {meta[\"e2e_latency\"]:.3f} s')"
}
curl -sf -X POST -d '' "$url/flush_cache" >/dev/null
measure "cold" "$(prompt 10)"
measure "same prompt again" "$(prompt 10)"
measure "same shots, new question" "$(prompt 11)"
