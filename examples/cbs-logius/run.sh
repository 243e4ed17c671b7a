#!/usr/bin/env bash
# The CBS–Logius private join on synthetic data, twice:
#  1. `koppel demo`: generates the data, starts CBS and Logius as separate processes,
#     and checks the private table against a plain join on raw BSNs, cell by cell;
#  2. the same join by hand, with the two commands two agencies would each run.
# Usage: examples/cbs-logius/run.sh [SIZE] [two-party|helper]   (from the repository root, after npm ci)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
koppel() { node "$here/../../dist/cli/bin.js" "$@"; }
size=${1:-50000}
variant=${2:-two-party}
out=${OUT:-$here/out}
mkdir -p "$out"
[ -f "$here/../../dist/cli/bin.js" ] || (cd "$here/../.." && npm run build)

echo "== 1. koppel demo --size $size --variant $variant"
koppel demo --size "$size" --variant "$variant" --dir "$out"

echo
echo "== 2. By hand: CBS listens (party A), Logius connects (party B)."
echo "   On two machines, replace --insecure with --tls-cert/--tls-key/--tls-ca (mutual TLS)"
echo "   and --peer NAME (the other side's certificate name; --peer-fingerprint pins its hash)."
extra=()
if [ "$variant" = helper ]; then
  koppel join helper --listen 127.0.0.1:7202 --insecure --quiet &
  extra=(--variant helper --helper 127.0.0.1:7202)
  sleep 0.5
fi
koppel join groups --listen 127.0.0.1:7201 --insecure \
  --in "$out/cbs.csv" --id-column bsn --id-type bsn \
  --group-columns province,household_type --min-count 10 --out "$out/by-hand.csv" "${extra[@]}" &
sleep 0.5
koppel join values --connect 127.0.0.1:7201 --insecure \
  --in "$out/logius.csv" --id-column bsn --id-type bsn --on-invalid skip \
  --value-columns logins,messages_read --max-value 100000 --min-count 10 "${extra[@]}"
wait
echo
echo "CBS's table per province and household type: $out/by-hand.csv"
head -n 8 "$out/by-hand.csv"
