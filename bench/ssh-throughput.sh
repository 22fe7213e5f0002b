#!/usr/bin/env bash
# SSH transport throughput: streams SIZE bytes (default 1 GiB) through the ssh2 transport (examples/ssh_bench)
# and through the OpenSSH client into `cat >/dev/null` on a loopback sshd started here, with the same cipher,
# RUNS times each (default 3), alternating; prints every run, the medians and the ratio ssh2/OpenSSH.
#   bench/ssh-throughput.sh [SIZE_BYTES] [RUNS] [CIPHER]
# PROFILE="perf record -g -o /tmp/ssh2.perf" (for example) runs the ssh2 side under that command.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}; runs=${2:-3}; cipher=${3:-aes128-gcm@openssh.com}
port=2222
dir=$(mktemp -d /tmp/zreplrs-sshbench.XXXXXX)
cleanup() { [ -f "$dir/sshd.pid" ] && kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
cargo build --quiet --release --example ssh_bench
ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$dir/id"
cp "$dir/id.pub" "$dir/authorized_keys"
mkdir -p /run/sshd
cat >"$dir/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Ciphers $cipher
CFG
/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
for _ in $(seq 100); do [ -f "$dir/sshd.pid" ] && break; sleep 0.05; done
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
user=$(id -un)
ours=(); theirs=()
for i in $(seq "$runs"); do
  t0=$(date +%s.%N)
  head -c "$size" /dev/zero | ${PROFILE_OPENSSH:-} ssh -q -c "$cipher" -p "$port" -i "$dir/id" -o UserKnownHostsFile="$dir/known_hosts" \
    -o StrictHostKeyChecking=yes -o Compression=no "$user@127.0.0.1" 'cat >/dev/null'
  t1=$(date +%s.%N)
  o=$(echo "$t1 - $t0" | bc -l)
  out=$(head -c "$size" /dev/zero | ${PROFILE:-} target/release/examples/ssh_bench "$user" 127.0.0.1 "$port" "$dir/id" "$dir/known_hosts" "$cipher")
  t2=$(date +%s.%N)
  z=$(echo "$t2 - $t1" | bc -l)
  printf 'run %d: openssh %.2f s (%.0f MiB/s)   ssh2 %.2f s (%.0f MiB/s)   [%s]\n' "$i" "$o" "$(echo "$size/1048576/$o" | bc -l)" "$z" "$(echo "$size/1048576/$z" | bc -l)" "$out"
  theirs+=("$o"); ours+=("$z")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mo=$(median "${theirs[@]}"); mz=$(median "${ours[@]}")
printf 'cipher %s, %d bytes, %d runs\nmedian openssh %.2f s (%.0f MiB/s), ssh2 transport %.2f s (%.0f MiB/s)\nthroughput ratio ssh2/openssh: %.3f\n' \
  "$cipher" "$size" "$runs" "$mo" "$(echo "$size/1048576/$mo" | bc -l)" "$mz" "$(echo "$size/1048576/$mz" | bc -l)" "$(echo "$mo/$mz" | bc -l)"
