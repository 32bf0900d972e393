#!/usr/bin/env bash
# Tensor parallelism across two "hosts": two network namespaces joined by a veth pair, one rank in
# each, mpirun starting the remote one through a launch agent (as it would through ssh) and the ranks
# talking over MPI's TCP transport on the veth link only. Logits and greedy tokens must match one
# process. Needs root and network namespaces; exits 77 (skipped) with the reason when they are missing.
set -uo pipefail
bin=$1
source_dir=$2
keep_loaded=${3:-}
skip() { echo "SKIPPED: $1"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null || skip "needs iproute2 (ip)"
work=$(mktemp -d)
a=cpm_a_$$ b=cpm_b_$$
cleanup() { ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$a" 2>"$work/err" && ip netns add "$b" 2>>"$work/err" || skip "cannot create network namespaces: $(cat "$work/err")"
# Host A is 10.77.0.1, host B 10.77.0.2, joined by one veth pair (the "network cable").
if ! { ip link add "va$$" type veth peer name "vb$$" && ip link set "va$$" netns "$a" && ip link set "vb$$" netns "$b" &&
       ip -n "$a" addr add 10.77.0.1/24 dev "va$$" && ip -n "$b" addr add 10.77.0.2/24 dev "vb$$" &&
       ip -n "$a" link set "va$$" up && ip -n "$b" link set "vb$$" up &&
       ip -n "$a" link set lo up && ip -n "$b" link set lo up; } 2>"$work/err"; then
  skip "cannot join the namespaces with a veth pair: $(cat "$work/err")"
fi
# mpirun runs in A; it reaches B the way it would run ssh, through this agent.
cat >"$work/agent" <<AGENT
#!/bin/sh
host=\$1; shift
case "\$host" in
  10.77.0.1) ns=$a ;;
  10.77.0.2) ns=$b ;;
  *) echo "unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
AGENT
chmod +x "$work/agent"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' >"$work/hostfile"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(ip netns exec "$a" mpirun -np 2 --hostfile "$work/hostfile" --allow-run-as-root --bind-to none
     --mca plm_rsh_agent "$work/agent" --mca btl self,tcp
     --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24
     -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM)
asan_runtime=$(ldd "$bin" | awk '/libasan/ {print $3}')
if [ -n "$asan_runtime" ] && [ -n "$keep_loaded" ]; then  # as in tensor_parallel_mpi_test.sh
  mpi+=(-x "LD_PRELOAD=$asan_runtime:$keep_loaded"
        -x "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
        -x "LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$source_dir/tests/dist/lsan_mpi.supp")
fi
passed=0
failed=0
fail() { failed=$((failed + 1)); echo "FAIL: $1"; cat "$work/err"; }
check() {
  local name=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then passed=$((passed + 1)); else fail "$name"; fi
}
check "the ranks run on two hosts" "${mpi[@]}" /bin/sh -c 'echo "$OMPI_COMM_WORLD_RANK $(ip -br -4 addr show | grep -o "10\.77\.0\.[12]")"'
cp "$work/out" "$work/placement"
check "rank 0 on 10.77.0.1, rank 1 on 10.77.0.2" sh -c "grep -qx '0 10.77.0.1' $work/placement && grep -qx '1 10.77.0.2' $work/placement"
for checkpoint in tiny-a tiny-c; do
  model="$source_dir/tests/data/golden/$checkpoint"
  flags=(--model-path "$model" --threads 1 --prompt-ids 1,17,42,5,99,3)
  check "$checkpoint: logits, one process" "$bin" logits "${flags[@]}" --all-positions
  cp "$work/out" "$work/single.json"
  check "$checkpoint: logits, two hosts" "${mpi[@]}" "$bin" logits "${flags[@]}" --all-positions --tp-size 2
  cp "$work/out" "$work/hosts.json"
  check "$checkpoint: logits within 5e-4" python3 - "$work/single.json" "$work/hosts.json" <<'PY'
import json, sys
single, hosts = (json.load(open(path))["logits"] for path in sys.argv[1:])
assert len(single) == len(hosts) and all(len(a) == len(b) for a, b in zip(single, hosts))
worst = max(abs(x - y) for a, b in zip(single, hosts) for x, y in zip(a, b))
assert worst <= 5e-4, f"largest difference {worst}"
PY
  check "$checkpoint: generate, one process" "$bin" generate "${flags[@]}" --max-new-tokens 12 --ignore-eos --json
  cp "$work/out" "$work/single.json"
  check "$checkpoint: generate, two hosts" "${mpi[@]}" "$bin" generate "${flags[@]}" --max-new-tokens 12 --ignore-eos --json --tp-size 2
  cp "$work/out" "$work/hosts.json"
  check "$checkpoint: same greedy tokens" cmp "$work/single.json" "$work/hosts.json"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
