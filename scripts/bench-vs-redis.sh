#!/usr/bin/env bash
# redis-benchmark against `folio serve` and against redis-server, side by
# side on this machine (loopback only), one server at a time:
#
#   -t set,get -n $N -r $N -d 100 -c 50, with -P 1 and -P 16, and
#   durability none  (folio --durability none; redis with no persistence)
#   durability sync  (folio --durability sync;  redis appendfsync always)
#
# Prints requests/s and the ratio folio/redis as a Markdown table, then
# each server's resident memory (VmRSS) after its runs. With ROUNDS > 1 the
# whole comparison is repeated, the two servers taking turns to go first,
# and the table gives the median requests/s of each, every round's ratio
# and the median ratio: on a shared, noisy machine one run of a line can
# be off by 30%.
# Needs redis-server and redis-benchmark (Debian: apt-get install
# redis-server redis-tools). Environment: N (default 1000000), ROUNDS (1),
# CLIENTS (50),
# FOLIO_PORT (7379), REDIS_PORT (7380), MODES ("none sync"), FOLIO_CACHE_MIB
# (256: the data set, about 130 MB, fits in folio's buffer pool as it fits
# in Redis's memory; with the default 64 MiB half of the GETs read the
# segment files), FOLIO_THREADS (folio's --threads; 0, the default: one
# connection thread per core; 1: one, as Redis runs its commands on one
# event loop, which leaves redis-benchmark the other core of a 2-core
# machine).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000000}
ROUNDS=${ROUNDS:-1}
CLIENTS=${CLIENTS:-50}
FOLIO_PORT=${FOLIO_PORT:-7379}
REDIS_PORT=${REDIS_PORT:-7380}
MODES=${MODES:-"none sync"}
FOLIO_CACHE_MIB=${FOLIO_CACHE_MIB:-256}
FOLIO_THREADS=${FOLIO_THREADS:-0}

for tool in redis-server redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

cargo build --release -q -p folio-cli
FOLIO=target/release/folio
work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # port
    for _ in $(seq 1 200); do
        if redis-cli -p "$1" PING >/dev/null 2>&1; then return 0; fi
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    exit 1
}

# Each run starts from an empty data directory: a later round must not
# load (or replay) what an earlier one wrote.
start_folio() { # mode
    rm -rf "$work/folio-$1"
    "$FOLIO" --log-level warn serve --dir "$work/folio-$1" --port "$FOLIO_PORT" \
        --durability "$1" --cache-mib "$FOLIO_CACHE_MIB" --threads "$FOLIO_THREADS" >"$work/folio-$1.log" 2>&1 &
    server_pid=$!
    wait_for "$FOLIO_PORT"
}

start_redis() { # mode
    local persistence=(--save "" --appendonly no)
    if [ "$1" = sync ]; then persistence=(--save "" --appendonly yes --appendfsync always); fi
    rm -rf "$work/redis-$1"
    mkdir -p "$work/redis-$1"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$work/redis-$1" \
        "${persistence[@]}" --daemonize no --logfile "$work/redis-$1.log" &
    server_pid=$!
    wait_for "$REDIS_PORT"
}

stop_server() {
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# Requests/s of one test: redis-benchmark's CSV line `"SET","123.45",...`.
bench() { # port pipeline test
    redis-benchmark -p "$1" -t "$3" -n "$N" -r "$N" -d 100 -c "$CLIENTS" -P "$2" --csv -q \
        | awk -F'"' -v t="$(echo "$3" | tr a-z A-Z)" '$2 == t { print $4 }'
}

declare -A rps rss
for round in $(seq 1 "$ROUNDS"); do
    order="folio redis"
    if [ $((round % 2)) = 0 ]; then order="redis folio"; fi
    for mode in $MODES; do
        for server in $order; do
            "start_$server" "$mode"
            port=$FOLIO_PORT
            if [ "$server" = redis ]; then port=$REDIS_PORT; fi
            for pipeline in 1 16; do
                for test in set get; do
                    key=$server,$mode,$pipeline,$test
                    rps[$key]="${rps[$key]:-} $(bench "$port" "$pipeline" "$test")"
                    echo "round $round: $server durability=$mode -P $pipeline $test: ${rps[$key]##* } req/s" >&2
                done
            done
            rss[$server,$mode]=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$server_pid/status")
            stop_server
        done
    done
done

# The median of the numbers given as arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

echo
echo "| durability (folio / redis) | -P | test | folio req/s | redis req/s | folio/redis, each round | folio/redis, median |"
echo "|---|---|---|---:|---:|---|---:|"
for mode in $MODES; do
    redis_mode="no persistence"
    if [ "$mode" = sync ]; then redis_mode="appendfsync always"; fi
    for pipeline in 1 16; do
        for test in set get; do
            read -r -a f <<<"${rps[folio,$mode,$pipeline,$test]}"
            read -r -a r <<<"${rps[redis,$mode,$pipeline,$test]}"
            ratios=()
            for i in "${!f[@]}"; do
                ratios+=("$(awk -v f="${f[$i]}" -v r="${r[$i]}" 'BEGIN { if (r > 0) printf "%.2f", f / r; else print "n/a" }')")
            done
            each=$(IFS=/; echo "${ratios[*]}" | sed 's|/| / |g')
            echo "| $mode / $redis_mode | $pipeline | ${test^^} | $(median "${f[@]}") | $(median "${r[@]}") | $each | $(median "${ratios[@]}") |"
        done
    done
done

echo
echo "| durability (folio / redis) | folio RSS MiB | redis RSS MiB |"
echo "|---|---|---|"
for mode in $MODES; do
    echo "| $mode | ${rss[folio,$mode]} | ${rss[redis,$mode]} |"
done
