"""The quickstart with several seeds: CE against PKD exits, sum against WISE, the early-exit curve.

    python benchmarks/bench_quickstart.py [--seeds 0 1 2] [--out benchmarks/results/quickstart]
                                          [--no-ablations] [--json]

A thin caller of the toolkit's own commands: ``pkd run quickstart --seeds
0,1,2 --run-dir OUT`` (the data set is the same for every seed: only
initialisation, sampling and augmentation change), which writes one run
folder per seed and the mean and spread over seeds (``seeds.md`` in OUT, the
tables the README shows, and ``seeds.json``); this script adds the
README's plot of the PKD exits' early-exit curve. With ablations (the default)
every run also trains, in lockstep with ``ce`` and ``pkd`` (the same batches,
the same frozen backbones), the PKD variants listed in ``ABLATIONS``, each
appended to the recipe's schedules with ``--set 'schedules+=...'``: PKD as the
released code runs it (``pkd_code``: MV, residual, then each network's own
head, shares 1/6, 1/6, 2/3), PKD as the paper's text states it (``pkd_text``:
MV, residual, I-frame, the same shares), the paper's two PKD ablations (the
reverse teacher order and a single I-frame teacher) and PKD with the teachers
ordered from the weakest to the strongest network *of this data set* (see the
README for why). Every schedule's exits get the recipe's ensembles (``sum``,
``mean``, ``fusion``, ``wise``). Finished seeds are kept: run it again to
continue an interrupted benchmark.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "quickstart"  # the packaged recipe (recipes/quickstart.yaml)
PKD = [sys.executable, "-m", "pkd_toolkit"]

# PKD variants trained beside the recipe's own `ce` and `pkd` schedules: label -> the variant's PKD settings.
ABLATIONS = {
    "pkd_code": "preset: published_code",  # the released code: [mv, residual, self], shares 1/6, 1/6, 2/3
    "pkd_text": "preset: paper_text",  # the paper's text: [mv, residual, iframe], the same shares
    "pkd_reverse": "teachers: [iframe, residual, mv]",  # the paper's reverse-order ablation
    "pkd_iframe": "teachers: [iframe]",  # the paper's single I-frame teacher
    "pkd_weak_to_strong": "teachers: [iframe, mv, residual]",  # this data's networks, weakest to strongest
}
# The same training as the recipe's `pkd` schedule, so that the ablations run in lockstep with it.
EXIT_SETTINGS = "epochs: 20, optimizer: {name: adam, lr: 0.002}, scheduler: {name: cosine}"


def ablation_overrides() -> list[str]:
    """``--set 'schedules+={name: pkd, label: ..., <its settings>, ...}'`` for every ablation."""
    overrides = []
    for label, settings in ABLATIONS.items():
        overrides += ["--set", f"schedules+={{name: pkd, label: {label}, {settings}, {EXIT_SETTINGS}}}"]
    return overrides


def run_seeds(seeds: list[int], out: Path, ablations: bool) -> dict[str, Any]:
    command = [*PKD, "run", RECIPE, "--seeds", ",".join(map(str, seeds)), "--run-dir", str(out)]
    command += ablation_overrides() if ablations else []
    print(" ".join(command), file=sys.stderr, flush=True)
    started = time.time()
    subprocess.run(command, check=True, cwd=ROOT)
    print(f"{len(seeds)} seed(s): {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    return json.loads((out / "seeds.json").read_text())


def plot(summary: dict[str, Any], path: Path) -> None:
    """The README's figure: the PKD exits' early-exit curves (mean over seeds), and their full ensembles."""
    from pkd_toolkit.report.plots import plot_early_exit

    points = [
        {"ensembler": p["ensembler"], "segments": p["segments"], "threshold": p["threshold"],
         "top1": p["top1"]["mean"], "gmacs_per_video": p["gmacs_per_video"]["mean"]}  # fmt: skip
        for p in summary["early_exit"]
        if p["schedule"] == "pkd"
    ]
    full = [
        {"name": e["name"], "top1": e["top1"]["mean"], "gmacs_per_video": e["gmacs_per_video"]}
        for e in summary["ensembles"]
        if e["schedule"] == "pkd" and e["name"] in ("sum", "wise")
    ]
    title = f"quickstart, PKD exits: early exit (mean of {len(summary['seeds'])} seeds)"
    plot_early_exit(points, full, path, title=title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quickstart")
    parser.add_argument("--no-ablations", dest="ablations", action="store_false")
    parser.add_argument("--json", action="store_true", help="print seeds.json instead of the tables")
    arguments = parser.parse_args()
    summary = run_seeds(arguments.seeds, arguments.out.resolve(), arguments.ablations)
    plot(summary, arguments.out / "quickstart_early_exit.png")
    print(json.dumps(summary, indent=2) if arguments.json else (arguments.out / "seeds.md").read_text())


if __name__ == "__main__":
    main()
