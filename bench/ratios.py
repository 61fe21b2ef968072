#!/usr/bin/env python3
"""Ratios of diffsbi's speed to the PyTorch reference measured in the same run.

Reads bench/results/diffsbi.txt (key=value lines from bench_speed) and the
torch_ref.py JSON files, and prints one line per comparison."""
import json
import os
import statistics
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "bench/results"
ours = []
with open(os.path.join(out, "diffsbi.txt")) as fh:
    for line in fh:
        if line.startswith("bench="):
            ours.append(dict(kv.split("=", 1) for kv in line.split()))


def find(bench, **kw):
    for r in ours:
        if r["bench"] == bench and all(r.get(k) == str(v) for k, v in kw.items()):
            return r
    return None


def torch_runs(tag):
    path = os.path.join(out, f"torch-{tag}.json")
    if not os.path.exists(path):
        return {}
    with open(path) as fh:
        runs = json.load(fh)["runs"]
    by = {}
    for r in runs:
        by.setdefault(r["config"], []).append(r)
    med = lambda rs, f: statistics.median(f(r) for r in rs)
    return {cfg: {"steps": med(rs, lambda r: r["train"]["steps_per_s"]),
                  "draws": med(rs, lambda r: r["sample"]["draws_per_s"]),
                  "lat": med(rs, lambda r: r["sample"]["latency_s_median"]),
                  "rss": med(rs, lambda r: r["peak_rss_mb"])} for cfg, rs in by.items()}


nproc = os.cpu_count()
print("# ratio = diffsbi / PyTorch (higher is better for rates, lower for latency and memory)")
for tag, (w, d, b) in {"4x256": (256, 4, 256), "5x100": (100, 5, 200)}.items():
    t = torch_runs(tag)
    for ours_threads, cfg in ((1, "1"), (nproc, "default")):
        if cfg not in t:
            continue
        tr = find("train", width=w, depth=d, batch=b, threads=ours_threads)
        sa = find("sample", width=w, depth=d, threads=ours_threads)
        sg = find("sgemm", M=256 if w == 256 else 200, N=w, K=w, threads=ours_threads) or find("sgemm", M=256, N=256, K=256, threads=ours_threads)
        ref = t[cfg]
        if tr:
            print(f"compare=train size={tag} ours_threads={ours_threads} torch={cfg} "
                  f"ours_steps_per_s={float(tr['steps_per_s']):.0f} torch_steps_per_s={ref['steps']:.0f} "
                  f"ratio={float(tr['steps_per_s']) / ref['steps']:.2f}")
            if sg:
                print(f"compare=sgemm_fraction size={tag} threads={ours_threads} training_gflops={tr['gflops']} "
                      f"sgemm_gflops={sg['gflops']} fraction={float(tr['gflops']) / float(sg['gflops']):.2f}")
            gs = find("gemmstep", width=w, depth=d, batch=b, threads=ours_threads)
            if gs:  # the same step made only of its own sgemm calls
                print(f"compare=gemmstep_fraction size={tag} threads={ours_threads} training_gflops={tr['gflops']} "
                      f"gemmstep_gflops={gs['gflops']} fraction={float(tr['gflops']) / float(gs['gflops']):.2f}")
        if sa:
            print(f"compare=sample size={tag} ours_threads={ours_threads} torch={cfg} "
                  f"ours_draws_per_s={float(sa['draws_per_s']):.0f} torch_draws_per_s={ref['draws']:.0f} "
                  f"ratio={float(sa['draws_per_s']) / ref['draws']:.2f} "
                  f"ours_latency_1k_s={sa['latency_1k_s']} torch_latency_1k_s={ref['lat']:.3f}")
        peak = max(float(x['peak_rss_mb']) for x in (tr, sa) if x)
        print(f"compare=memory size={tag} ours_threads={ours_threads} torch={cfg} ours_peak_rss_mb={peak:.1f} "
              f"torch_peak_rss_mb={ref['rss']:.0f} ratio={peak / ref['rss']:.3f}")
