#!/usr/bin/env python3
"""A stand-in for rtpengine's ng control socket, for capturing what Kamailio sends.

Records every datagram it receives, byte for byte, as NN-<command>.bin in the output
directory, and answers the way rtpengine does: ping -> pong, offer/answer -> ok with the SDP
handed back, delete/query -> ok with statistics in rtpengine's shape, anything else -> ok.
The first `query` it sees goes unanswered on purpose, so that Kamailio retransmits it (same
cookie) and the retransmission is captured too.

Usage: fake_rtpengine.py HOST PORT OUTDIR
"""
import os
import socket
import sys


def bdecode(b, i=0):
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        i += 1
        out = []
        while b[i:i + 1] != b"e":
            v, i = bdecode(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        while b[i:i + 1] != b"e":
            k, i = bdecode(b, i)
            v, i = bdecode(b, i)
            out[k] = v
        return out, i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(bencode(k) + bencode(x) for k, x in items) + b"e"
    raise TypeError(type(v))


def stats(tag):
    counters = {"packets": 50, "bytes": 8600, "errors": 0}
    stream = {
        "local port": 30000,
        "endpoint": {"family": "IPv4", "address": "127.0.0.1", "port": 26000},
        "advertised endpoint": {"family": "IPv4", "address": "127.0.0.1", "port": 26000},
        "flags": ["RTP", "filled", "confirmed"],
        "stats": counters,
    }
    return {
        "created": 1700000000,
        "last signal": 1700000001,
        "tags": {tag: {"tag": tag, "created": 1700000000,
                       "medias": [{"index": 1, "type": "audio", "protocol": "RTP/AVP",
                                   "flags": ["initialized"], "streams": [stream]}]}},
        "totals": {"RTP": counters, "RTCP": {"packets": 0, "bytes": 0, "errors": 0}},
    }


def main():
    host, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(outdir, exist_ok=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    n = 0
    dropped_query = False
    while True:
        data, peer = sock.recvfrom(65535)
        cookie, _, body = data.partition(b" ")
        try:
            req, _ = bdecode(body)
            cmd = req.get(b"command", b"unknown").decode()
        except Exception:
            req, cmd = {}, "garbage"
        n += 1
        name = "%02d-%s.bin" % (n, cmd.replace(" ", "_"))
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
        if cmd == "query" and not dropped_query:
            dropped_query = True
            continue
        if cmd == "ping":
            reply = {"result": "pong"}
        elif cmd in ("offer", "answer"):
            reply = {"result": "ok", "sdp": req.get(b"sdp", b"")}
        elif cmd in ("delete", "query"):
            reply = dict(stats(req.get(b"from-tag", b"").decode()), result="ok")
        else:
            reply = {"result": "ok"}
        sock.sendto(cookie + b" " + bencode(reply), peer)


if __name__ == "__main__":
    main()
