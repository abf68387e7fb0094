#!/usr/bin/env bash
# The media relay benchmark: the same RTP load through the bare forwarding floor, through
# rtpengine (userspace, plain and masking DTMF) and through Tonewall's relay (masking).
#
#   bench/relay/run.sh [floor|rtpengine|rtpengine-mask|leak|step|step-mask|tonewall|step-tonewall|all]...
#
# Relay pinned to core $RELAY_CORE (0), generator to core $GEN_CORE (1). Every run appends one
# JSON line to $OUT/results.jsonl (default target/relay-bench/) and prints a summary.
# Knobs (environment): STREAMS ("500 1000"), STEP (calls for the step runs), STEP_MASK,
# DURATION (20 s window), WARMUP (3 s), DELAYS (delay buffers for the masked and leak runs,
# "0 20 60"), NICE (unset: default priority; e.g. -10 so that other users' jobs on a shared
# machine disturb the pinned relay and generator less; see PRIO below), REPEAT (1).
#
# Loopback only, ports: ng 127.0.0.1:22322, rtpengine media 40000-49999, floor 30000+,
# generator 36000-36003.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/relay
OUT=${OUT:-$ROOT/target/relay-bench}
RESULTS=$OUT/results.jsonl
STREAMS=${STREAMS:-"500 1000"}
STEP=${STEP:-"250 500 1000 1500 2000"}
STEP_MASK=${STEP_MASK:-"100 250 500 750 1000"}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
DELAYS=${DELAYS:-"0 20 60"}
REPEAT=${REPEAT:-1}
RELAY_CORE=${RELAY_CORE:-0}
GEN_CORE=${GEN_CORE:-1}
NG=127.0.0.1:22322
FLOOR_BASE=30000
mkdir -p "$OUT"

# Priority: with autogroup scheduling (kernel.sched_autogroup_enabled=1) `nice` only ranks
# processes within one session, so a relay or generator started here would share the CPU with
# this shell's session only. With NICE set, each is started in a session of its own (setsid)
# whose autogroup gets that nice value: the same weight `nice` gives without autogroups.
PRIO=()
if [[ -n "${NICE:-}" ]]; then
    PRIO=(setsid bash -c 'echo "$0" > /proc/self/autogroup 2>/dev/null; exec nice -n "$0" "$@"' "$NICE")
fi

cargo build --release -q -p tonewall-bench --bin rtp_load --bin rtp_floor
cargo build --release -q -p tonewall --bin tonewall
BIN=$ROOT/target/release
RELAY_PID=

stop_relay() {
    if [[ -n "$RELAY_PID" ]]; then
        kill "$RELAY_PID" 2>/dev/null || true
        wait "$RELAY_PID" 2>/dev/null || true
        RELAY_PID=
    fi
}
trap stop_relay EXIT

wait_udp_port() { # port: until something listens on it (10 s at most)
    for _ in $(seq 100); do
        if ss -Hlun "sport = :$1" | grep -q .; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on udp port $1" >&2
    return 1
}

start_floor() { # pairs
    "${PRIO[@]}" taskset -c "$RELAY_CORE" "$BIN/rtp_floor" --base $FLOOR_BASE --pairs "$1" &
    RELAY_PID=$!
    wait_udp_port $((FLOOR_BASE + 2 * $1 - 1))
}

start_rtpengine() {
    # userspace only (table = -1), loopback, foreground; see rtpengine.conf.
    "${PRIO[@]}" taskset -c "$RELAY_CORE" rtpengine --config-file="$HERE/rtpengine.conf" --foreground \
        --pidfile="$OUT/rtpengine.pid" 2>>"$OUT/rtpengine.log" &
    RELAY_PID=$!
    wait_udp_port 22322
}

load() { # label, rtp_load arguments...
    local label=$1
    shift
    echo "== $label (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "${PRIO[@]}" taskset -c "$GEN_CORE" "$BIN/rtp_load" --label "$label" --warmup "$WARMUP" \
        --duration "$DURATION" --relay-pid "$RELAY_PID" --json "$RESULTS" "$@" >/dev/null
}

run_floor() { # calls
    start_floor "$1"
    load "floor-$1" --floor $FLOOR_BASE --streams "$1"
    stop_relay
}

run_rtpengine() { # calls
    start_rtpengine
    load "rtpengine-plain-$1" --ng $NG --streams "$1"
    stop_relay
}

run_rtpengine_mask() { # calls, delay-buffer ms
    start_rtpengine
    load "rtpengine-mask-db$2-$1" --ng $NG --streams "$1" --mask --dtmf-security silence --delay-buffer "$2"
    stop_relay
}

run_leak() { # delay-buffer ms: 100 calls, half of them keying in-band digits, a fifth RFC 4733
    start_rtpengine
    load "rtpengine-leak-db$1" --ng $NG --streams 100 --dtmf-inband 0.5 --dtmf-rfc 0.2 \
        --mask --dtmf-security silence --delay-buffer "$1"
    stop_relay
}

start_tonewall() {
    "${PRIO[@]}" taskset -c "$RELAY_CORE" "$BIN/tonewall" serve --config "$HERE/tonewall.toml" \
        2>>"$OUT/tonewall.log" &
    RELAY_PID=$!
    wait_udp_port 22322
}

run_tonewall() { # calls: every caller-to-agent stream masked (Tonewall's default, no flag needed)
    start_tonewall
    load "tonewall-$1" --ng $NG --streams "$1"
    stop_relay
}

run_tonewall_leak() { # 100 calls, half keying in-band digits, a fifth RFC 4733: what leaks?
    start_tonewall
    load "tonewall-leak" --ng $NG --streams 100 --dtmf-inband 0.5 --dtmf-rfc 0.2
    stop_relay
}

for _ in $(seq "$REPEAT"); do
    for what in "${@:-all}"; do
        case $what in
        floor) for n in $STREAMS; do run_floor "$n"; done ;;
        rtpengine) for n in $STREAMS; do run_rtpengine "$n"; done ;;
        rtpengine-mask) for n in $STREAMS; do for d in $DELAYS; do run_rtpengine_mask "$n" "$d"; done; done ;;
        leak) for d in $DELAYS; do run_leak "$d"; done ;;
        step)
            for n in $STEP; do run_floor "$n"; done
            for n in $STEP; do run_rtpengine "$n"; done
            ;;
        step-mask) for n in $STEP_MASK; do run_rtpengine_mask "$n" 20; done ;;
        tonewall) for n in $STREAMS; do run_tonewall "$n"; done; run_tonewall_leak ;;
        step-tonewall) for n in $STEP; do run_tonewall "$n"; done ;;
        all)
            for n in $STREAMS; do
                run_floor "$n"; run_tonewall "$n"; run_rtpengine "$n"; run_rtpengine_mask "$n" 20
            done
            for d in $DELAYS; do run_leak "$d"; done
            run_tonewall_leak
            ;;
        *)
            echo "unknown run '$what' (floor|rtpengine|rtpengine-mask|leak|step|step-mask|tonewall|step-tonewall|all)" >&2
            exit 2
            ;;
        esac
    done
done
echo "results: $RESULTS" >&2
