#!/bin/bash
# Runs inside the zreplrs test VM (started by bench/run-vm): P2 local throughput against a raw
# `zfs send | zfs recv`, P3 a no-op run over 200 filesystems × 20 snapshots against syncoid and
# zfs-autobackup (time and `zfs` spawns), P4 catching up 200 small snapshots against syncoid, P5 peak RSS
# while sending 2 GiB, P7 bandwidth limit accuracy, P8 compression in transit against syncoid, P9 fan-in (1, 3
# and 6 senders to one receiver: throughput and memory per agent). Prints every
# run, medians and ratios.
set -u
export PATH=/host/bin:$PATH
RUNS=${RUNS:-3}
WHICH=${WHICH:-"p2 p3 p4 p5"}
ZFS=$(command -v zfs)
mkdir -p /tmp/wrap /etc/zreplrs
# A zfs wrapper that counts spawns (first on PATH for the tool being counted): one line per spawn with the
# spawning process's command line and the zfs arguments, so spawns can be told apart by side.
cat >/tmp/wrap/zfs <<W
#!/bin/sh
echo "\$(tr '\\0' ' ' </proc/\$PPID/cmdline 2>/dev/null):: \$*" >>/tmp/zfs-spawns
exec $ZFS "\$@"
W
chmod +x /tmp/wrap/zfs
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
calc() { awk "BEGIN { printf \"%.4f\", $1 }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
spawns() { wc -l </tmp/zfs-spawns 2>/dev/null || echo 0; }
# zreplrs spawns by side: the receiving side is its recv-agent, everything else is the sender.
agent_spawns() { awk -F ':: ' '$1 ~ /recv-agent/' /tmp/zfs-spawns | wc -l; }
spawn_kinds() { sed 's/.*:: //' /tmp/zfs-spawns | awk '{print $1}' | sort | uniq -c | awk '{printf "%s%s x%s", s, $2, $1; s=", "}'; }
counted() { : >/tmp/zfs-spawns; PATH=/tmp/wrap:$PATH ZREPLRS_ZFS=/tmp/wrap/zfs "$@"; }
# Transaction groups a command committed changes in, read from the pools' own history (`zpool history -i`
# records every change with its txg, whether a `zfs` process or zreplrs's libzfs_core calls made it):
# `txg_mark POOL...` before, `txg_count` after (distinct txgs with a change, summed over the pools). The
# history is a ring buffer, so the mark is the newest txg number, not a line count.
txgs_of() { zpool history -i "$1" | grep -o 'txg:[0-9]*' | cut -d: -f2 | sort -un; }
txg_mark() { txg_pools=("$@"); txg_from=(); for p in "$@"; do txg_from+=("$(txgs_of "$p" | tail -1)"); done; }
txg_count() {
  local i n=0
  for i in "${!txg_pools[@]}"; do
    n=$((n + $(txgs_of "${txg_pools[$i]}" | awk -v m="${txg_from[$i]:-0}" '$1 > m' | wc -l)))
  done
  echo "$n"
}
job() { # name target filesystem-rules...   ($JOB_EXTRA: more job keys)
  local name=$1 target=$2; shift 2
  { echo "[global]"; echo "lock_dir = \"/tmp\""; echo; echo "[[jobs]]"; echo "name = \"$name\""; echo "target = \"$target\""
    if [ -n "${JOB_EXTRA:-}" ]; then echo "$JOB_EXTRA"; fi
    echo "[jobs.filesystems]"; for r in "$@"; do echo "$r"; done; } >"/etc/zreplrs/$name.toml"
}
zr() { local name=$1; shift; zreplrs --config "/etc/zreplrs/$name.toml" replicate --job "$name" --format json --quiet "$@"; }
zfs version | head -1
echo "sanoid/syncoid $(dpkg-query -W -f '${Version}' sanoid), zfs-autobackup $(pip3 show zfs-autobackup 2>/dev/null | awk '/^Version/{print $2}'), zreplrs $(zreplrs version | cut -d' ' -f2)"

if [[ " $WHICH " == *" p2 "* ]]; then
  echo; echo "== P2: local throughput, 1 GiB of random data, zreplrs vs zfs send | zfs recv"
  truncate -s 3G /tmp/p2s.img /tmp/p2d.img
  zpool create -O mountpoint=/p2 -O compression=off p2s /tmp/p2s.img
  zpool create -O mountpoint=none -O compression=off p2d /tmp/p2d.img
  zfs create p2s/big; head -c 1073741824 /dev/urandom >/p2/big/data; zfs snapshot p2s/big@s1
  zfs create p2d/zr
  job p2 local:p2d/zr '"p2s/big" = true'
  raw=(); ours=()
  for i in $(seq "$RUNS"); do
    t0=$(now); zfs send p2s/big@s1 | zfs receive -u p2d/raw; t1=$(now)
    zfs destroy -r p2d/raw
    t2=$(now); zr p2 >/tmp/p2.json; t3=$(now)
    for h in $(zfs list -H -o name -t snapshot -r p2d/zr); do zfs release zrepl_last_received_J_p2 "$h" 2>/dev/null; done
    zfs destroy -r p2d/zr/p2s; for b in $(zfs list -H -o name -t bookmark p2s/big); do zfs destroy "$b"; done
    r=$(elapsed "$t0" "$t1"); z=$(elapsed "$t2" "$t3"); raw+=("$r"); ours+=("$z")
    printf 'run %d: raw %.2f s, zreplrs %.2f s\n' "$i" "$r" "$z"
  done
  mr=$(median "${raw[@]}"); mz=$(median "${ours[@]}")
  printf 'P2 median: raw %.2f s (%.0f MiB/s), zreplrs %.2f s (%.0f MiB/s), throughput ratio zreplrs/raw %.3f\n' \
    "$mr" "$(calc "1024/$mr")" "$mz" "$(calc "1024/$mz")" "$(calc "$mr/$mz")"
  zpool destroy p2s; zpool destroy p2d; rm -f /tmp/p2s.img /tmp/p2d.img
fi

if [[ " $WHICH " == *" p5 "* ]]; then
  echo; echo "== P5: peak RSS of zreplrs (the sending process) while sending 2 GiB"
  truncate -s 5G /tmp/p5s.img /tmp/p5d.img
  zpool create -O mountpoint=/p5 -O compression=off p5s /tmp/p5s.img
  zpool create -O mountpoint=none -O compression=off p5d /tmp/p5d.img
  zfs create p5s/big; head -c 2147483648 /dev/urandom >/p5/big/data; zfs snapshot p5s/big@s1; zfs create p5d/zr
  job p5 local:p5d/zr '"p5s/big" = true'
  # zreplrs itself in the background (not the zr function, whose $! would be a bash subshell); its agent
  # (`zreplrs recv-agent`, a child for local: targets) is sampled too. The receiver is reset between runs.
  peaks=(); apeaks=()
  for i in $(seq "$RUNS"); do
    zreplrs --config /etc/zreplrs/p5.toml replicate --job p5 --format json --quiet >/tmp/p5.json & pid=$!
    hwm=0; ahwm=0
    while kill -0 "$pid" 2>/dev/null; do
      v=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null); [ -n "$v" ] && hwm=$v
      for a in $(pgrep -P "$pid" -f recv-agent); do
        v=$(awk '/VmHWM/{print $2}' "/proc/$a/status" 2>/dev/null); [ -n "$v" ] && [ "$v" -gt "$ahwm" ] && ahwm=$v
      done
      sleep 0.2
    done
    wait "$pid"; rc=$?
    printf 'run %d: exit %d, bytes replicated %s, peak RSS of zreplrs (sender) %d KiB, of its recv-agent %d KiB\n' \
      "$i" "$rc" "$(grep -m1 bytes_replicated /tmp/p5.json | tr -dc 0-9)" "$hwm" "$ahwm"
    peaks+=("$hwm"); apeaks+=("$ahwm")
    for h in $(zfs list -H -o name -t snapshot -r p5d/zr); do zfs release zrepl_last_received_J_p5 "$h" 2>/dev/null; done
    zfs destroy -r p5d/zr/p5s; for b in $(zfs list -H -o name -t bookmark p5s/big); do zfs destroy "$b"; done
  done
  mp=$(median "${peaks[@]}"); ma=$(median "${apeaks[@]}")
  printf 'P5 median peak RSS: zreplrs (sender) %.1f MiB, recv-agent %.1f MiB\n' "$(calc "$mp/1024")" "$(calc "$ma/1024")"
  zpool destroy p5s; zpool destroy p5d; rm -f /tmp/p5s.img /tmp/p5d.img
fi

if [[ " $WHICH " == *" p4 "* ]]; then
  echo; echo "== P4: catch-up of 200 small snapshots on one filesystem, zreplrs vs syncoid"
  truncate -s 1G /tmp/p4s.img /tmp/p4d.img
  zpool create -O mountpoint=/p4 p4s /tmp/p4s.img; zpool create -O mountpoint=none p4d /tmp/p4d.img
  zfs create p4s/c; zfs snapshot p4s/c@s0; zfs create p4d/zr; zfs create p4d/so
  job p4 local:p4d/zr '"p4s/c" = true'
  zr p4 >/dev/null; syncoid --quiet --no-sync-snap p4s/c p4d/so/c >/dev/null 2>&1
  ours=(); theirs=()
  for i in $(seq "$RUNS"); do
    for n in $(seq 200); do echo "$i.$n" >>/p4/c/log; zfs snapshot "p4s/c@r${i}_$n"; done
    zpool sync p4s
    p4_zr() { txg_mark p4s p4d; t0=$(now); counted zr p4 >/tmp/p4.json; t1=$(now); zs=$(spawns); zx=$(txg_count); }
    p4_so() { txg_mark p4s p4d; t2=$(now); counted syncoid --quiet --no-sync-snap p4s/c p4d/so/c >/dev/null 2>&1; t3=$(now); ss=$(spawns); sx=$(txg_count); }
    # Who goes first alternates from run to run.
    if [ $((i % 2)) -eq 1 ]; then p4_zr; p4_so; else p4_so; p4_zr; fi
    z=$(elapsed "$t0" "$t1"); s=$(elapsed "$t2" "$t3"); ours+=("$z"); theirs+=("$s")
    printf 'run %d: zreplrs %.1f s (%d zfs spawns, %d txgs), syncoid %.1f s (%d zfs spawns, %d txgs); receiver snapshots zreplrs %d, syncoid %d\n' "$i" "$z" "$zs" "$zx" "$s" "$ss" "$sx" \
      "$(zfs list -H -t snapshot -d 1 p4d/zr/p4s/c | wc -l)" "$(zfs list -H -t snapshot -d 1 p4d/so/c | wc -l)"
  done
  mz=$(median "${ours[@]}"); ms=$(median "${theirs[@]}")
  printf 'P4 median: zreplrs %.1f s, syncoid %.1f s, time ratio zreplrs/syncoid %.2f\n' "$mz" "$ms" "$(calc "$mz/$ms")"
  zpool destroy p4s; zpool destroy p4d; rm -f /tmp/p4s.img /tmp/p4d.img
fi

if [[ " $WHICH " == *" p3 "* ]]; then
  echo; echo "== P3: no-op run, 200 filesystems x 20 snapshots already replicated"
  P3_RUNS=${P3_RUNS:-$RUNS}
  truncate -s 4G /tmp/p3s.img
  zpool create -O mountpoint=none p3s /tmp/p3s.img
  zfs create -o autobackup:zab=true p3s/data
  t0=$(now)
  for n in $(seq -w 200); do zfs create "p3s/data/fs$n"; done
  for s in $(seq -w 20); do zfs snapshot -r "p3s/data@zab-202611270000$s"; done
  # The receiver is a copy of the pool (same dataset and snapshot GUIDs), reguided and renamed into place:
  # this replaces a 15-minute `zfs send -R` seed.
  zpool export p3s; cp --sparse=always /tmp/p3s.img /tmp/p3d.img
  zpool import -d /tmp/p3d.img p3s p3d; zpool reguid p3d; zpool import -d /tmp/p3s.img p3s
  zfs create p3d/zr; zfs create p3d/zr/p3s; zfs rename p3d/data p3d/zr/p3s/data
  zfs inherit autobackup:zab p3d/zr/p3s/data
  echo "setup $(elapsed "$t0" "$(now)" | cut -c1-6) s: $(zfs list -H -r -t filesystem p3s | wc -l) filesystems, $(zfs list -H -r -t snapshot p3s | wc -l) snapshots per side"
  job p3 local:p3d/zr '"p3s/data<" = true'
  t0=$(now); zr p3 >/tmp/p3-first.json; echo "zreplrs first run (creates 201 cursors, last-received holds and sync records): $(elapsed "$t0" "$(now)" | cut -c1-6) s, result $(grep -m1 '"result"' /tmp/p3-first.json | sed -E 's/.*"result": *"([a-z_]+)".*/\1/')"
  # P3_ZAB=0 leaves zfs-autobackup out: its first run on this tree takes about 30 minutes in the guest.
  if [ "${P3_ZAB:-1}" = 1 ]; then
    zab_first=$( { t0=$(now); zfs-autobackup --no-snapshot --no-progress zab p3d/zr >/tmp/zab-first.log 2>&1; echo "exit $?, $(elapsed "$t0" "$(now)" | cut -c1-6) s"; } )
    echo "zfs-autobackup first run: $zab_first"
  fi
  ours=(); so=(); zab=()
  for i in $(seq "$P3_RUNS"); do
    t0=$(now); counted zr p3 >/tmp/p3.json; t1=$(now); zs=$(spawns); za=$(agent_spawns)
    echo "zreplrs spawns: sender $((zs - za)), receiver (recv-agent) $za; by subcommand: $(spawn_kinds)"
    t2=$(now); counted syncoid --quiet -r --no-sync-snap p3s/data p3d/zr/p3s/data >/dev/null 2>&1; t3=$(now); ss=$(spawns)
    t4=$(now); as=0
    if [ "${P3_ZAB:-1}" = 1 ]; then counted zfs-autobackup --no-snapshot --no-progress zab p3d/zr >/dev/null 2>&1; as=$(spawns); fi
    t5=$(now)
    z=$(elapsed "$t0" "$t1"); s=$(elapsed "$t2" "$t3"); a=$(elapsed "$t4" "$t5"); ours+=("$z"); so+=("$s"); zab+=("$a")
    printf 'run %d: zreplrs %.1f s (%d zfs spawns, result %s), syncoid -r %.1f s (%d spawns)' \
      "$i" "$z" "$zs" "$(grep -m1 '"result"' /tmp/p3.json | sed -E 's/.*"result": *"([a-z_]+)".*/\1/')" "$s" "$ss"
    if [ "${P3_ZAB:-1}" = 1 ]; then printf ', zfs-autobackup %.1f s (%d spawns)' "$a" "$as"; fi
    echo
  done
  mz=$(median "${ours[@]}"); ms=$(median "${so[@]}"); ma=$(median "${zab[@]}")
  if [ "${P3_ZAB:-1}" = 1 ]; then
    printf 'P3 median: zreplrs %.1f s, syncoid %.1f s, zfs-autobackup %.1f s; ratio zreplrs/syncoid %.3f, zreplrs/zfs-autobackup %.3f\n' \
      "$mz" "$ms" "$ma" "$(calc "$mz/$ms")" "$(calc "$mz/$ma")"
  else
    printf 'P3 median: zreplrs %.1f s, syncoid %.1f s; ratio zreplrs/syncoid %.3f\n' "$mz" "$ms" "$(calc "$mz/$ms")"
  fi
fi

# Loopback SSH for P7 and P8: sshd on 127.0.0.1:2222; key zr is forced to `zreplrs recv-agent` on the
# receiver root, key so is plain (syncoid runs zfs over it).
ssh_setup() { # receiver-root
  mkdir -p /tmp/lssh /run/sshd /root/.ssh
  if [ ! -f /tmp/lssh/zr ]; then
    ssh-keygen -q -t ed25519 -N '' -f /tmp/lssh/host_key
    ssh-keygen -q -t ed25519 -N '' -f /tmp/lssh/zr; ssh-keygen -q -t ed25519 -N '' -f /tmp/lssh/so
  fi
  { echo "command=\"/host/bin/zreplrs recv-agent --root-fs $1\",restrict $(cat /tmp/lssh/zr.pub)"; cat /tmp/lssh/so.pub; } >/tmp/lssh/authorized_keys
  [ -f /tmp/lssh/sshd.pid ] && kill -0 "$(cat /tmp/lssh/sshd.pid)" 2>/dev/null && return 0
  cat >/tmp/lssh/sshd_config <<CFG
Port 2222
ListenAddress 127.0.0.1
HostKey /tmp/lssh/host_key
AuthorizedKeysFile /tmp/lssh/authorized_keys
PidFile /tmp/lssh/sshd.pid
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
SetEnv PATH=/host/bin:/usr/sbin:/usr/bin:/sbin:/bin
CFG
  /usr/sbin/sshd -f /tmp/lssh/sshd_config -E /tmp/lssh/sshd.log
  for _ in $(seq 100); do [ -f /tmp/lssh/sshd.pid ] && break; sleep 0.05; done
  echo "[127.0.0.1]:2222 $(cut -d' ' -f1,2 /tmp/lssh/host_key.pub)" >/tmp/lssh/known_hosts
  cp /tmp/lssh/known_hosts /root/.ssh/known_hosts
}
ssh_job() { # name receiver-root filesystem-rules... (an ssh:// job through the zr key)
  local name=$1 root=$2; shift 2
  job "$name" "ssh://root@127.0.0.1:2222/$root" "$@"
  printf '[jobs.ssh]\nidentity_files = ["/tmp/lssh/zr"]\nknown_hosts = "/tmp/lssh/known_hosts"\n' >>"/etc/zreplrs/$name.toml"
}
# Resets a zreplrs receiver copy of sender filesystem $1 below root $2 (job $3): holds, copy, cursors.
zr_reset() {
  for h in $(zfs list -H -o name -t snapshot -r "$2" 2>/dev/null); do zfs release "zrepl_last_received_J_$3" "$h" 2>/dev/null; done
  zfs destroy -r "$2/$1" 2>/dev/null; for b in $(zfs list -H -o name -t bookmark "$1"); do zfs destroy "$b"; done
}
# Samples the bytes read by the `zfs receive` into $1 every 50 ms until it ends; prints the rate in MiB/s
# between the first and the last sample that saw the transfer under way (start-up and the end excluded).
receive_rate() {
  local target=$1 pid="" t b first_t="" first_b="" last_t="" last_b=""
  for _ in $(seq 600); do pid=$(pgrep -f "zfs receive.*$target" | head -1); [ -n "$pid" ] && break; sleep 0.05; done
  [ -n "$pid" ] || { echo "nan"; return; }
  while [ -r "/proc/$pid/io" ]; do
    b=$(awk '/^rchar/{print $2}' "/proc/$pid/io" 2>/dev/null); t=$(now)
    if [ -n "$b" ] && [ "$b" -gt 0 ]; then
      if [ -z "$first_t" ]; then first_t=$t; first_b=$b; fi
      last_t=$t; last_b=$b
    fi
    sleep 0.05
  done
  awk -v b0="$first_b" -v b1="$last_b" -v t0="$first_t" -v t1="$last_t" 'BEGIN { printf "%.3f", (b1 - b0) / (t1 - t0) / 1048576 }'
}

if [[ " $WHICH " == *" p7 "* ]]; then
  echo; echo "== P7: bandwidth limit accuracy, 256 MiB of random data, limits 10 and 40 MiB/s, local: and ssh://"
  truncate -s 2G /tmp/p7s.img /tmp/p7d.img
  zpool create -O mountpoint=/p7 -O compression=off p7s /tmp/p7s.img
  zpool create -O mountpoint=none -O compression=off p7d /tmp/p7d.img
  zfs create p7s/r; head -c 268435456 /dev/urandom >/p7/r/data; zfs snapshot p7s/r@s1
  zfs create p7d/loc; zfs create p7d/ssh
  ssh_setup p7d/ssh
  job p7l local:p7d/loc '"p7s/r" = true'
  ssh_job p7s p7d/ssh '"p7s/r" = true'
  # Each transport's throughput without a limit, in this guest: a limit above it cannot bind.
  for via in local ssh; do
    if [ $via = local ]; then name=p7l; root=p7d/loc; else name=p7s; root=p7d/ssh; fi
    zr_reset p7s/r "$root" "$name"
    zr "$name" --compression off >/tmp/p7.json & pid=$!
    rate=$(receive_rate "$root/p7s/r"); wait "$pid"
    printf 'P7 %s without a limit: %.2f MiB/s\n' "$via" "$rate"
  done
  for limit in ${P7_LIMITS:-10 40}; do
    for via in local ssh; do
      if [ $via = local ]; then name=p7l; root=p7d/loc; else name=p7s; root=p7d/ssh; fi
      rates=(); devs=()
      for i in $(seq "$RUNS"); do
        zr_reset p7s/r "$root" "$name"
        zr "$name" --bandwidth-limit "${limit}MiB/s" --compression off >/tmp/p7.json & pid=$!
        rate=$(receive_rate "$root/p7s/r"); wait "$pid"; rc=$?
        wire=$(grep -m1 '"wire_bytes_replicated"' /tmp/p7.json | tr -dc 0-9)
        dev=$(calc "($rate/$limit - 1) * 100")
        printf 'run %d: %s limit %d MiB/s: exit %d, %s wire bytes, measured %.2f MiB/s (%+.1f %%)\n' "$i" "$via" "$limit" "$rc" "$wire" "$rate" "$dev"
        rates+=("$rate"); devs+=("$dev")
      done
      mr=$(median "${rates[@]}")
      printf 'P7 median %s at %d MiB/s: %.2f MiB/s, deviation %+.1f %%\n' "$via" "$limit" "$mr" "$(calc "($mr/$limit - 1) * 100")"
    done
  done
  zpool destroy p7s; zpool destroy p7d; rm -f /tmp/p7s.img /tmp/p7d.img
fi

if [[ " $WHICH " == *" p8 "* ]]; then
  echo; echo "== P8: compression in transit over ssh://, 128 MiB of text (an SQL dump) and 128 MiB of random data"
  truncate -s 2G /tmp/p8s.img /tmp/p8d.img
  zpool create -O mountpoint=/p8 -O compression=off p8s /tmp/p8s.img
  zpool create -O mountpoint=none -O compression=off p8d /tmp/p8d.img
  zfs create p8s/text; zfs create p8s/rand
  awk 'BEGIN { srand(8); while (n < 134217728) { l = sprintf("INSERT INTO orders (id, customer, item, qty, price, created) VALUES (%d, '"'"'customer_%05d'"'"', '"'"'sku-%04d'"'"', %d, %.2f, '"'"'2026-%02d-%02d %02d:%02d:%02d'"'"');\n", NR++, int(rand()*50000), int(rand()*3000), 1+int(rand()*9), rand()*500, 1+int(rand()*12), 1+int(rand()*28), int(rand()*24), int(rand()*60), int(rand()*60)); printf "%s", l; n += length(l) } }' >/p8/text/dump.sql
  head -c 134217728 /dev/urandom >/p8/rand/data
  zfs snapshot p8s/text@s1; zfs snapshot p8s/rand@s1
  zfs create p8d/zr; zfs create p8d/so
  ssh_setup p8d/zr
  lo() { cat /sys/class/net/lo/statistics/tx_bytes; }
  for data in text rand; do
    ssh_job "p8$data" p8d/zr "\"p8s/$data\" = true"
    for mode in off zstd:1 zstd:3 syncoid-none syncoid-zstd-fast; do
      secs=(); wires=()
      for i in $(seq "$RUNS"); do
        zr_reset "p8s/$data" p8d/zr "p8$data"; zfs destroy -r "p8d/so/$data" 2>/dev/null
        b0=$(lo); t0=$(now)
        case $mode in
          syncoid-*) syncoid --quiet --no-sync-snap --sshport=2222 --sshkey=/tmp/lssh/so \
                       --compress="${mode#syncoid-}" "p8s/$data" "root@127.0.0.1:p8d/so/$data" >/dev/null 2>&1; rc=$? ;;
          *) zr "p8$data" --compression "$mode" >/tmp/p8.json; rc=$? ;;
        esac
        t1=$(now); b1=$(lo)
        s=$(elapsed "$t0" "$t1"); w=$((b1 - b0))
        extra=""; case $mode in syncoid-*) ;; *) extra=", JSON wire_bytes $(grep -m1 '"wire_bytes_replicated"' /tmp/p8.json | tr -dc 0-9) of $(grep -m1 '"bytes_replicated"' /tmp/p8.json | tr -dc 0-9) stream bytes";; esac
        printf 'run %d: %s %s: exit %d, %.2f s, %d bytes on lo (%.1f MiB/s of data)%s\n' "$i" "$data" "$mode" "$rc" "$s" "$w" "$(calc "128/$s")" "$extra"
        secs+=("$s"); wires+=("$w")
      done
      ms=$(median "${secs[@]}"); mw=$(median "${wires[@]}")
      printf 'P8 median %s %s: %.2f s (%.1f MiB/s of data), %.1f MiB on the wire (ratio %.3f of 128 MiB)\n' \
        "$data" "$mode" "$ms" "$(calc "128/$ms")" "$(calc "$mw/1048576")" "$(calc "$mw/134217728")"
    done
  done
  kill "$(cat /tmp/lssh/sshd.pid)" 2>/dev/null
  zpool destroy p8s; zpool destroy p8d; rm -f /tmp/p8s.img /tmp/p8d.img
fi

if [[ " $WHICH " == *" p6 "* ]]; then
  echo; echo "== P6: the hourly run, 100 filesystems each with one new snapshot (64 KiB written), every tool caught up"
  P6_FS=${P6_FS:-100}
  truncate -s 4G /tmp/p6s.img /tmp/p6d.img
  zpool create -O mountpoint=/p6 p6s /tmp/p6s.img; zpool create -O mountpoint=none p6d /tmp/p6d.img
  zfs create -o autobackup:zab=true p6s/data
  for n in $(seq -w "$P6_FS"); do zfs create "p6s/data/fs$n"; done
  zfs snapshot -r p6s/data@zab-20261203000000
  zfs create p6d/zr; zfs create p6d/zr1; zfs create p6d/so; zfs create p6d/zab
  job p6 local:p6d/zr '"p6s/data<" = true'
  JOB_EXTRA='concurrency = 1' job p6c1 local:p6d/zr1 '"p6s/data<" = true'
  t0=$(now)
  zr p6 >/dev/null; if [ "${P6_C1:-1}" = 1 ]; then zr p6c1 >/dev/null; fi
  syncoid --quiet -r --no-sync-snap p6s/data p6d/so/data >/dev/null 2>&1
  if [ "${P6_ZAB:-1}" = 1 ]; then zfs-autobackup --no-snapshot --no-progress zab p6d/zab >/dev/null 2>&1; fi
  echo "setup and first runs: $(elapsed "$t0" "$(now)" | cut -c1-6) s; receivers: zreplrs $(zfs list -H -r -t snapshot p6d/zr | wc -l), syncoid $(zfs list -H -r -t snapshot p6d/so | wc -l), zfs-autobackup $(zfs list -H -r -t snapshot p6d/zab | wc -l) snapshots"
  # Spawns: `zfs` processes. Transactions: the transaction groups each tool committed changes in, on both pools.
  # P6_C1=0 leaves out the concurrency-1 run, P6_ZAB=0 zfs-autobackup (the ratio is then against syncoid).
  P6_C1=${P6_C1:-1} P6_ZAB=${P6_ZAB:-1}
  zr4=(); zr1=(); so=(); zab=()
  timed() { txg_mark p6s p6d; local t0; t0=$(now); counted "$@" >/tmp/p6.out 2>&1; T=$(elapsed "$t0" "$(now)"); S=$(spawns); X=$(txg_count); }
  for i in $(seq "$RUNS"); do
    for n in $(seq -w "$P6_FS"); do head -c 65536 /dev/urandom >"/p6/data/fs$n/f$i"; done
    zfs snapshot -r "p6s/data@zab-2026120301000$i"
    timed zr p6; a=$T s4=$S x4=$X; result=$(grep -m1 '"result"' /tmp/p6.out | sed -E 's/.*"result": *"([a-z_]+)".*/\1/')
    b=0 s1=0 x1=0; if [ "$P6_C1" = 1 ]; then timed zr p6c1; b=$T s1=$S x1=$X; fi
    timed syncoid --quiet -r --no-sync-snap p6s/data p6d/so/data; c=$T ss=$S xs=$X
    d=0 sa=0 xa=0; if [ "$P6_ZAB" = 1 ]; then timed zfs-autobackup --no-snapshot --no-progress zab p6d/zab; d=$T sa=$S xa=$X; fi
    zr4+=("$a"); zr1+=("$b"); so+=("$c"); zab+=("$d")
    part() { if [ "$1" = 0 ]; then echo "not run"; else printf '%.1f s (%.1f, %.2f)' "$2" "$(calc "$3/$P6_FS")" "$(calc "$4/$P6_FS")"; fi; }
    printf 'run %d: zreplrs (concurrency 4) %.1f s (result %s, %.1f spawns and %.2f txgs per fs), concurrency 1 %s, syncoid -r %s, zfs-autobackup %s\n' \
      "$i" "$a" "$result" "$(calc "$s4/$P6_FS")" "$(calc "$x4/$P6_FS")" \
      "$(part "$P6_C1" "$b" "$s1" "$x1")" "$(part 1 "$c" "$ss" "$xs")" "$(part "$P6_ZAB" "$d" "$sa" "$xa")"
  done
  # zreplrs's guarantees after the runs: one cursor per filesystem, no step holds, one last-received hold each.
  echo "zreplrs bookkeeping after the runs: $(zfs list -H -o name -r -t filesystem p6s/data | wc -l) filesystems," \
    "$(zfs list -H -o name -r -t bookmark p6s/data | grep -c '_J_p6$') cursors," \
    "$(zfs list -H -o name -r -t snapshot p6s/data | xargs zfs holds -H | grep -c 'zrepl_STEP_J_p6	') step holds," \
    "$(zfs list -H -o name -r -t snapshot p6d/zr | xargs zfs holds -H | grep -c 'zrepl_last_received_J_p6	') last-received holds"
  echo "receivers after the runs (snapshots): zreplrs $(zfs list -H -r -t snapshot p6d/zr | wc -l), concurrency 1 $(zfs list -H -r -t snapshot p6d/zr1 | wc -l), syncoid $(zfs list -H -r -t snapshot p6d/so | wc -l), zfs-autobackup $(zfs list -H -r -t snapshot p6d/zab | wc -l)"
  m4=$(median "${zr4[@]}"); m1=$(median "${zr1[@]}"); ms=$(median "${so[@]}"); ma=$(median "${zab[@]}")
  best=$(awk -v a="$ms" -v b="$ma" 'BEGIN { print (a < b || b == 0) ? a : b }')
  printf 'P6 median: zreplrs %.1f s (concurrency 1: %.1f s), syncoid %.1f s, zfs-autobackup %.1f s; ratio zreplrs/faster peer %.3f (concurrency 1: %.3f)\n' \
    "$m4" "$m1" "$ms" "$ma" "$(calc "$m4/$best")" "$(calc "$m1/$best")"
  zpool destroy p6s; zpool destroy p6d; rm -f /tmp/p6s.img /tmp/p6d.img
fi

if [[ " $WHICH " == *" p9 "* ]]; then
  echo; echo "== P9: fan-in, 1, 3 and 6 senders at once, each pushing 64 MiB (its own pool, its own key) over ssh:// to one receiver"
  P9_MIB=${P9_MIB:-64}
  truncate -s 2G /tmp/p9d.img
  zpool create -O mountpoint=none -O compression=off p9d /tmp/p9d.img; zfs create p9d/backup
  ssh_setup p9d/backup
  for n in 1 2 3 4 5 6; do
    truncate -s 512M "/tmp/p9s$n.img"
    zpool create -O "mountpoint=/p9/$n" -O compression=off "p9s$n" "/tmp/p9s$n.img"
    zfs create "p9s$n/data"; head -c $((P9_MIB * 1048576)) /dev/urandom >"/p9/$n/data/f"; zfs snapshot "p9s$n/data@s1"
    [ -f "/tmp/lssh/p9-$n" ] || ssh-keygen -q -t ed25519 -N '' -f "/tmp/lssh/p9-$n"
    echo "command=\"/host/bin/zreplrs recv-agent --root-fs p9d/backup --client-identity host$n\",restrict $(cat "/tmp/lssh/p9-$n.pub")" >>/tmp/lssh/authorized_keys
    job "p9-$n" "ssh://root@127.0.0.1:2222/p9d/backup/host$n" "\"p9s$n/data\" = true"
    printf '[jobs.ssh]\nidentity_files = ["/tmp/lssh/p9-%s"]\nknown_hosts = "/tmp/lssh/known_hosts"\n' "$n" >>"/etc/zreplrs/p9-$n.toml"
  done
  for senders in 1 3 6; do
    walls=(); peaks=()
    for i in $(seq "$RUNS"); do
      for n in 1 2 3 4 5 6; do zr_reset "p9s$n/data" "p9d/backup/host$n" "p9-$n"; done
      pids=(); t0=$(now)
      for n in $(seq "$senders"); do zr "p9-$n" --compression off >"/tmp/p9-$n.json" & pids+=($!); done
      # Every agent's peak resident memory, and how many ran at once, sampled every 100 ms.
      peak=0; most=0
      while :; do
        alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        agents=$(pgrep -f "recv-agent --root-fs p9d/backup --client-identity")
        count=$(echo "$agents" | grep -c .); [ "$count" -gt "$most" ] && most=$count
        for a in $agents; do
          v=$(awk '/VmHWM/{print $2}' "/proc/$a/status" 2>/dev/null); [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
        done
        [ "$alive" = 1 ] || break
        sleep 0.1
      done
      t1=$(now); failed=0
      for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
      w=$(elapsed "$t0" "$t1"); walls+=("$w"); peaks+=("$peak")
      printf 'run %d: %d senders: %.2f s, %.2f MiB/s at the receiver, %d runs failed, at most %d agents at once, peak agent RSS %.1f MiB\n' \
        "$i" "$senders" "$w" "$(calc "$senders*$P9_MIB/$w")" "$failed" "$most" "$(calc "$peak/1024")"
    done
    mw=$(median "${walls[@]}"); mp=$(median "${peaks[@]}")
    [ "$senders" = 1 ] && one=$(calc "$P9_MIB/$mw")
    printf 'P9 median, %d senders: %.2f s, receiver %.2f MiB/s (%.2fx one sender), peak RSS per agent %.1f MiB\n' \
      "$senders" "$mw" "$(calc "$senders*$P9_MIB/$mw")" "$(calc "$senders*$P9_MIB/$mw/$one")" "$(calc "$mp/1024")"
  done
  zpool destroy p9d; for n in 1 2 3 4 5 6; do zpool destroy "p9s$n"; rm -f "/tmp/p9s$n.img"; done; rm -f /tmp/p9d.img
fi

# P10 and P11: Garage (one node, release build) on 127.0.0.1, its bucket and key, rclone's remote `g:`.
garage_up() {
  [ -f /etc/zreplrs/s3.credentials ] && return
  mkdir -p /tmp/garage
  cat >/tmp/garage/g.toml <<G
metadata_dir = "/tmp/garage/meta"
data_dir = "/tmp/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:3901"
rpc_public_addr = "127.0.0.1:3901"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:3900"
G
  garage -c /tmp/garage/g.toml server >/tmp/garage/log 2>&1 &
  g() { garage -c /tmp/garage/g.toml "$@"; }
  until g status >/dev/null 2>&1; do sleep 1; done
  g layout assign -z dc1 -c 20G "$(g node id -q | cut -d@ -f1)" >/dev/null; g layout apply --version 1 >/dev/null
  until g bucket create zreplrs-bench >/dev/null 2>&1; do sleep 1; done
  key=$(g key create bench); g bucket allow --read --write --owner zreplrs-bench --key bench >/dev/null
  kid=$(echo "$key" | awk '/Key ID:/{print $3}'); ksec=$(echo "$key" | awk '/Secret key:/{print $3}')
  printf 'access_key_id = "%s"\nsecret_access_key = "%s"\n' "$kid" "$ksec" >/etc/zreplrs/s3.credentials
  chmod 600 /etc/zreplrs/s3.credentials
  export RCLONE_CONFIG_G_TYPE=s3 RCLONE_CONFIG_G_PROVIDER=Other RCLONE_CONFIG_G_ENDPOINT=http://127.0.0.1:3900 \
    RCLONE_CONFIG_G_REGION=garage RCLONE_CONFIG_G_FORCE_PATH_STYLE=true RCLONE_CONFIG_G_ACCESS_KEY_ID="$kid" \
    RCLONE_CONFIG_G_SECRET_ACCESS_KEY="$ksec"
}
store_extra() { printf '[jobs.store]\nendpoint = "http://127.0.0.1:3900"\nregion = "garage"\npath_style = true\ncredentials_file = "/etc/zreplrs/s3.credentials"\nallow_plaintext = true\n'; }
# S3 requests Garage served so far (one log line per request).
s3_requests() { grep -cE '(GET|PUT|POST|DELETE|HEAD) /' /tmp/garage/log; }

if [[ " $WHICH " == *" p10 "* ]]; then
  P10_BYTES=${P10_BYTES:-1073741824}
  echo; echo "== P10: $P10_BYTES bytes to an S3 store (Garage, one node) against zfs send | rclone rcat; restore; peak RSS"
  truncate -s 4G /tmp/p10s.img /tmp/p10d.img
  zpool create -O mountpoint=/p10 -O compression=off p10s /tmp/p10s.img
  zpool create -O mountpoint=none -O compression=off p10d /tmp/p10d.img
  zfs create p10s/big; head -c "$P10_BYTES" /dev/urandom >/p10/big/data; zfs snapshot p10s/big@s1
  garage_up
  JOB_EXTRA=$(store_extra) job p10 s3://zreplrs-bench/zr '"p10s/big" = true'
  rc_t=(); zr_t=(); rs_t=(); peaks=()
  for i in $(seq "$RUNS"); do
    t0=$(now); zfs send p10s/big@s1 | rclone rcat g:zreplrs-bench/rclone/big.zfs; t1=$(now)
    rclone purge g:zreplrs-bench/rclone
    t2=$(now)
    zreplrs --config /etc/zreplrs/p10.toml replicate --job p10 --format json --quiet >/tmp/p10.json & pid=$!
    hwm=0
    while kill -0 "$pid" 2>/dev/null; do
      v=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null); [ -n "$v" ] && hwm=$v; sleep 0.2
    done
    wait "$pid"; rc=$?; t3=$(now)
    t4=$(now); zreplrs --config /etc/zreplrs/p10.toml restore --job p10 --fs p10s/big --target p10d/r --format json >/tmp/p10r.json; rrc=$?; t5=$(now)
    zfs destroy -r p10d/r; rclone purge g:zreplrs-bench/zr
    for b in $(zfs list -H -o name -t bookmark p10s/big); do zfs destroy "$b"; done
    rc_t+=("$(elapsed "$t0" "$t1")"); zr_t+=("$(elapsed "$t2" "$t3")"); rs_t+=("$(elapsed "$t4" "$t5")"); peaks+=("$hwm")
    printf 'run %d: rclone rcat %s s, zreplrs replicate %s s (exit %d, peak RSS %d KiB), restore %s s (exit %d)\n' \
      "$i" "${rc_t[-1]}" "${zr_t[-1]}" "$rc" "$hwm" "${rs_t[-1]}" "$rrc"
  done
  mr=$(median "${rc_t[@]}"); mz=$(median "${zr_t[@]}"); ms=$(median "${rs_t[@]}"); mp=$(median "${peaks[@]}")
  mib=$(calc "$P10_BYTES/1048576")
  printf 'P10 median: rclone rcat %s s (%.1f MiB/s), zreplrs %s s (%.1f MiB/s), throughput ratio zreplrs/rclone %s\n' \
    "$mr" "$(calc "$mib/$mr")" "$mz" "$(calc "$mib/$mz")" "$(calc "$mr/$mz")"
  printf 'P10 median: restore %s s (%.1f MiB/s), peak RSS of zreplrs uploading %.1f MiB\n' "$ms" "$(calc "$mib/$ms")" "$(calc "$mp/1024")"
  zpool destroy p10s; zpool destroy p10d; rm -f /tmp/p10s.img /tmp/p10d.img
fi

if [[ " $WHICH " == *" p11 "* ]]; then
  echo; echo "== P11: the hourly run to S3 over 100 filesystems x one small new snapshot: time, objects and S3 requests"
  garage_up
  truncate -s 2G /tmp/p11.img; zpool create -O mountpoint=/p11 -O compression=off p11 /tmp/p11.img
  zfs create p11/fs
  for n in $(seq -w 1 100); do zfs create "p11/fs/f$n"; head -c 65536 /dev/urandom >"/p11/fs/f$n/data"; done
  zfs snapshot -r p11/fs@h0
  JOB_EXTRA=$(store_extra) job p11 s3://zreplrs-bench/hourly '"p11/fs<" = true'
  zr p11 >/tmp/p11.json || echo "initial run failed: $(head -c 300 /tmp/p11.json)"
  times=()
  for i in $(seq "$RUNS"); do
    for n in $(seq -w 1 100); do head -c 4096 /dev/urandom >>"/p11/fs/f$n/data"; done
    zfs snapshot -r "p11/fs@h$i"
    objects_before=$(rclone ls g:zreplrs-bench/hourly | wc -l); before=$(s3_requests)
    t0=$(now); zr p11 >/tmp/p11.json; rc=$?; t1=$(now)
    req=$(( $(s3_requests) - before )); obj=$(( $(rclone ls g:zreplrs-bench/hourly | wc -l) - objects_before ))
    times+=("$(elapsed "$t0" "$t1")")
    printf 'run %d: exit %d, %s s, %d new objects (%.2f per fs), %d S3 requests (%.2f per fs)\n' \
      "$i" "$rc" "${times[-1]}" "$obj" "$(calc "$obj/101")" "$req" "$(calc "$req/101")"
  done
  printf 'P11 median: %s s for 101 filesystems\n' "$(median "${times[@]}")"
  zpool destroy p11; rm -f /tmp/p11.img
fi
pkill -f 'garage -c /tmp/garage/g.toml' 2>/dev/null
