#!/usr/bin/env python3
"""Helpers of bench/sip/run.sh (the SIP call-load bench).

  report.py alaw CAPTURE OUT            the A-law payload of a G.711 capture, as a raw file
  report.py scenario IN OUT --media stream|pcap|none --dtmf 0|1 --pcap-dir D --audio F
                                        the carrier's scenario for a run (uac.xml's media swapped)
  report.py record --out JSONL --dir STEP --json '{...}'
                                        one result line: the script's measures plus sipp's counts
  report.py table JSONL                 the markdown table of a results file
"""
import argparse
import glob
import json
import os
import re
import struct
import sys


def alaw(capture, out, seconds=None):
    """Concatenates the RTP payloads of a pcap (Ethernet or Linux cooked, IPv4, UDP) in order,
    the first `seconds` of them if given (8000 octets a second)."""
    data = open(capture, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack(endian + "I", data[20:24])[0]
    skip = {1: 14, 113: 16}[link]
    off, payload = 24, bytearray()
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        ip = frame[skip:]
        if ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        rtp = ip[(ip[0] & 15) * 4 + 8:]
        cc = rtp[0] & 15
        payload += rtp[12 + 4 * cc:]
    if seconds is not None:
        payload = payload[:int(seconds * 8000)]
    open(out, "wb").write(payload)


PLAY = re.compile(r'<nop>\s*<action>\s*<exec play_pcap_audio="[^"]*/(g711a|dtmf_2833_1)\.pcap"/>\s*</action>\s*</nop>\n?')


def scenario(src, dst, media, dtmf, pcap_dir, audio, loops):
    """uac.xml plays sip-tester's captures; `stream` swaps the audio for sipp's rtp_stream (A-law
    from `audio`, `loops` times, -1: until the call ends), `none` drops it; `dtmf 0` drops the digit."""
    xml = open(src).read()

    def swap(m):
        if m.group(1) == "dtmf_2833_1":
            return m.group(0).replace("/usr/share/sip-tester", pcap_dir) if dtmf else ""
        if media == "pcap":
            return m.group(0).replace("/usr/share/sip-tester", pcap_dir)
        if media == "stream":
            return f'<nop>\n    <action>\n      <exec rtp_stream="{audio},{loops},8"/>\n    </action>\n  </nop>\n'
        return ""

    xml = PLAY.sub(swap, xml)
    if media == "stream":
        xml = xml.replace("m=audio [media_port]", "m=audio [rtpstream_audio_port]")
    open(dst, "w").write(xml)


def sipp_stats(path):
    """The last line of a sipp -trace_stat file as a dict, and the largest CurrentCall seen."""
    lines = [l.rstrip("\n") for l in open(path) if l.strip()]
    head = lines[0].split(";")
    rows = [dict(zip(head, l.split(";"))) for l in lines[1:] if not l.startswith("StartTime")]
    last = rows[-1]
    peak = max(int(r.get("CurrentCall", 0) or 0) for r in rows)
    return last, peak


def counts(last):
    c = lambda k: int(last.get(k, 0) or 0)
    failed_by = {
        k[len("Failed"):-3]: c(k)
        for k in last
        if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and c(k)
    }
    return {
        "created": c("TotalCallCreated"),
        "successful": c("SuccessfulCall(C)"),
        "failed": c("FailedCall(C)"),
        "failed_by": failed_by,
        "retransmissions": c("Retransmissions(C)"),
        "dead_call_msgs": c("DeadCallMsgs(C)"),
        "out_of_call_msgs": c("OutOfCallMsgs(C)"),
    }


def percentiles(values):
    if not values:
        return None
    values.sort()
    at = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return {"n": len(values), "p50": at(0.5), "p99": at(0.99), "max": values[-1]}


def rtds(d):
    """sipp's -trace_rtt lines (date_ms;response_time_ms;rtd_name), per response-time name."""
    by = {}
    for f in glob.glob(os.path.join(d, "uac_*_rtt.csv")):
        for line in open(f):
            p = line.strip().split(";")
            if len(p) < 3 or not re.match(r"^[0-9.]+$", p[1]):
                continue
            by.setdefault(p[2], []).append(float(p[1]))
    return {k: percentiles(v) for k, v in by.items()}


def setup_stamps(d):
    for f in glob.glob(os.path.join(d, "uac_*_rtt.csv")):
        for line in open(f):
            p = line.strip().split(";")
            if len(p) >= 3 and p[2] == "setup" and re.match(r"^[0-9.]+$", p[0]):
                yield float(p[0])


def record(out, d, js):
    r = json.loads(js)
    uac, peak = sipp_stats(os.path.join(d, "uac_stat.csv"))
    r["carrier"] = counts(uac)
    r["carrier"]["peak_concurrent"] = peak
    try:
        r["agent"] = counts(sipp_stats(os.path.join(d, "uas_stat.csv"))[0])
    except (OSError, IndexError, ValueError):
        r["agent"] = None
    r["rtd_ms"] = rtds(d)
    ok, failed = r["carrier"]["successful"], r["carrier"]["failed"]
    tck, wall = r["clk_tck"], r["wall_s"]
    r["failure_pct"] = 100.0 * failed / max(1, ok + failed)
    r["sut_cpu_s"] = r["sut_ticks"] / tck
    r["sut_cpu_ms_per_call"] = 1000.0 * r["sut_ticks"] / tck / ok if ok else None
    r["sut_cpu_pct"] = 100.0 * r["sut_ticks"] / tck / wall
    r["carrier_cpu_pct"] = None if r["carrier_ticks"] is None else 100.0 * r["carrier_ticks"] / tck / wall
    r["agent_cpu_pct"] = 100.0 * r["agent_ticks"] / tck / wall
    # the rate the calls were answered at: setup times are stamped as each 200 arrives (a slow
    # failing call's timeout would stretch the wall clock instead)
    stamps = sorted(setup_stamps(d))
    r["achieved_cps"] = (len(stamps) - 1) / ((stamps[-1] - stamps[0]) / 1000.0) if len(stamps) > 1 else None
    if r["kind"] == "concurrent":
        n = max(1, peak)
        r["rss_kib_per_call"] = (r["rss_kib_peak"] - r["rss_kib_before"]) / n
        r["pss_kib_per_call"] = (r["pss_kib_peak"] - r["pss_kib_before"]) / n
    with open(out, "a") as f:
        f.write(json.dumps(r, sort_keys=True) + "\n")
    summary = (f"   {ok} ok, {failed} failed ({r['failure_pct']:.3f} %), SUT {r['sut_cpu_pct']:.1f} % of a core, "
               f"{fmt(r['sut_cpu_ms_per_call'], 3)} ms CPU/call; sipp uac {fmt(r['carrier_cpu_pct'])} %, "
               f"uas {r['agent_cpu_pct']:.1f} %; setup p50/p99 {setup(r)} ms; SIP datagrams dropped {r.get('sip_drops')}")
    if r["kind"] == "concurrent":
        summary += (f"; peak {peak} calls up, SUT RSS {r['rss_kib_peak'] / 1024:.1f} MiB (PSS "
                    f"{r['pss_kib_peak'] / 1024:.1f}, HWM {r['hwm_kib'] / 1024:.1f})")
    print(summary, file=sys.stderr)


def fmt(v, p=1):
    return "-" if v is None else f"{v:.{p}f}"


def setup(r):
    s = (r.get("rtd_ms") or {}).get("setup")
    return "-" if not s else f"{s['p50']:.1f}/{s['p99']:.1f}"


def table(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    cps = [r for r in rows if r["kind"] == "cps"]
    conc = [r for r in rows if r["kind"] == "concurrent"]
    if cps:
        print("| target | CPS asked | achieved | calls ok | failed | failure % | SUT CPU % of a core "
              "| SUT CPU ms/call | by process (s) | sipp uac % | sipp uas % | setup p50/p99 ms | load 1m | media |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
        for r in cps:
            c = r["carrier"]
            by = ", ".join(f"{k} {v / r['clk_tck']:.1f}" for k, v in r["sut_ticks_by_process"].items())
            print(f"| {r['target']} | {r['cps']} | {fmt(r['achieved_cps'], 0)} | {c['successful']} | {c['failed']} "
                  f"| {r['failure_pct']:.3f} | {r['sut_cpu_pct']:.1f} | {fmt(r['sut_cpu_ms_per_call'], 3)} | {by} "
                  f"| {fmt(r['carrier_cpu_pct'])} | {r['agent_cpu_pct']:.1f} | {setup(r)} "
                  f"| {r['loadavg_start'][0]:.2f} | {r['media']}{'+dtmf' if r['dtmf'] else ''} |")
    if conc:
        if cps:
            print()
        print("| target | calls asked | peak up | failed | failure % | SUT PSS before MiB | PSS peak MiB "
              "| KiB/call (PSS) | RSS peak MiB (sum) | VmHWM MiB (sum) | kernel slab MiB | SUT CPU ms/call "
              "| setup p50/p99 ms | load 1m |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in conc:
            c = r["carrier"]
            print(f"| {r['target']} | {r['calls']} | {c['peak_concurrent']} | {c['failed']} | {r['failure_pct']:.3f} "
                  f"| {r['pss_kib_before'] / 1024:.1f} | {r['pss_kib_peak'] / 1024:.1f} | {r['pss_kib_per_call']:.1f} "
                  f"| {r['rss_kib_peak'] / 1024:.1f} | {r['hwm_kib'] / 1024:.1f} "
                  f"| {fmt(r['kernel_kib_peak'] / 1024 if 'kernel_kib_peak' in r else None)} "
                  f"| {fmt(r['sut_cpu_ms_per_call'], 3)} | {setup(r)} | {r['loadavg_start'][0]:.2f} |")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("alaw")
    a.add_argument("capture")
    a.add_argument("out")
    a.add_argument("--seconds", type=float)
    s = sub.add_parser("scenario")
    s.add_argument("src")
    s.add_argument("dst")
    s.add_argument("--media", choices=["stream", "pcap", "none"], default="stream")
    s.add_argument("--dtmf", type=int, default=1)
    s.add_argument("--pcap-dir", default="/usr/share/sip-tester")
    s.add_argument("--audio", required=True)
    s.add_argument("--loops", type=int, default=-1)
    r = sub.add_parser("record")
    r.add_argument("--out", required=True)
    r.add_argument("--dir", required=True)
    r.add_argument("--json", required=True)
    t = sub.add_parser("table")
    t.add_argument("path")
    o = p.parse_args()
    if o.cmd == "alaw":
        alaw(o.capture, o.out, o.seconds)
    elif o.cmd == "scenario":
        scenario(o.src, o.dst, o.media, o.dtmf, o.pcap_dir, o.audio, o.loops)
    elif o.cmd == "record":
        record(o.out, o.dir, o.json)
    else:
        table(o.path)


if __name__ == "__main__":
    main()
