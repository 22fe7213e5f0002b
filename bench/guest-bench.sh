#!/bin/bash
# Runs inside the zreplrs test VM (started by bench/run-vm): P2 local throughput against a raw
# `zfs send | zfs recv`, P3 a no-op run over 200 filesystems × 20 snapshots against syncoid and
# zfs-autobackup (time and `zfs` spawns), P4 catching up 200 small snapshots against syncoid, P5 peak RSS
# while sending 2 GiB. Prints every run, medians and ratios.
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
job() { # name target filesystem-rules...
  local name=$1 target=$2; shift 2
  { echo "[global]"; echo "lock_dir = \"/tmp\""; echo; echo "[[jobs]]"; echo "name = \"$name\""; echo "target = \"$target\""
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
    t0=$(now); counted zr p4 >/tmp/p4.json; t1=$(now); zs=$(spawns)
    t2=$(now); counted syncoid --quiet --no-sync-snap p4s/c p4d/so/c >/dev/null 2>&1; t3=$(now); ss=$(spawns)
    z=$(elapsed "$t0" "$t1"); s=$(elapsed "$t2" "$t3"); ours+=("$z"); theirs+=("$s")
    printf 'run %d: zreplrs %.1f s (%d zfs spawns), syncoid %.1f s (%d zfs spawns); receiver snapshots zreplrs %d, syncoid %d\n' "$i" "$z" "$zs" "$s" "$ss" \
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
