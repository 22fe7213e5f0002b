#!/bin/bash
# Runs inside the zreplrs test VM: checks what changes `snapshots_changed` (snapshot, rename, user property,
# rollback, a child's snapshot), how `zfs list -d 1 -t snapshot,bookmark` lists named filesystems, and times
# the survey's two listings on 200 filesystems × 20 snapshots. Used for P3 in BENCHMARKS.md. From the
# repository root:
#   rm -rf target/vm-exp && mkdir -p target/vm-exp && cp bench/snapshots-changed.sh target/vm-exp/ &&
#   vm/run target/vm-exp target/vm-exp/snapshots-changed.sh 1500; cat target/vm-exp/guest-output.log
now() { date +%s.%N; }
t() { local t0=$(now); "$@" >/tmp/out 2>&1; local rc=$?; echo "$(awk -v a=$t0 -v b=$(now) 'BEGIN{printf "%.2f", b-a}') s rc=$rc lines=$(wc -l </tmp/out): $*" | cut -c1-200; }
sc() { zfs get -H -p -o value snapshots_changed "$1"; }
truncate -s 1G /tmp/e.img; zpool create -O mountpoint=none e /tmp/e.img; zfs create e/a; zfs create e/a/b
echo "fresh fs sc: [$(sc e/a)] list col: [$(zfs list -H -p -o name,snapshots_changed e/a)]"
zfs snapshot e/a@s1; sleep 1.2; zfs snapshot e/a@s2; a=$(sc e/a); echo "after snap: $a"; sleep 1.2
zfs rename e/a@s1 e/a@r1; echo "after rename: $(sc e/a) (was $a)"; sleep 1.2; a=$(sc e/a)
zfs set zreplrs:synced:x=1 e/a; echo "after set: $(sc e/a) (was $a); child inherits: $(zfs get -H -o value,source zreplrs:synced:x e/a/b)"
zfs rollback e/a@s2; echo "after rollback to newest: $(sc e/a) (was $a)"
zfs snapshot e/a/b@c1; echo "child snap: parent $(sc e/a) (was $a)"
echo "--- -d 1 targeted listing"
zfs snapshot -r e/a@s3
zfs bookmark e/a@s3 e/a#bm
zfs list -H -p -d 1 -t snapshot,bookmark -o name,type,guid e/a e/a/b
echo "--- missing one: rc"; zfs list -H -p -d 1 -t snapshot,bookmark -o name e/a e/nope; echo "rc=$?"
echo "--- prop name with uppercase"; zfs set zreplrs:synced:Prod=1 e/a; echo "rc=$?"
echo "--- costs on 200 fs x 20 snaps"
zfs create e/d; for n in $(seq -w 200); do zfs create "e/d/fs$n"; done
for s in $(seq -w 20); do zfs snapshot -r "e/d@s$s"; done
for i in 1 2; do
t zfs list -H -p -r -t filesystem,volume -o name,type,guid,createtxg,userrefs,receive_resume_token,encryption,zrepl:placeholder,snapshots_changed,zreplrs:synced:job e/d
t zfs list -H -p -r -t filesystem,volume -o name e/d
t zfs list -H -p -r -t filesystem,volume,bookmark -o name,type,guid,createtxg e/d
t zfs list -H -p -d 1 -t snapshot,bookmark -o name,type,guid,createtxg,userrefs e/d/fs001 e/d/fs002 e/d/fs003 e/d/fs004 e/d/fs005
t zfs list -H -p -r -t filesystem,volume,snapshot,bookmark -o name,type,guid,createtxg,userrefs,receive_resume_token,encryption,zrepl:placeholder e/d/fs001 e/d/fs002 e/d/fs003 e/d/fs004 e/d/fs005
done
