"""The run's way through its components: dataset -> networks -> schedules -> ensemblers -> report."""

from __future__ import annotations

import time
from typing import Any

from pkd_toolkit import atomic
from pkd_toolkit.run import REPORT_FILE, Run


def build_components(run: Run) -> dict[str, Any]:
    """Build every component the recipe names, looked up in the registry by name."""
    recipe, registry = run.recipe, run.plugins.registry
    built: dict[str, Any] = {"data": registry.get("datasets", recipe.data.name).build(recipe.data)}
    built["modalities"] = {
        key: registry.get("modalities", section.name).build(section) for key, section in recipe.modalities.items()
    }
    built["schedules"] = [registry.get("schedules", s.name).build(s) for s in recipe.schedules]
    built["ensembles"] = [registry.get("ensemblers", e.name).build(e) for e in recipe.ensembles]
    return built


def run_pipeline(run: Run) -> dict[str, Any]:
    run.hook.pkd_run_start(run=run)
    components = build_components(run)
    report = {"recipe": run.recipe.name, "components": sorted(components), "seconds": time.time() - run.started}
    atomic.write_json(run.path(REPORT_FILE), report)
    run.hook.pkd_run_end(run=run, report=report)
    return report
