#!/bin/sh
# Captures the ng control datagrams Kamailio's rtpengine module sends for one call.
#
#   sipp uac (25080) ──INVITE/ACK/BYE──► kamailio (25060) ──► sipp uas (25070)
#                                            │ ng over UDP
#                                            ▼
#                               fake_rtpengine.py (22222): records every datagram
#
# Needs kamailio (with rtpengine.so), sipp and python3. Writes NN-<command>.bin files into
# the directory given (default: a fresh temporary directory) and prints its path. The ports
# are unusual so that the capture does not collide with anything else on the machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$(mktemp -d /tmp/ng-capture.XXXXXX)}
mkdir -p "$out"
run=$(mktemp -d /tmp/ng-run.XXXXXX)

python3 "$here/fake_rtpengine.py" 127.0.0.1 22222 "$out" &
fake=$!
sleep 1
kamailio -f "$here/kamailio.cfg" -DD -E -m 32 -M 8 -Y "$run" -w "$run" >"$run/kamailio.log" 2>&1 &
kam=$!
uas=
cleanup() { kill "$kam" "$fake" $uas 2>/dev/null || true; }
trap cleanup EXIT INT TERM
sleep 2

sipp -sn uas -i 127.0.0.1 -p 25070 -mp 26100 -m 2 -nostdin >"$run/uas.log" 2>&1 &
uas=$!
sleep 1
sipp -sn uac 127.0.0.1:25060 -i 127.0.0.1 -p 25080 -mp 26000 -s tonewall -m 2 -nostdin \
	-timeout 20 >"$run/uac.log" 2>&1 || { echo "sipp uac failed; logs in $run" >&2; exit 1; }
wait "$uas" || true
sleep 1
echo "$out"
ls "$out" >&2
grep -E 'ERROR|WARN' "$run/kamailio.log" >&2 || true
