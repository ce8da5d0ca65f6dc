#!/usr/bin/python3
"""Runs bench_stream and Python's json.loads on the same corpus, in one run,
and prints a Markdown table for benchmarks/RESULTS.md.

    stream_report.py BENCH_STREAM [--repetitions N]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time


def python_json_loads(path, reps):
    """json.loads per line, reading the same fields the C++ contenders read."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    best = None
    for _ in range(reps):
        start = time.process_time()
        total = 0
        for line in lines:
            if not line:
                continue
            doc = json.loads(line)
            for k in ("stream", "status", "id", "error"):
                v = doc.get(k)
                if isinstance(v, str):
                    total += len(v)
            for o in ("progressDetail", "errorDetail", "aux"):
                v = doc.get(o)
                if isinstance(v, dict):
                    for k in ("current", "total", "code", "Size"):
                        if isinstance(v.get(k), int):
                            total += v[k]
        elapsed = time.process_time() - start
        best = elapsed if best is None else min(best, elapsed)
    return len(data) / best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("--repetitions", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(
            [args.bench, f"--write-corpus={d}", "--benchmark_format=json",
             f"--benchmark_repetitions={args.repetitions}", "--benchmark_report_aggregates_only=true",
             # interleaved, so a noisy neighbour hurts every contender alike
             "--benchmark_enable_random_interleaving=true"],
            check=True, capture_output=True, text=True).stdout
        report = json.loads(out)
        py = python_json_loads(os.path.join(d, "engine.ndjson"), 3)
        corpus_mb = os.path.getsize(os.path.join(d, "engine.ndjson")) / 1e6
        plain_mb = os.path.getsize(os.path.join(d, "plain.log")) / 1e6

    rate = {}
    for b in report["benchmarks"]:
        if b.get("aggregate_name") == "median" or b.get("run_type") == "iteration":
            name = b["run_name"].split("/")[0]
            if name not in rate or b.get("aggregate_name") == "median":
                rate[name] = b["bytes_per_second"]
    rate["engine_python_json_loads_per_line"] = py

    ctx = report["context"]
    load = ctx.get("load_avg") or ["?"]
    print(f"- date: {time.strftime('%Y-%m-%d')}; machine: {ctx.get('num_cpus')} CPUs at "
          f"{ctx.get('mhz_per_cpu')} MHz, {platform.platform()}; load average when it started: {load[0]}")
    print(f"- corpora: engine stream {corpus_mb:.1f} MB, BuildKit plain log {plain_mb:.1f} MB; "
          "C++ rates are process CPU time (all threads), median of "
          f"{args.repetitions} randomly interleaved repetitions; Python: best of 3, process time")
    print()
    print("| contender | MB/s | rtb decoder / contender |")
    print("| --- | ---: | ---: |")
    ours = rate["engine_rtb_decoder_16k"]
    for name in ("engine_rtb_decoder_16k", "engine_simdjson_iterate_many", "engine_simdjson_iterate_many_one_thread",
                 "engine_simdjson_iterate_many_16k", "engine_simdjson_iterate_many_16k_source",
                 "engine_nlohmann_per_line", "engine_python_json_loads_per_line"):
        print(f"| {name} | {rate[name] / 1e6:.0f} | {ours / rate[name]:.2f}x |")
    print()
    print("| contender | MB/s | rtb parser / contender |")
    print("| --- | ---: | ---: |")
    plain = rate["plain_rtb_parser_16k"]
    for name in ("plain_rtb_parser_16k", "plain_std_regex_per_line"):
        print(f"| {name} | {rate[name] / 1e6:.0f} | {plain / rate[name]:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
