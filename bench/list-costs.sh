#!/bin/bash
# Runs inside the zreplrs test VM: times each `zfs` call a no-op survey could make, on 50 filesystems × 20
# snapshots with a bookmark and a hold on each newest snapshot (1,122 entries), twice. Used for the P3
# analysis in BENCHMARKS.md. From the repository root:
#   rm -rf target/vm-exp && mkdir -p target/vm-exp && cp bench/list-costs.sh target/vm-exp/ &&
#   vm/run target/vm-exp target/vm-exp/list-costs.sh 1800; cat target/vm-exp/guest-output.log
now() { date +%s.%N; }
t() { local t0=$(now); "$@" >/tmp/out 2>&1; local rc=$?; echo "$(awk -v a=$t0 -v b=$(now) 'BEGIN{printf "%.2f", b-a}') s rc=$rc lines=$(wc -l </tmp/out): $*" | cut -c1-200; }
truncate -s 2G /tmp/e.img; zpool create -O mountpoint=none e /tmp/e.img; zfs create e/data
for n in $(seq -w 50); do zfs create "e/data/fs$n"; done
for s in $(seq -w 20); do zfs snapshot -r "e/data@s$s"; done
for n in $(seq -w 50); do zfs bookmark "e/data/fs$n@s20" "e/data/fs$n#c"; done
newest=$(for n in $(seq -w 50); do echo "e/data/fs$n@s20"; done)  # each filesystem's newest snapshot
zfs hold t $newest
echo "tree ready: $(zfs list -H -r -t all e | wc -l) entries"
for i in 1 2; do
t zfs version
t zfs list -H -p -r -t filesystem,volume,snapshot,bookmark -o name,type,guid,createtxg,userrefs,receive_resume_token,encryption,zrepl:placeholder e/data
t zfs list -H -p -r -t filesystem,volume,snapshot,bookmark -o name,guid,createtxg e/data
t zfs list -H -p -r -t filesystem,volume,snapshot,bookmark -o name,guid,createtxg,userrefs e/data
t zfs list -H -p -r -t filesystem,volume,snapshot,bookmark -o name,guid,createtxg,zrepl:placeholder e/data
t zfs list -H -p -r -t filesystem,volume -o name,type,receive_resume_token,encryption,zrepl:placeholder e/data
t zfs get -H -p -o name,property,value type,receive_resume_token,encryption,zrepl:placeholder,userrefs,creation $(zfs list -H -o name -r -t filesystem e/data) $newest
t zfs get -H -p -o name,property,value type,receive_resume_token,encryption,zrepl:placeholder $(zfs list -H -o name -r -t filesystem e/data)
t zfs get -H -p -o name,property,value userrefs,creation $newest
t zfs get -H -p -o name,value creation $newest
t zfs holds -H $newest
done
