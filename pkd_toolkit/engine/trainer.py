"""The training loop: runs stages epoch by epoch, checkpoints after each, resumes mid-stage."""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from pkd_toolkit.atomic import atomic_path
from pkd_toolkit.engine import checkpoint
from pkd_toolkit.engine.loaders import TrainBatches, eval_loader
from pkd_toolkit.engine.monitor import Monitor, epoch_summary
from pkd_toolkit.engine.optim import build_optimizer, build_scheduler
from pkd_toolkit.engine.parallel import StepFunction, mean_over_processes, step_function, use_sync_batch_norm
from pkd_toolkit.engine.predictions import predict
from pkd_toolkit.engine.runtime import Runtime, epoch_seed, seed_everything, share_from_main
from pkd_toolkit.engine.stages import Objective, Stage, StepContext
from pkd_toolkit.errors import PkdError
from pkd_toolkit.run_folder.layout import best_checkpoint, last_checkpoint
from pkd_toolkit.run_folder.run import Run
from pkd_toolkit.scores.metrics import topk_accuracy

CHECKPOINT_FORMAT = 1


@dataclass
class Position:
    """Where a run is: the stage being run, the epochs it finished, and the stages finished before it."""

    stage_index: int = 0
    epoch: int = 0
    finished: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"stage_index": self.stage_index, "epoch": self.epoch, "finished": list(self.finished)}


class NonFiniteLoss(PkdError):
    pass


@dataclass
class Splits:
    """The datasets a run trains and evaluates on (built once, shared by every stage).

    ``evaluation`` is evaluated every ``train.eval_every`` epochs: the
    validation split when the recipe carves one, else the test split; only when
    ``select_best`` does that evaluation choose ``best-<stage>.pt``.
    """

    train: Any
    evaluation: Any
    evaluation_name: str = "test"
    select_best: bool = False


class Trainer:
    def __init__(
        self,
        run: Run,
        model: nn.Module,
        runtime: Runtime,
        monitor: Monitor,
        splits: Splits,
        modalities: Mapping[str, str],
        workers: int = 0,
    ):
        self.run = run
        self.model = model
        self.runtime = runtime
        self.monitor = monitor
        self.splits = splits
        self.modalities = modalities  # network name -> modality key
        self.settings = run.recipe.train
        self.workers = workers  # DataLoader workers per process (see loaders.resolve_workers)
        self.batches = TrainBatches(splits.train, self.settings, runtime, workers)
        self._step: tuple[tuple[int, tuple[str, ...]], StepFunction] | None = None  # (stage, active objectives), step
        if self.settings.sync_bn:
            note = use_sync_batch_norm(model, runtime)
            if note:
                monitor.info(note)

    # -- the run's stages ---------------------------------------------------------------

    def fit(self, stages: list[Stage], resume: dict[str, Any] | None = None) -> Position:
        position = Position(**resume["position"]) if resume else Position()
        resumed_stage = position.stage_index if resume else None
        for index, stage in enumerate(stages):
            if stage.name in position.finished:
                continue
            self._run_stage(stage, index, position, resume if index == resumed_stage else None)
            position = Position(index + 1, 0, [*position.finished, stage.name])
        if self.runtime.is_main:
            self._save(position, {}, {}, None, None, complete=True)
        return position

    def _run_stage(self, stage: Stage, index: int, position: Position, state: dict[str, Any] | None) -> None:
        start_epoch = position.epoch if state else 0
        self.run.hook.pkd_stage_start(run=self.run, stage=stage)
        for prepare in stage.setup:
            prepare()
        optimizers = {o.name: build_optimizer(o.parameters, o.optimizer, o.lr) for o in stage.objectives}
        schedulers = {o.name: build_scheduler(optimizers[o.name], o.scheduler, stage.epochs) for o in stage.objectives}
        scaler = torch.amp.GradScaler(self.runtime.device.type, enabled=self.runtime.amp)
        best = None
        if state:
            for name, optimizer in optimizers.items():
                optimizer.load_state_dict(state["optimizers"][name])
            for name, scheduler in schedulers.items():
                scheduler.load_state_dict(state["schedulers"][name])
            scaler.load_state_dict(state["scaler"])
            best = state.get("best")
        self.monitor.info(f"stage {stage.name}: {stage.epochs} epochs, objectives {', '.join(optimizers)}")
        if stage.evaluate and self.settings.eval_every:
            self.monitor.info(f"stage {stage.name}: {self._evaluation_meaning(stage)}")
        metrics: dict[str, float] = {}
        for epoch in range(start_epoch, stage.epochs):
            started = time.time()
            metrics = self._train_epoch(stage, index, epoch, optimizers, scaler)
            for scheduler in schedulers.values():
                scheduler.step(epoch + 1)
            if self._evaluation_due(stage, epoch):
                metrics.update(self._evaluate(stage))
            metrics["seconds"] = time.time() - started
            here = Position(index, epoch + 1, position.finished)
            score = metrics.get(f"{self.splits.evaluation_name}_top1") if self.splits.select_best else None
            improved = score is not None and (best is None or score > best)
            best = score if improved else best
            if self.runtime.is_main:
                # The checkpoint carries the epoch's metrics line: a run killed between the two writes
                # gets the line back when it resumes (see Monitor.resume_at).
                record = {"stage": stage.name, "stage_index": index, "epoch": epoch + 1, **metrics}
                self._save(here, optimizers, schedulers, scaler, best, record)
                self.monitor.record(record, step=epoch + 1)
                if improved:
                    self._copy_best(stage)
            summary = epoch_summary(metrics)
            self.monitor.info(f"{stage.name} epoch {epoch + 1}/{stage.epochs}  {summary}")
            self.run.hook.pkd_epoch_end(run=self.run, stage=stage, epoch=epoch + 1, metrics=metrics)
        self.run.hook.pkd_stage_end(run=self.run, stage=stage, metrics=metrics)

    # -- one epoch -------------------------------------------------------------------------

    def _train_epoch(self, stage: Stage, index: int, epoch: int, optimizers: dict, scaler: Any) -> dict[str, float]:
        seed = epoch_seed(self.run.recipe.seed, index, epoch)
        seed_everything(seed)
        active = enter_epoch(self.model, stage, epoch)
        step = self._step_function(index, active)
        loader = self.batches.epoch(seed)
        if len(loader) == 0:
            raise PkdError(f"stage {stage.name}: the train split has no complete batch; lower train.batch_size")
        sums: dict[str, float] = {}
        samples = 0
        batches = self.monitor.track(loader, len(loader), f"{stage.name} epoch {epoch + 1}/{stage.epochs}")
        for batch in batches:
            context = StepContext(batch, epoch, self.modalities, self.runtime.device)
            with self.runtime.autocast():
                losses = step(context)
            total = sum(losses.values())
            if not bool(torch.isfinite(total)):
                self._stop_on_non_finite(stage, epoch, losses)
            apply_gradients(total, active, optimizers, scaler)
            samples += len(context.labels)
            for name, value in {**{f"loss/{k}": float(v.detach()) for k, v in losses.items()}, **context.metrics}.items():
                sums[name] = sums.get(name, 0.0) + value
            batches.advance(len(context.labels), loss=float(total.detach()))
        steps = len(loader)
        metrics = mean_over_processes({name: value / steps for name, value in sums.items()}, self.runtime)
        for objective in active:
            metrics[f"lr/{objective.name}"] = optimizers[objective.name].param_groups[0]["lr"]
        metrics["samples"] = float(samples * self.runtime.world_size)
        # Throughput of every process together; the wait for data is this process's (rank 0's on the console).
        metrics["clips_per_second"] = batches.clips_per_second * self.runtime.world_size
        metrics["data_wait_seconds"] = batches.data_wait
        return metrics

    def _step_function(self, stage_index: int, active: list[Objective]) -> StepFunction:
        """The step's losses for these active objectives (built after freezing: DDP syncs what requires grad)."""
        key = (stage_index, tuple(o.name for o in active))
        if self._step is None or self._step[0] != key:
            self._step = (key, step_function(self.model, active, self.runtime))
        return self._step[1]

    def _stop_on_non_finite(self, stage: Stage, epoch: int, losses: dict[str, torch.Tensor]) -> None:
        bad = ", ".join(f"{name} = {float(value.detach())}" for name, value in losses.items() if not torch.isfinite(value))
        last = last_checkpoint(self.run.dir)
        kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was written yet"
        raise NonFiniteLoss(
            f"stage {stage.name!r}, epoch {epoch + 1}: the loss is not finite ({bad}); training stopped and {kept}. "
            "Lower the learning rate, or turn off train.amp if it is on."
        )

    # -- evaluation and checkpoints ------------------------------------------------------

    def _evaluation_due(self, stage: Stage, epoch: int) -> bool:
        every = self.settings.eval_every
        return bool(stage.evaluate) and every > 0 and ((epoch + 1) % every == 0 or epoch + 1 == stage.epochs)

    def _evaluation_meaning(self, stage: Stage) -> str:
        """What the periodic evaluation of ``stage`` measures and what it decides, in words, for the log."""
        exits = sum(len(network.exit_names) for network in stage.evaluate.values())
        measured = (
            f"every {self.settings.eval_every} epoch(s), top-1 on the {self.splits.evaluation_name} split of each of "
            f"{exits} exits of {len(stage.evaluate)} network(s) (heads frozen in this stage included)"
        )
        if self.splits.select_best:
            return f"{measured}; their mean picks checkpoints/{best_checkpoint(self.run.dir, stage.name).name}"
        return f"{measured}; for the log only: no checkpoint is chosen on it"

    def _evaluate(self, stage: Stage) -> dict[str, float]:
        """``<split>/<network key>/<exit>``: each exit's top-1 on the evaluated split; ``<split>_top1``: their
        mean, every exit of every evaluated network counted once (``<split>_exits`` of them)."""
        networks = {key: (key.split("/")[-1], network) for key, network in stage.evaluate.items()}
        split = self.splits.evaluation_name
        loader = eval_loader(self.splits.evaluation, self.settings, self.runtime, self.workers)
        description = f"{stage.name} evaluation on the {split} split"
        predictions = predict(networks, loader, self.runtime, self.modalities, self.monitor, description)
        if predictions is None:  # not rank 0: the figures come from there
            return share_from_main(self.runtime, None)
        metrics = {}
        for key, exits in predictions.logits.items():
            for exit_name, logits in exits.items():
                metrics[f"{split}/{key}/{exit_name}"] = topk_accuracy(logits.mean(axis=1), predictions.labels)
        mean = float(np.mean(list(metrics.values()))) if metrics else 0.0
        return share_from_main(self.runtime, {**metrics, f"{split}_exits": float(len(metrics)), f"{split}_top1": mean})

    def _save(
        self,
        position: Position,
        optimizers: dict,
        schedulers: dict,
        scaler: Any,
        best: Any,
        record: dict[str, Any] | None = None,
        *,
        complete: bool = False,
    ) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "recipe": self.run.recipe.model_dump(mode="json"),
            "position": position.as_dict(),
            "complete": complete,  # every stage done: the weights are the run's result
            "model": self.model.state_dict(),
            "optimizers": {k: v.state_dict() for k, v in optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in schedulers.items()},
            "scaler": scaler.state_dict() if scaler is not None else {},
            "best": best,
            "metrics": record,
            "elapsed": time.time() - self.run.started,  # so that a resumed run's wall time counts this part too
            "rng": checkpoint.rng_state(),
        }
        path = last_checkpoint(self.run.dir)
        checkpoint.save(path, state)
        self.run.hook.pkd_checkpoint_saved(run=self.run, path=path, kind="last")

    def _copy_best(self, stage: Stage) -> None:
        path = best_checkpoint(self.run.dir, stage.name)
        with atomic_path(path, durable=True) as temporary:
            shutil.copyfile(last_checkpoint(self.run.dir), temporary)
        self.run.hook.pkd_checkpoint_saved(run=self.run, path=path, kind="best")


def enter_epoch(model: nn.Module, stage: Stage, epoch: int) -> list[Objective]:
    """The objectives active in ``epoch``; only their parameters may learn, only the stage's modules train.

    Everything else is in eval mode (frozen BatchNorms keep their statistics) and gets no gradient.
    """
    model.eval()
    for module in stage.train_modules:
        module.train()
    active = [o for o in stage.objectives if o.active(epoch)]
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for objective in active:
        for parameter in objective.parameters:
            parameter.requires_grad_(True)
    return active


def apply_gradients(total: torch.Tensor, active: list[Objective], optimizers: dict, scaler: Any) -> None:
    """Back-propagate the step's summed loss once and step each active objective's optimizer."""
    scaler.scale(total).backward()  # under torchrun DDP averages the gradients as they are computed
    for objective in active:
        scaler.step(optimizers[objective.name])
    scaler.update()
    for objective in active:
        optimizers[objective.name].zero_grad(set_to_none=True)


def restore(model: nn.Module, state: dict[str, Any]) -> None:
    """Load a checkpoint's module states and random generators into a freshly built run."""
    model.load_state_dict(state["model"])
    checkpoint.restore_rng(state["rng"])
