"""Benchmark of hostile recipes: how long and how much memory refusing them takes, against an ordinary recipe.

    python benchmarks/bench_hostile_yaml.py [--json] [--rounds N]

Each case is written to a temporary file and loaded with ``load_recipe`` (the
YAML reader, its line index and validation against the built-in plugins), as
``pkd validate`` does, in this process; the figure per case is its best round:

- ``alias bomb``: the "billion laughs" file, 9 levels of 9 aliases (under 1 KB;
  10**9 values if expanded);
- ``500 nested [``: an 800-byte file of 500 nested flow sequences;
- ``self alias``: an anchor that contains its own alias (an endless value);
- ``quickstart``: ``recipes/quickstart.yaml``, the baseline every ratio is against.

Time is the best of the rounds, measured without tracing; memory is the peak
of Python allocations during one more load traced by ``tracemalloc`` (which
slows it several times over), where an expansion would land. Target
(issue 12): each hostile case refused in under 1 s and under 200 MB.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

from pkd_toolkit.errors import UsageError
from pkd_toolkit.plugin.manager import load_plugins
from pkd_toolkit.recipe.loading import load_recipe

ROOT = Path(__file__).resolve().parents[1]


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]" for level in range(1, levels)]
    return "\n".join(["name: bomb", *lines]) + "\n"


CASES = {
    "alias bomb": alias_bomb(),
    "500 nested [": "name: deep\ndescription: " + "[" * 500 + "]" * 500 + "\n",
    "self alias": "name: loop\nme: &me [1, *me]\n",
    "quickstart": (ROOT / "recipes" / "quickstart.yaml").read_text(encoding="utf-8"),
}


def load(path: Path, registry) -> str:
    try:
        load_recipe(path, registry)
    except UsageError as error:
        return str(error).splitlines()[0]
    return "valid"


def measure(path: Path, registry, rounds: int) -> dict:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        outcome = load(path, registry)
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    load(path, registry)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": min(times), "peak_mb": peak / 2**20, "outcome": outcome}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per case; the best is kept")
    args = parser.parse_args()
    registry = load_plugins(autoload=False).registry
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, text in CASES.items():
            path = Path(folder) / f"{name.replace(' ', '_')}.yaml"
            path.write_text(text, encoding="utf-8")
            results[name] = {"bytes": len(text.encode()), **measure(path, registry, args.rounds)}
    baseline = results["quickstart"]["seconds"]
    for result in results.values():
        result["time_vs_quickstart"] = result["seconds"] / baseline
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'case':14} {'bytes':>6} {'seconds':>9} {'x quickstart':>13} {'peak MB':>8}  outcome")
    for name, result in results.items():
        print(
            f"{name:14} {result['bytes']:>6} {result['seconds']:>9.4f} {result['time_vs_quickstart']:>13.2f} "
            f"{result['peak_mb']:>8.2f}  {result['outcome'][:90]}"
        )


if __name__ == "__main__":
    main()
