#!/usr/bin/env bash
# The SIP call-load benchmark: sipp places short calls with media through the system under test
# (the peer: Kamailio + rtpengine; or Tonewall's SIP B2BUA) and we count what it costs.
#
#   bench/sip/run.sh peer|tonewall|all [cps ...]         sustained calls per second, per step
#   bench/sip/run.sh concurrent peer|tonewall|all N...   N calls held open at once: failures, memory
#   bench/sip/run.sh table [results.jsonl]               the markdown table of a results file
#
# A step: the system under test (SUT) is started afresh on core $SUT_CORE (0), the agent (sipp
# uas.xml) and the carrier (sipp uac.xml) on core $SIPP_CORE (1); the carrier places
# cps × $STEP_SECONDS calls at `-r cps`, each $CALL_MS long (+0.2 s for the RFC 4733 digit),
# and exits when the last has ended. Measured over that window: successful and failed calls
# (sipp's final statistics), call setup time (INVITE to 200, sipp's rtd), the CPU time of every
# SUT process (utime+stime from /proc/<pid>/stat, all threads, Kamailio's children included)
# per successful call, and the CPU of both sipps (to tell when sipp is the limit).
# One JSON line per step goes to $RESULTS; a table is printed at the end.
#
# Knobs (environment): CALL_MS (1000), STEP_SECONDS (30), MEDIA (stream: each call streams
# A-law from its own UDP port with sipp's rtp_stream; pcap: sipp's play_pcap_audio; none),
# DTMF (1: an RFC 4733 digit, sip-tester's dtmf_2833_1.pcap, before the BYE; 0: none),
# KAMAILIO_WORKERS (4), SUT_CORE (0), SIPP_CORE (1), NICE (e.g. -10, as in bench/relay/run.sh),
# CONC_RATE (200: calls/s while ramping up in `concurrent`), CONC_HOLD_S (30: how long all N
# calls stay up after the ramp), CONC_MEDIA_S (1: seconds of audio each held call streams once,
# at its start, then silence), TONEWALL_BIN (target/release/tonewall), RESULTS
# (bench/sip/results/<date>-$RUN_NAME.jsonl, RUN_NAME "run"), OUT (target/sip-bench: logs).
#
# Addresses (loopback): SUT SIP 127.0.0.1:5060, agent 127.0.0.1:5070, carrier 127.0.0.1:5080,
# carrier media 16000 (pcap) / sipp's rtp_stream ports, agent media 17000, rtpengine ng
# 127.0.0.1:22222 and media 20000-59999 (Tonewall: the ports in tonewall.toml).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/sip
OUT=${OUT:-$ROOT/target/sip-bench}
RUN_NAME=${RUN_NAME:-run}
RESULTS=${RESULTS:-$HERE/results/$(date +%F)-$RUN_NAME.jsonl}
CALL_MS=${CALL_MS:-1000}
STEP_SECONDS=${STEP_SECONDS:-30}
MEDIA=${MEDIA:-stream}
DTMF=${DTMF:-1}
KAMAILIO_WORKERS=${KAMAILIO_WORKERS:-4}
SUT_CORE=${SUT_CORE:-0}
SIPP_CORE=${SIPP_CORE:-1}
CONC_RATE=${CONC_RATE:-200}
CONC_HOLD_S=${CONC_HOLD_S:-30}
CONC_MEDIA_S=${CONC_MEDIA_S:-1}
TONEWALL_BIN=${TONEWALL_BIN:-$ROOT/target/release/tonewall}
DEFAULT_STEPS="100 200 350 500"
SUT_PORT=5060
AGENT_PORT=5070
CARRIER_PORT=5080
CARRIER_MEDIA=16000
AGENT_MEDIA=17000
NG_PORT=22222
PCAP_DIR=/usr/share/sip-tester
mkdir -p "$OUT" "$(dirname "$RESULTS")"

PRIO=()
if [[ -n "${NICE:-}" ]]; then
    # see bench/relay/run.sh: with autogroups, nice needs a session of its own
    PRIO=(setsid bash -c 'echo "$0" > /proc/self/autogroup 2>/dev/null; exec nice -n "$0" "$@"' "$NICE")
fi

need() { # command, Debian package
    command -v "$1" >/dev/null || { echo "$1 not found: apt-get install $2" >&2; exit 2; }
}
need sipp sip-tester
need taskset util-linux
need ss iproute2
need python3 python3
[[ -r $PCAP_DIR/g711a.pcap ]] || { echo "$PCAP_DIR/g711a.pcap missing (Debian sip-tester ships it)" >&2; exit 2; }

# sipp, rtpengine and Tonewall each hold a few descriptors per call: take the hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

TONEWALL_ENV=() # config overrides for one mode (TONEWALL_<SECTION>__<KEY>=value)
SUT_PIDS=() # the SUT's top processes (Kamailio's main process: its children are found at each read)
SUT_NAMES=()
AGENT_PID=
STEP_DIR=

# the kernel's unreclaimable slab (sockets, their inodes and files, epoll items): what the
# sockets of held calls cost beyond the SUT's own memory (machine-wide, so an idle machine)
kernel_kib() {
    awk '/^SUnreclaim:/ {print $2}' /proc/meminfo
}

# utime+stime in clock ticks of one process and its children (Kamailio forks its workers)
tree_pids() {
    local p
    for p in "$@"; do
        echo "$p"
        tree_pids $(ps -o pid= --ppid "$p" 2>/dev/null || true)
    done
}
cpu_ticks() { # pid...: the sum over those processes and their descendants
    local t=0 p f a
    for p in $(tree_pids "$@"); do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        read -ra a <<<"${f##*) }"
        t=$((t + a[11] + a[12]))
    done
    echo "$t"
}
mem_kib() { # pid...: "rss_kib pss_kib" summed over the processes and their descendants
    local rss=0 pss=0 p v
    for p in $(tree_pids "$@"); do
        v=$(awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} END {print r+0, p+0}' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
        rss=$((rss + ${v% *}))
        pss=$((pss + ${v#* }))
    done
    echo "$rss $pss"
}
hwm_kib() { # pid...: the sum of VmHWM (peak RSS) over the processes and their descendants
    local t=0 p v
    for p in $(tree_pids "$@"); do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

udp_drops() { # port...: datagrams the kernel dropped on those local UDP ports (full receive buffers)
    local p hex="" t=0
    for p in "$@"; do hex+="$(printf ':%04X ' "$p")"; done
    for p in $hex; do
        t=$((t + $(awk -v p="$p" '$2 ~ p"$" {d += $NF} END {print d + 0}' /proc/net/udp)))
    done
    echo "$t"
}

wait_udp_port() { # port, pid that must stay alive, seconds
    local i
    for ((i = 0; i < ${3:-10} * 10; i++)); do
        if ss -Hlun "sport = :$1" | grep -q .; then return 0; fi
        if [[ -n "${2:-}" ]] && ! kill -0 "$2" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 1
}

stop_all() {
    local p
    for p in "${SUT_PIDS[@]}" $AGENT_PID; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${SUT_PIDS[@]}" $AGENT_PID; do
        wait "$p" 2>/dev/null || true
    done
    SUT_PIDS=()
    SUT_NAMES=()
    AGENT_PID=
}
trap stop_all EXIT

port_busy() { ss -Hlun "sport = :$1" | grep -q .; }

check_ports_free() {
    local p
    for p in $SUT_PORT $AGENT_PORT $CARRIER_PORT $NG_PORT; do
        if port_busy "$p"; then
            echo "udp port $p is already in use (another bench or test running?):" >&2
            ss -Hlunp "sport = :$p" >&2
            exit 2
        fi
    done
}

# The carrier's scenario for this run: uac.xml with the media chosen by MEDIA and DTMF; with
# a clip length (seconds), each call streams that much audio once instead of all call long.
scenarios() { # dir [clip seconds]
    local d=$1 clip=(--seconds 3600) loops=-1
    if [[ -n "${2:-}" ]]; then clip=(--seconds "$2"); loops=1; fi
    cp "$HERE/uas.xml" "$d/uas.xml"
    python3 "$HERE/report.py" alaw "$PCAP_DIR/g711a.pcap" "$d/carrier.al" "${clip[@]}"
    python3 "$HERE/report.py" scenario "$HERE/uac.xml" "$d/uac.xml" --media "$MEDIA" --dtmf "$DTMF" \
        --pcap-dir "$PCAP_DIR" --audio "$d/carrier.al" --loops $loops
}

start_peer() { # dir
    local d=$1
    "${PRIO[@]}" taskset -c "$SUT_CORE" rtpengine --config-file="$HERE/rtpengine.conf" --foreground \
        --listen-ng="127.0.0.1:$NG_PORT" --pidfile="$d/rtpengine.pid" >"$d/rtpengine.log" 2>&1 &
    SUT_PIDS+=($!)
    SUT_NAMES+=(rtpengine)
    # Kamailio's rtpengine module pings ng once at start and gives up on a silent node
    wait_udp_port $NG_PORT $! 10 || { echo "rtpengine did not start: $d/rtpengine.log" >&2; tail "$d/rtpengine.log" >&2; return 1; }
    "${PRIO[@]}" taskset -c "$SUT_CORE" kamailio -f "$HERE/kamailio.cfg" -DD -E -m 256 -M 16 \
        -A "WORKERS=$KAMAILIO_WORKERS" -A "SIP_LISTEN=udp:127.0.0.1:$SUT_PORT" \
        -A "AGENT_URI=\"sip:agent@127.0.0.1:$AGENT_PORT\"" -A "RTPENGINE_SOCK=\"udp:127.0.0.1:$NG_PORT\"" \
        -Y "$d" -w "$d" >"$d/kamailio.log" 2>&1 &
    SUT_PIDS+=($!)
    SUT_NAMES+=(kamailio)
    wait_udp_port $SUT_PORT $! 10 || { echo "kamailio did not start: $d/kamailio.log" >&2; tail "$d/kamailio.log" >&2; return 1; }
    sleep 1 # its workers
}

start_tonewall() { # dir
    local d=$1
    if [[ ! -x $TONEWALL_BIN ]]; then
        echo "tonewall: no binary at $TONEWALL_BIN (cargo build --release -p tonewall, or set TONEWALL_BIN)" >&2
        return 1
    fi
    env "${TONEWALL_ENV[@]}" "${PRIO[@]}" taskset -c "$SUT_CORE" "$TONEWALL_BIN" serve --config "$HERE/tonewall.toml" \
        >"$d/tonewall.log" 2>&1 &
    SUT_PIDS+=($!)
    SUT_NAMES+=(tonewall)
    if ! wait_udp_port $SUT_PORT $! 10; then
        if kill -0 "${SUT_PIDS[0]}" 2>/dev/null; then
            echo "tonewall: serve runs but nothing listens for SIP on 127.0.0.1:$SUT_PORT after 10 s:" \
                "the SIP B2BUA has not landed yet (bench/sip/tonewall.toml's [sip] keys are provisional)" >&2
        else
            echo "tonewall: serve exited at start (its [sip] config not understood yet? the SIP B2BUA" \
                "has not landed): $d/tonewall.log:" >&2
            tail -5 "$d/tonewall.log" >&2
        fi
        return 1
    fi
}

start_agent() { # dir
    local d=$1
    (cd "$d" && exec "${PRIO[@]}" taskset -c "$SIPP_CORE" sipp -sf uas.xml -i 127.0.0.1 -mi 127.0.0.1 \
        -p $AGENT_PORT -mp $AGENT_MEDIA -buff_size 4194304 -nostdin -cp 8887 -trace_stat -stf uas_stat.csv -fd 1 \
        -trace_err -error_file uas_errors.log -max_log_size 1000000 >uas.out 2>&1) &
    AGENT_PID=$!
    wait_udp_port $AGENT_PORT $AGENT_PID 5 || { echo "sipp uas did not start: $d/uas.out" >&2; return 1; }
}

start_sut() { # target, dir
    case $1 in
    peer) start_peer "$2" ;;
    tonewall) start_tonewall "$2" ;;
    esac
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# One run of the carrier: rate, calls, call length ms, limit, kind (cps|concurrent), extra JSON
carrier() {
    local target=$1 rate=$2 calls=$3 call_ms=$4 limit=$5 kind=$6 d=$STEP_DIR
    local timeout=$((calls / rate + call_ms / 1000 + 60))
    local load0 sut0 agent0 t0 sut1 agent1 t1 uac_pid mem0 peak_rss=0 peak_pss=0 m k kern0 peak_kern=0
    load0=$(loadavg)
    local drops0 carrier_drops=0 cd
    drops0="$(udp_drops $SUT_PORT) $(udp_drops $AGENT_PORT)"
    mem0=$(mem_kib "${SUT_PIDS[@]}")
    kern0=$(kernel_kib)
    sut0=$(cpu_ticks "${SUT_PIDS[@]}")
    agent0=$(cpu_ticks $AGENT_PID)
    local per=()
    for p in "${SUT_PIDS[@]}"; do per+=("$(cpu_ticks "$p")"); done
    t0=$(date +%s.%N)
    # the carrier's own CPU: its parent subshell records its children's times once it has exited
    (
        cd "$d"
        "${PRIO[@]}" taskset -c "$SIPP_CORE" sipp "127.0.0.1:$SUT_PORT" -sf uac.xml -s agent \
            -i 127.0.0.1 -mi 127.0.0.1 -p $CARRIER_PORT -mp $CARRIER_MEDIA -cp 8886 \
            -buff_size 4194304 -d "$call_ms" -r "$rate" -rp 1000 -m "$calls" -l "$limit" -nostdin \
            -recv_timeout 10000 -timeout "$timeout" -timeout_error \
            -trace_stat -stf uac_stat.csv -fd 5 -trace_rtt -rtt_freq 200 \
            -trace_err -error_file uac_errors.log -max_log_size 1000000 >uac.out 2>&1 || true
        read -r f </proc/$BASHPID/stat # (not $(cat ...): that would be a subshell's own stat)
        read -ra a <<<"${f##*) }"
        echo "$((a[13] + a[14]))" >uac_cpu_ticks
    ) &
    uac_pid=$!
    # sample memory while the calls run (the peak is what `concurrent` reports)
    while kill -0 $uac_pid 2>/dev/null; do
        m=$(mem_kib "${SUT_PIDS[@]}")
        ((${m% *} > peak_rss)) && peak_rss=${m% *}
        ((${m#* } > peak_pss)) && peak_pss=${m#* }
        k=$(kernel_kib)
        ((k - kern0 > peak_kern)) && peak_kern=$((k - kern0))
        # the carrier's socket goes with it: its last count before it exits (up to a second short)
        cd=$(udp_drops $CARRIER_PORT)
        ((cd > carrier_drops)) && carrier_drops=$cd
        sleep 1
    done
    wait $uac_pid || true
    t1=$(date +%s.%N)
    sut1=$(cpu_ticks "${SUT_PIDS[@]}")
    local drops1 dr=()
    drops1="$(udp_drops $SUT_PORT) $(udp_drops $AGENT_PORT)"
    read -ra dr <<<"$drops0 $drops1"
    agent1=$(cpu_ticks $AGENT_PID)
    local per_json="" i
    for i in "${!SUT_PIDS[@]}"; do
        per_json+="\"${SUT_NAMES[$i]}\":$(($(cpu_ticks "${SUT_PIDS[$i]}") - per[i])),"
    done
    local alive=1
    for p in "${SUT_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || alive=0; done
    python3 "$HERE/report.py" record --out "$RESULTS" --dir "$d" \
        --json "{\"target\":\"$target\",\"kind\":\"$kind\",\"cps\":$rate,\"calls\":$calls,\"call_ms\":$call_ms,
\"limit\":$limit,\"media\":\"$MEDIA\",\"dtmf\":$DTMF,\"kamailio_workers\":$KAMAILIO_WORKERS,
\"wall_s\":$(awk "BEGIN {print $t1 - $t0}"),\"clk_tck\":$(getconf CLK_TCK),\"sut_ticks\":$((sut1 - sut0)),
\"sut_ticks_by_process\":{${per_json%,}},\"agent_ticks\":$((agent1 - agent0)),
\"carrier_ticks\":$(cat "$d/uac_cpu_ticks" 2>/dev/null || echo null),\"sut_alive_after\":$alive,
\"rss_kib_before\":${mem0% *},\"pss_kib_before\":${mem0#* },\"rss_kib_peak\":$peak_rss,\"pss_kib_peak\":$peak_pss,
\"hwm_kib\":$(hwm_kib "${SUT_PIDS[@]}"),\"kernel_kib_peak\":$peak_kern,\"sip_drops\":{\"sut\":$((dr[2] - dr[0])),\"agent\":$((dr[3] - dr[1])),
\"carrier\":$carrier_drops},\"nproc\":$(nproc),\"loadavg_start\":[${load0// /,}],
\"loadavg_end\":[$(loadavg | tr ' ' ',')],\"sut_core\":$SUT_CORE,\"sipp_core\":$SIPP_CORE,\"nice\":\"${NICE:-}\",
\"commit\":\"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)\"}"
}

run_step() { # target, cps
    local target=$1 cps=$2
    STEP_DIR=$OUT/$target-cps$cps-$(date +%H%M%S)
    mkdir -p "$STEP_DIR"
    scenarios "$STEP_DIR"
    echo "== $target, $cps calls/s × ${STEP_SECONDS} s, $CALL_MS ms calls, media $MEDIA (load average: $(loadavg))" >&2
    check_ports_free
    if ! start_sut "$target" "$STEP_DIR"; then
        stop_all
        return 3
    fi
    start_agent "$STEP_DIR"
    # at most every call of ~4 call lengths at once: enough never to throttle a healthy run
    local limit=$((cps * (CALL_MS / 1000 + 1) * 4))
    carrier "$target" "$cps" $((cps * STEP_SECONDS)) "$CALL_MS" "$limit" cps
    stop_all
}

run_concurrent() { # target, calls
    local target=$1 n=$2
    STEP_DIR=$OUT/$target-conc$n-$(date +%H%M%S)
    mkdir -p "$STEP_DIR"
    # each call streams $CONC_MEDIA_S of audio once, at its start (its relay ports latched and
    # forwarding), then stays up silent: N calls streaming for minutes would load the relay
    # and sipp far beyond what this mode measures (memory held per call)
    scenarios "$STEP_DIR" "$CONC_MEDIA_S"
    # every call lasts the whole ramp plus the hold: all n are up together for CONC_HOLD_S
    local hold_ms=$(((n / CONC_RATE + CONC_HOLD_S) * 1000))
    echo "== $target, $n concurrent calls (ramp at $CONC_RATE/s, each ${hold_ms} ms), media $MEDIA (load average: $(loadavg))" >&2
    check_ports_free
    # Tonewall holds 4 sockets a call in its relay workers' own descriptor tables: enough
    # workers that each table's share fits the hard limit, and the agent-facing ports on an
    # address of their own, so each leg has a whole port range (the carrier's sipp streams
    # from ports counted up from 16000 on 127.0.0.1)
    local workers=$(((4 * n) / ($(ulimit -Hn) - 64) + 1))
    TONEWALL_ENV=(TONEWALL_MEDIA__WORKERS=$workers TONEWALL_MEDIA__AGENT_ADDRESS=127.0.0.2
        TONEWALL_MEDIA__PORT_MIN=40000 TONEWALL_MEDIA__PORT_MAX=65535 TONEWALL_SIP__MAX_CALLS=$((n + 100)))
    if ! start_sut "$target" "$STEP_DIR"; then
        TONEWALL_ENV=()
        stop_all
        return 3
    fi
    TONEWALL_ENV=()
    start_agent "$STEP_DIR"
    carrier "$target" "$CONC_RATE" "$n" "$hold_ms" $((n + 10)) concurrent
    stop_all
}

run_target() { # target, steps...
    local target=$1 rc=0 s
    shift
    for s in ${@:-$DEFAULT_STEPS}; do
        run_step "$target" "$s" || { rc=$?; [[ $rc == 3 ]] && return 3; }
    done
}

status=0
case ${1:-} in
peer | tonewall)
    t=$1
    shift
    run_target "$t" "$@" || status=$?
    ;;
all)
    shift
    run_target peer "$@" || status=$?
    run_target tonewall "$@" || status=$?
    ;;
concurrent)
    shift
    targets=${1:-}
    shift || true
    [[ $targets == all ]] && targets="peer tonewall"
    [[ $targets == peer || $targets == tonewall || $targets == "peer tonewall" ]] || {
        echo "usage: $0 concurrent peer|tonewall|all N [N ...]" >&2
        exit 2
    }
    for t in $targets; do
        for n in "${@:-2000}"; do
            run_concurrent "$t" "$n" || { status=$?; break; }
        done
    done
    ;;
table)
    python3 "$HERE/report.py" table "${2:-$RESULTS}"
    exit 0
    ;;
*)
    echo "usage: $0 peer|tonewall|all [cps ...] | concurrent peer|tonewall|all N [N ...] | table [results.jsonl]" >&2
    exit 2
    ;;
esac
[[ -s $RESULTS ]] && python3 "$HERE/report.py" table "$RESULTS"
echo "results: $RESULTS" >&2
exit $status
