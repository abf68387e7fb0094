#!/usr/bin/env python3
"""Markdown table of bench/relay/run.sh results: python3 bench/relay/table.py [results.jsonl]"""
import json
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "target/relay-bench/results.jsonl"
print("| run | calls | pps fwd | relay CPU % | µs CPU/pkt | loss % | >1.28 s late % | p50 µs | p99 µs | max µs "
      "| audio p50 µs | jitter ms | gen lag p99 µs | load 1m | in-band digits recovered (det/sens/G30) "
      "| leaked ms | RFC 4733 events through |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
for line in open(path):
    o = json.loads(line)
    d = o["caller_to_callee"]
    b = o["callee_to_caller"]
    r = o.get("relay_cpu") or {}
    fwd = o["forwarded_in_window"] / o["window_s"]
    sent = max(1, d["sent"] + b["sent"])
    late = 100.0 * (d["too_late"] + b["too_late"]) / sent
    # Older result lines counted late packets as lost.
    loss = 100.0 * (d["lost"] + b["lost"]) / sent - (late if "too_late_pct" not in d else 0.0)
    leak = o["dtmf"]["inband_leak"]
    rfc = o["dtmf"]["rfc4733_leak"]
    f = lambda v, p=1: "-" if v is None else f"{v:.{p}f}"
    print(f"| {o['label']} | {o['calls']} | {fwd:.0f} | {f(r.get('cpu_pct'))} | {f(r.get('us_per_packet'), 2)} "
          f"| {loss:.3f} | {late:.1f} | {f(d['latency_us']['p50'])} | {f(d['latency_us']['p99'])} | {f(d['latency_us']['max'])} "
          f"| {f(d['audio_latency_us']['p50'])} | {b['jitter_ms']['mean']:.3f} "
          f"| {f(o['generator_send_lag_us']['p99'])} | {o['loadavg_start'][0]:.2f} "
          f"| {leak['recovered_detector']}/{leak['recovered_detector_sensitive']}/{leak['recovered_goertzel_30ms']}"
          f" of {leak['presses']} | {leak['leaked_ms_mean']:.1f} "
          f"| {rfc['presses_with_events_received']} of {rfc['presses']} |")
