#!/bin/sh
# Drives an ng control endpoint with Kamailio's rtpengine module, for two sipp calls.
#
#   sipp uac (25080) ──INVITE/ACK/BYE──► kamailio (25060) ──► sipp uas (25070)
#                                            │ ng over UDP
#                                            ▼
#                  127.0.0.1:22222: fake_rtpengine.py (records) or ng_udp (Tonewall's NgServer)
#
#   capture.sh [OUTDIR]     fake rtpengine; writes every datagram Kamailio sent as
#                           NN-<command>.bin into OUTDIR (default: a fresh temporary directory)
#   capture.sh --tonewall   Tonewall's NgServer (example ng_udp) answers instead; passes when
#                           both calls complete, Kamailio logs no error, the callee got the
#                           SDP Tonewall returned, and Kamailio read the statistics ($rtpstat)
#
# Needs kamailio (with rtpengine.so), sipp, python3 (and cargo for --tonewall). The ports are
# unusual so that the run does not collide with anything else on the machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mode=fake
if [ "${1:-}" = "--tonewall" ]; then
	mode=tonewall
	shift
fi
out=${1:-$(mktemp -d /tmp/ng-capture.XXXXXX)}
mkdir -p "$out"
run=$(mktemp -d /tmp/ng-run.XXXXXX)

if [ "$mode" = tonewall ]; then
	cargo build -q -p tonewall-media --example ng_udp --manifest-path "$here/../../../Cargo.toml"
	target=$(cd "$here/../../../../.." && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
	"$target/debug/examples/ng_udp" 127.0.0.1:22222 2>"$run/ng.log" &
	defines="-A TONEWALL"
else
	python3 "$here/fake_rtpengine.py" 127.0.0.1 22222 "$out" &
	defines=
fi
ng=$!
sleep 1
# shellcheck disable=SC2086
kamailio -f "$here/kamailio.cfg" $defines -DD -E -m 32 -M 8 -Y "$run" -w "$run" >"$run/kamailio.log" 2>&1 &
kam=$!
uas=
cleanup() { kill "$kam" "$ng" $uas 2>/dev/null || true; }
trap cleanup EXIT INT TERM
sleep 2

sipp -sn uas -i 127.0.0.1 -p 25070 -mp 26100 -m 2 -nostdin \
	-trace_msg -message_file "$run/uas-messages.log" >"$run/uas.log" 2>&1 &
uas=$!
sleep 1
sipp -sn uac 127.0.0.1:25060 -i 127.0.0.1 -p 25080 -mp 26000 -s tonewall -m 2 -nostdin \
	-timeout 20 >"$run/uac.log" 2>&1 || { echo "sipp uac failed; logs in $run" >&2; exit 1; }
wait "$uas" || true
sleep 1

if [ "$mode" = tonewall ]; then
	if grep -E 'ERROR' "$run/kamailio.log" >&2; then
		echo "FAIL: Kamailio logged errors talking to Tonewall; logs in $run" >&2
		exit 1
	fi
	grep -q 's=tonewall' "$run/uas-messages.log" || {
		echo "FAIL: the callee did not get the SDP Tonewall returned; logs in $run" >&2
		exit 1
	}
	grep -q 'rtpstat: RTP: 8600 bytes, 50 packets, 0 errors' "$run/kamailio.log" || {
		echo "FAIL: Kamailio did not read the statistics; logs in $run" >&2
		exit 1
	}
	grep -E 'rtpstat' "$run/kamailio.log" >&2
	echo "PASS: Kamailio drove Tonewall's NgServer through two calls; logs in $run"
else
	echo "$out"
	ls "$out" >&2
	grep -E 'ERROR|WARN' "$run/kamailio.log" >&2 || true
fi
