"""``pkd prepare``: re-encode a tree of videos into the training format, in parallel, resumably.

Every video under SRC (any format FFmpeg reads) becomes ``DST/<same relative
path>`` in the training format (:class:`EncoderSettings`: MPEG-4 Part 2,
340x256, qscale 1, GOP 12, no B-frames; or H.264 with one reference frame).
Names are kept, suffix included when the container can hold the codec.

- Resumable: a finished file is never redone. Files are written under a
  temporary name and renamed when complete, so a killed run leaves no half
  file; temporaries left by a killed run are removed when their video is redone.
- A manifest (``manifest.json``, or ``manifest.shard-I-of-N.json`` for a shard)
  records each video's frames, GOP starts, size and duration; a later run
  without ``--shard`` merges the shards' manifests into ``manifest.json``.
- Unreadable or corrupt inputs are skipped and listed in ``prepare-report.txt``
  and the manifest's ``failed`` section; the run ends with status 1 when any failed.
  How one video is encoded and judged: :mod:`pkd_plugins.video.reencoding`.
- A destination that cannot be written (a file in the way, read-only) stops the
  run with one message (exit status 2): the videos are not blamed for it.
- A file already in DST that is not a whole prepared video (cut short by a
  crash, or not the size its manifest entry says) is encoded again. An empty
  SRC creates nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from pkd_plugins.video.encoding import MUXERS, EncoderSettings, ignore_interrupts
from pkd_plugins.video.errors import VideoError
from pkd_plugins.video.formats import VIDEO_SUFFIXES
from pkd_plugins.video.reencoding import DestinationError, Job, Outcome, encode, video_info, writing_into
from pkd_toolkit.api import PkdError, UsageError, writable_folder, write_json, write_text

MANIFEST = "manifest.json"
REPORT = "prepare-report.txt"
MANIFEST_FORMAT = 1
SAVE_EVERY_SECONDS = 5.0


@dataclass(frozen=True)
class Shard:
    """Part ``number`` (1-based) of ``count`` equal parts of the sorted file list."""

    number: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        number, slash, count = text.partition("/")
        if not slash or not number.isdigit() or not count.isdigit() or not 1 <= int(number) <= int(count):
            raise UsageError(f"--shard {text}: expected I/N with 1 <= I <= N, for example --shard 2/8")
        return cls(int(number), int(count))

    @property
    def manifest_name(self) -> str:
        return MANIFEST if self.count == 1 else f"manifest.shard-{self.number}-of-{self.count}.json"

    def take(self, items: list) -> list:
        return items[self.number - 1 :: self.count]


def find_videos(source_root: Path, exclude: Path | None = None) -> list[Path]:
    """Video files under ``source_root`` by suffix, sorted; hidden files and ``exclude`` are skipped."""
    found = []
    for folder, subfolders, files in os.walk(source_root):
        folder_path = Path(folder)
        subfolders[:] = sorted(
            name for name in subfolders if not name.startswith(".") and (exclude is None or (folder_path / name) != exclude)
        )
        found.extend(folder_path / name for name in files if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_SUFFIXES)
    return sorted(found)


def target_name(relative: Path) -> Path:
    """The same relative path; the suffix changes to .mp4 only when its container cannot hold the codec."""
    return relative if relative.suffix.lower() in MUXERS else relative.with_suffix(".mp4")


def plan_jobs(source_root: Path, target_root: Path, shard: Shard) -> list[Job]:
    source_root, target_root = source_root.resolve(), target_root.resolve()
    exclude = target_root if target_root.is_relative_to(source_root) else None
    jobs = []
    for source in find_videos(source_root, exclude):
        name = target_name(source.relative_to(source_root))
        jobs.append(Job(source, target_root / name, name.as_posix()))
    return shard.take(jobs)


class Manifest:
    """What this run's share of DST holds: settings, one entry per prepared video, and this run's failures.

    ``known`` holds the entries of every manifest already in DST (other shards'
    too), so finished videos are recorded without being read again.
    """

    def __init__(self, target_root: Path, shard: Shard, settings: EncoderSettings):
        self.path = target_root / shard.manifest_name
        self.settings = settings.describe()
        self.videos: dict[str, dict] = {}
        self.failed: dict[str, str] = {}
        self.known: dict[str, dict] = {}
        self.encoded = 0  # videos this run encoded
        self.kept = 0  # videos prepared by an earlier run, left as they were
        for path in sorted(target_root.glob("manifest*.json")):
            self._merge(path)

    def _merge(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise PkdError(f"{path}: not a readable manifest ({error}); move it away to prepare again") from None
        if data.get("settings") != self.settings:
            raise UsageError(
                f"{path}: this folder was prepared with other settings ({data.get('settings')}); "
                f"use the same options or another DST (asked: {self.settings})"
            )
        self.known.update(data.get("videos", {}))

    def save(self) -> None:
        write_json(
            self.path,
            {"format": MANIFEST_FORMAT, "settings": self.settings, "videos": dict(sorted(self.videos.items())), "failed": self.failed},
            durable=True,
        )


def prepare(
    source_root: Path,
    target_root: Path,
    settings: EncoderSettings,
    *,
    jobs: int = 1,
    shard: Shard = Shard(),
    progress: Callable[[int, int, int], None] | None = None,
) -> Manifest:
    """Prepare every video of ``source_root`` (this shard's share) into ``target_root``; see the module docs.

    ``progress(done, total, failed)`` is called as videos finish. Returns the manifest; its ``failed``
    maps source paths to problems.
    """
    source_root, target_root = Path(source_root), Path(target_root)
    if not source_root.is_dir():
        raise UsageError(f"{source_root}: no such folder of videos")
    if target_root.resolve() == source_root.resolve():
        raise UsageError(f"{target_root}: DST must differ from SRC")
    source_root = source_root.resolve()  # the planned jobs name resolved files (e.g. SRC given as ../videos)
    planned = plan_jobs(source_root, target_root, shard)
    if not planned:  # before DST is made: an empty source creates nothing
        raise UsageError(f"{source_root}: no video files found (suffixes: {', '.join(VIDEO_SUFFIXES)}); nothing was prepared")
    writable_folder(target_root, "the destination")
    manifest = Manifest(target_root, shard, settings)
    todo = [job for job in planned if not _already_prepared(job, manifest, source_root)]
    manifest.kept = len(planned) - len(todo)
    done, total = manifest.kept, len(planned)
    if progress:
        progress(done, total, 0)
    last_save = time.monotonic()
    try:
        for outcome in _run(todo, settings, source_root, jobs):
            done += 1
            if outcome.info is not None:
                manifest.videos[outcome.name] = outcome.info
                manifest.encoded += 1
            else:
                manifest.failed[outcome.source] = outcome.problem or "unknown problem"
            if progress:
                progress(done, total, len(manifest.failed))
            if time.monotonic() - last_save > SAVE_EVERY_SECONDS:
                _record(manifest, target_root)
                last_save = time.monotonic()
    except BaseException:  # also when interrupted: what finished is recorded, if the destination lets us
        with suppress(OSError, DestinationError):
            _record(manifest, target_root)
        raise
    _record(manifest, target_root)
    return manifest


def _already_prepared(job: Job, manifest: Manifest, source_root: Path) -> bool:
    """True when ``job``'s target is a whole prepared video (then recorded in the manifest); a file left corrupt
    (cut short by a crash, or not the size the manifest says) is encoded again."""
    if not job.target.is_file():
        return False
    known = manifest.known.get(job.name)
    if known is not None:
        if known.get("bytes") == job.target.stat().st_size:
            manifest.videos[job.name] = known
            return True
        return False
    try:  # finished, but the run stopped before recording it
        manifest.videos[job.name] = video_info(job.target, job.source.relative_to(source_root).as_posix())
    except VideoError:
        return False
    return True


def _record(manifest: Manifest, target_root: Path) -> None:
    with writing_into(manifest.path):
        manifest.save()
        _write_report(target_root / REPORT, manifest.failed)


def _run(todo: list[Job], settings: EncoderSettings, source_root: Path, jobs: int) -> Iterator[Outcome]:
    if jobs <= 1 or len(todo) <= 1:
        for job in todo:
            yield encode(job, settings, source_root)
        return
    with ProcessPoolExecutor(max_workers=jobs, initializer=ignore_interrupts) as pool:
        pending: set[Future] = set()
        queue = iter(todo)
        try:
            for job in queue:  # keep a few jobs per worker queued, not all: an interruption stops sooner
                pending.add(pool.submit(encode, job, settings, source_root))
                if len(pending) >= 2 * jobs:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from (future.result() for future in finished)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in finished)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _write_report(path: Path, failed: dict[str, str]) -> None:
    if not failed:
        path.unlink(missing_ok=True)
        return
    lines = [f"{source}: {problem}" for source, problem in sorted(failed.items())]
    write_text(path, f"{plural(len(failed), 'video')} could not be prepared:\n" + "\n".join(lines) + "\n")


def plural(count: int, noun: str) -> str:
    """``1 video``, ``2 videos``, ``0 videos``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
