#!/usr/bin/env bash
# Peak RSS of the bucket uploader for a large stream (default 10 GiB), on the host: starts a one-node Garage
# (the release build bench/run-vm caches, or $GARAGE) on 127.0.0.1 with its data in a temporary directory,
# streams BYTES through examples/s3_upload_rss (release build) and prints its throughput and peak RSS.
#   bench/s3-upload-rss.sh [BYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=${1:-10737418240}
garage=${GARAGE:-${XDG_CACHE_HOME:-$HOME/.cache}/zreplrs/garage-2.5.0-release/bin/garage}
[ -x "$garage" ] || { echo "no Garage at $garage: run WHICH=p10 bench/run-vm once, or set GARAGE" >&2; exit 1; }
cargo build --quiet --release --example s3_upload_rss
dir=$(mktemp -d /var/tmp/zreplrs-garage.XXXXXX)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
cat >"$dir/g.toml" <<G
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:3991"
rpc_public_addr = "127.0.0.1:3991"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:3990"
G
"$garage" -c "$dir/g.toml" server >"$dir/log" 2>&1 & pid=$!
g() { "$garage" -c "$dir/g.toml" "$@"; }
until g status >/dev/null 2>&1; do sleep 1; done
g layout assign -z dc1 -c 100G "$(g node id -q | cut -d@ -f1)" >/dev/null; g layout apply --version 1 >/dev/null
until g bucket create zreplrs-rss >/dev/null 2>&1; do sleep 1; done
key=$(g key create rss); g bucket allow --read --write --owner zreplrs-rss --key rss >/dev/null
kid=$(echo "$key" | awk '/Key ID:/{print $3}'); ksec=$(echo "$key" | awk '/Secret key:/{print $3}')
target/release/examples/s3_upload_rss http://127.0.0.1:3990 zreplrs-rss "$kid" "$ksec" "$bytes"
