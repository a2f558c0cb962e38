"""The quickstart with several seeds: CE against PKD exits, sum against WISE, the early-exit curve.

    python benchmarks/bench_quickstart.py [--seeds 0 1 2] [--out benchmarks/results/quickstart] [--no-ablations]

Runs ``pkd run recipes/quickstart.yaml --set seed=S`` once per seed (the data
set is the same for every seed: only initialisation, sampling and
augmentation change) and reports the mean and spread over seeds, as JSON
(``quickstart.json``), as the Markdown table the README shows
(``quickstart.md``) and as a plot of the early-exit curve. With ablations (the
default) every run also trains, in lockstep with ``ce`` and ``pkd`` (the same
batches, the same frozen backbones): PKD as the released code runs it
(``pkd_code``: MV, residual, then each network's own head, shares 1/6, 1/6,
2/3), PKD as the paper's text states it (``pkd_text``: MV, residual, I-frame,
the same shares), the paper's two PKD ablations (the reverse teacher order and
a single I-frame teacher) and PKD with the teachers ordered from the weakest to
the strongest network *of this data set* (see the README for why). Every
schedule's exits get the ``sum``, ``mean``, ``fusion`` and ``wise`` ensembles.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "quickstart.yaml"
PKD = [sys.executable, "-m", "pkd_toolkit"]

# label: the PKD settings of that variant (each trained in lockstep with ce and pkd)
ABLATIONS = {
    "pkd_code": "preset: published_code",  # the released code: [mv, residual, self], shares 1/6, 1/6, 2/3
    "pkd_text": "preset: paper_text",  # the paper's text: [mv, residual, iframe], the same shares
    "pkd_reverse": "teachers: [iframe, residual, mv]",  # the paper's reverse-order ablation
    "pkd_iframe": "teachers: [iframe]",  # the paper's single I-frame teacher
    "pkd_weak_to_strong": "teachers: [iframe, mv, residual]",  # this data's networks, weakest to strongest
}
EXIT_SETTINGS = "epochs: 20, optimizer: {name: adam, lr: 0.002}, scheduler: {name: cosine}"


def schedules_override() -> str:
    extra = "".join(f", {{name: pkd, label: {label}, {settings}, {EXIT_SETTINGS}}}" for label, settings in ABLATIONS.items())
    return (
        f"schedules=[{{name: ce, {EXIT_SETTINGS}}}, {{name: pkd, teachers: [mv, residual, iframe], {EXIT_SETTINGS}}}{extra}]"
    )


def run(seed: int, out: Path, ablations: bool) -> dict[str, Any]:
    run_dir = out / f"seed-{seed}"
    report_file = run_dir / "report.json"
    if not report_file.exists():  # finished seeds are kept: the benchmark can be resumed
        command = [*PKD, "run", str(RECIPE), "--set", f"seed={seed}", "--run-dir", str(run_dir)]
        command += ["--resume", str(run_dir)] if (run_dir / "checkpoints" / "last.pt").exists() else []
        command += ["--set", schedules_override()] if ablations else []
        started = time.time()
        print(f"seed {seed}: {' '.join(command)}", file=sys.stderr, flush=True)
        subprocess.run(command, check=True, cwd=ROOT)
        print(f"seed {seed}: {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    return json.loads(report_file.read_text())


def spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def aggregate(reports: list[dict[str, Any]]) -> dict[str, Any]:
    exits: dict[tuple, list[float]] = defaultdict(list)
    for report in reports:
        for row in report["exits"]:
            exits[(row["schedule"], row["network"], row["exit"])].append(row["top1"])
    differences: dict[str, list[float]] = defaultdict(list)  # per schedule: each seed's mean over exits
    for report in reports:
        per_schedule: dict[str, list[float]] = defaultdict(list)
        for row in report["comparison"]:
            per_schedule[row["schedule"]].append(row["difference"])
        for schedule, values in per_schedule.items():
            differences[schedule].append(statistics.fmean(values))
    ensembles: dict[tuple, list[float]] = defaultdict(list)
    wise_minus: dict[str, dict[str, list[float]]] = {"sum": defaultdict(list), "mean": defaultdict(list)}
    for report in reports:
        by_name = {(e["schedule"], e["name"]): e["top1"] for e in report["ensembles"]}
        for key, value in by_name.items():
            ensembles[key].append(value)
        for schedule in {s for s, _ in by_name}:
            for baseline, differences_of in wise_minus.items():
                if (schedule, "wise") in by_name and (schedule, baseline) in by_name:
                    differences_of[schedule].append(by_name[(schedule, "wise")] - by_name[(schedule, baseline)])
    curve: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for report in reports:
        for point in report["early_exit"]:
            key = (point["schedule"], point["ensembler"], json.dumps(point["segments"], sort_keys=True), point["threshold"])
            for field in ("top1", "gmacs_per_video", "gmacs_fraction"):
                curve[key][field].append(point[field])
    return {
        "seeds": len(reports),
        "seconds": spread([r["seconds"] for r in reports]),
        "exits": [
            {"schedule": s, "network": n, "exit": e, "top1": spread(v), "gmacs": _gmacs(reports, s, n, e)}
            for (s, n, e), v in exits.items()
        ],
        "exit_difference_vs_ce": {schedule: spread(values) for schedule, values in differences.items()},
        "ensembles": [{"schedule": s, "name": n, "top1": spread(v)} for (s, n), v in ensembles.items()],
        "wise_minus_sum": {schedule: spread(values) for schedule, values in wise_minus["sum"].items()},
        "wise_minus_mean": {schedule: spread(values) for schedule, values in wise_minus["mean"].items()},
        "early_exit": [
            {
                "schedule": s, "ensembler": e, "segments": json.loads(seg), "threshold": t,
                **{field: spread(values) for field, values in fields.items()},
            }  # fmt: skip
            for (s, e, seg, t), fields in curve.items()
        ],
    }


def _gmacs(reports: list[dict[str, Any]], schedule: str, network: str, exit_name: str) -> float:
    row = next(r for r in reports[0]["exits"] if (r["schedule"], r["network"], r["exit"]) == (schedule, network, exit_name))
    return row["gmacs"]


def _pm(stats: dict[str, float], scale: float = 100.0, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{scale * stats['mean']:{sign}.1f} ± {scale * stats['sd']:.1f}"


def markdown(summary: dict[str, Any]) -> str:
    n = summary["seeds"]
    lines = [f"Mean ± standard deviation over {n} seeds (top-1 %, test split of 180 videos; one video = 0.56 points).", ""]
    finals = [e for e in summary["exits"] if e["schedule"] == "backbone"]
    lines += ["**The networks' own heads** (stage a):", ""]
    lines += ["| network | top-1 | GMACs/frame |", "|---|---:|---:|"]
    lines += [f"| {e['network']} | {_pm(e['top1'])} | {e['gmacs']:.3f} |" for e in finals]
    schedules = [s for s in dict.fromkeys(e["schedule"] for e in summary["exits"]) if s not in ("backbone", "ce")]
    lines += ["", "**Early exits, cross entropy against PKD** (and the ablations):", ""]
    lines += ["| network | exit | CE | " + " | ".join(schedules) + " |", "|---|---|---:|" + "---:|" * len(schedules)]
    by_key = {(e["schedule"], e["network"], e["exit"]): e for e in summary["exits"]}
    for (schedule, network, exit_name), entry in by_key.items():
        if schedule != "ce" or exit_name == "final":
            continue
        cells = [_pm(by_key[(s, network, exit_name)]["top1"]) for s in schedules]
        lines.append(f"| {network} | {exit_name} | {_pm(entry['top1'])} | " + " | ".join(cells) + " |")
    differences = summary["exit_difference_vs_ce"]
    lines.append("| **mean over exits, minus CE** | | | " + " | ".join(f"**{_pm(differences[s], signed=True)}**" for s in schedules) + " |")
    lines += ["", "**Ensembles of all exits** (WISE fitted on the train split's scores; fusion is CoViAR's 2:1:1 of the "
              "networks' final heads, so the same in every row):", ""]
    ensemble_schedules = list(dict.fromkeys(e["schedule"] for e in summary["ensembles"]))
    names = list(dict.fromkeys(e["name"] for e in summary["ensembles"]))
    ensembles = {(e["schedule"], e["name"]): e["top1"] for e in summary["ensembles"]}
    lines += ["| exits of | " + " | ".join(names) + " | WISE - sum | WISE - mean |", "|---|" + "---:|" * (len(names) + 2)]
    for schedule in ensemble_schedules:
        cells = [_pm(ensembles[(schedule, name)]) for name in names]
        versus = [_pm(summary[f"wise_minus_{baseline}"][schedule], signed=True) for baseline in ("sum", "mean")]
        lines.append(f"| {schedule} | " + " | ".join(cells + versus) + " |")
    lines += ["", "**Early exit** (WISE on the PKD exits, all 5 segments; GMACs per video):", ""]
    lines += ["| threshold | top-1 | GMACs/video | of the full ensemble |", "|---:|---:|---:|---:|"]
    for point in summary["early_exit"]:
        if point["schedule"] == "pkd" and point["ensembler"] == "wise" and point["segments"] == {"iframe": 5, "mv": 5, "residual": 5}:
            lines.append(
                f"| {point['threshold']:g} | {_pm(point['top1'])} | {point['gmacs_per_video']['mean']:.3f} "
                f"| {100 * point['gmacs_fraction']['mean']:.0f}% |"
            )
    lines += ["", f"Wall time per run: {summary['seconds']['mean'] / 60:.1f} min (2-core CPU)."]
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], path: Path) -> None:
    from pkd_toolkit.report.plots import plot_early_exit

    points = [
        {"ensembler": p["ensembler"], "segments": p["segments"], "threshold": p["threshold"],
         "top1": p["top1"]["mean"], "gmacs_per_video": p["gmacs_per_video"]["mean"]}  # fmt: skip
        for p in summary["early_exit"]
        if p["schedule"] == "pkd"
    ]
    full = [
        {"name": e["name"], "top1": e["top1"]["mean"], "gmacs_per_video": max(p["gmacs_per_video"] for p in points)}
        for e in summary["ensembles"]
        if e["schedule"] == "pkd" and e["name"] in ("sum", "wise")
    ]
    plot_early_exit(points, full, path, title=f"quickstart, PKD exits: early exit (mean of {summary['seeds']} seeds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quickstart")
    parser.add_argument("--no-ablations", dest="ablations", action="store_false")
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    reports = [run(seed, arguments.out, arguments.ablations) for seed in arguments.seeds]
    summary = aggregate(reports)
    (arguments.out / "quickstart.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = markdown(summary)
    (arguments.out / "quickstart.md").write_text(table)
    plot(summary, arguments.out / "quickstart_early_exit.png")
    print(table)


if __name__ == "__main__":
    main()
