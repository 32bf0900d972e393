#!/usr/bin/env bash
# Speculative decoding (ngram) figures of docs/PERFORMANCE.md, through a real `cpmserve serve`, off
# and on in alternation (two rounds):
#  1. one request's 64 output tokens, timed end to end with its prompt already cached, for an output
#     that repeats itself (frequency_penalty -2 makes the random checkpoint say one token over and over)
#     and a plain one (greedy);
#  2. with a GSM8K data path: `eval gsm8k` (100 questions, 5-shot, one at a time), its time and the
#     drafted and accepted tokens from /metrics.
# Usage: bench/speculative_decoding.sh MODEL_DIR [GSM8K_TEST_JSONL] [extra serve flags...]
#   e.g. bench/speculative_decoding.sh /tmp/minicpm3-4b-q4_0 --dtype q4_0 --threads 2
#        bench/speculative_decoding.sh models/demo ../shared/data/gsm8k/test.jsonl --threads 2
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
shift
data=""
if [ $# -gt 0 ] && [[ $1 != --* ]]; then
  data=$1
  shift
fi
bin=build/cpmserve
trap 'kill ${server:-} 2>/dev/null || true' EXIT
prompt=$(python3 -c "print(','.join(str(x) for x in [11, 523, 97, 4410, 1200, 77, 3051, 610] * 4))")

serve() {  # serve ALGORITHM FLAGS...: starts a server, sets url and server
  local algorithm=$1
  shift
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  url="http://127.0.0.1:$port"
  "$bin" serve --model-path "$model" --port "$port" --speculative-algorithm "$algorithm" "$@" \
    2>/tmp/speculative_decoding.log &
  server=$!
  until curl -sf "$url/health" >/dev/null; do
    kill -0 $server 2>/dev/null || { echo "the server exited:"; cat /tmp/speculative_decoding.log; exit 1; }
    sleep 1
  done
}

timed_request() {  # timed_request PENALTY: seconds for one /generate of 64 tokens
  local body="{\"input_ids\": [$prompt], \"sampling_params\": {\"max_new_tokens\": 64, \"temperature\": 0,
    \"frequency_penalty\": $1, \"ignore_eos\": true}}"
  local start end
  start=$(date +%s.%N)
  curl -sf "$url/generate" -H 'Content-Type: application/json' -d "$body" >/dev/null
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.2f}')"
}

for round in 1 2; do
  for algorithm in none ngram; do
    serve "$algorithm" "$@"
    if [ -z "$data" ]; then
      timed_request 0 >/dev/null  # caches the prompt
      echo "round $round, $algorithm: repeating output $(timed_request -2) $(timed_request -2) s," \
        "plain output $(timed_request 0) $(timed_request 0) s"
    else
      start=$(date +%s.%N)
      accuracy=$("$bin" eval gsm8k --base-url "$url" --data-path "$data" --num-questions 100 --parallel 1 --json |
        python3 -c "import json, sys; print(json.load(sys.stdin)['accuracy'])")
      end=$(date +%s.%N)
      echo "round $round, $algorithm: gsm8k accuracy $accuracy in $(python3 -c "print(f'{$end - $start:.2f}')") s"
    fi
    curl -sf "$url/metrics" | grep -E '^cpmserve_(spec_draft|spec_accepted|generation)_tokens_total'
    kill $server
    wait $server 2>/dev/null || true
  done
done
