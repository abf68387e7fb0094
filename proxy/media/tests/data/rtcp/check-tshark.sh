#!/bin/sh
# Cross-checks the RTCP fixtures (*.hex) against Wireshark's RTCP dissector.
#
#   1. rebuilds rtcp.pcap from the fixtures (the Rust test writes it: one IPv4/UDP datagram to
#      port 5005 per fixture, in file-name order);
#   2. decodes it with tshark, the fields of tshark-fields.txt, into tshark.txt.new;
#   3. compares with the committed tshark.txt (pass --bless to accept the new decode);
#   4. runs the Rust test that renders our parser's decode in the same layout and compares it
#      with tshark.txt.
#
# Needs tshark (Wireshark 4.0 made the committed output) and cargo.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
TONEWALL_BLESS=1 cargo test -q -p tonewall-media --test rtcp_fixtures pcap_holds_the_fixtures
fields=$(grep -v '^#' tshark-fields.txt | sed 's/^/-e /' | tr '\n' ' ')
# shellcheck disable=SC2086
tshark -r rtcp.pcap -d udp.port==5005,rtcp -T fields -E separator='|' -E occurrence=a -E aggregator=, \
    $fields 2>/dev/null > tshark.txt.new
if [ "${1:-}" = "--bless" ]; then
    mv tshark.txt.new tshark.txt
elif diff -u tshark.txt tshark.txt.new; then
    rm tshark.txt.new
else
    echo "tshark decodes the fixtures differently from tshark.txt (rerun with --bless to accept)" >&2
    exit 1
fi
cargo test -q -p tonewall-media --test rtcp_fixtures
echo "tshark and tonewall_media::rtcp agree on every fixture"
