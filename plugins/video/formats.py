"""The list files of the data sets users already have: HMDB51, UCF-101 and a generic folder tree.

Each reader returns a :class:`Listing`: the class names (index = label) and,
per split, the listed videos as paths relative to the video root. Reading
lists touches no video. Problems name the file and line and say what was
expected there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pkd_toolkit.api import PkdError

# Suffixes a prepared tree may use instead of the listed one (CoViAR's prepared HMDB51 is .mp4).
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv")
HMDB51_SPLIT_FILE = re.compile(r"^(?P<name>.+)_test_split(?P<split>[123])\.txt$")
HMDB51_TAGS = {"1": "train", "2": "test", "0": None}


@dataclass(frozen=True)
class Sample:
    video: str  # path relative to the video root, with forward slashes
    label: int


@dataclass
class Listing:
    classes: list[str]
    splits: dict[str, list[Sample]] = field(default_factory=dict)


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every non-blank line."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as error:
        raise PkdError(f"{path}: cannot read the list file ({error.strerror or error})") from None
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _folder(path: Path, what: str, key: str) -> Path:
    if not path.is_dir():
        raise PkdError(f"{path}: no such folder; expected {what} there (set the recipe's data.{key})")
    return path


def hmdb51_classes(splits: Path, split: int) -> list[str]:
    """Class names from the split files' names ``<class>_test_split<N>.txt``, sorted."""
    _folder(splits, "the HMDB51 split files <class>_test_split1.txt ... (testTrainMulti_7030_splits)", "splits")
    names = sorted(
        match["name"] for match in (HMDB51_SPLIT_FILE.match(p.name) for p in splits.iterdir()) if match and match["split"] == str(split)
    )
    if not names:
        raise PkdError(f"{splits}: no HMDB51 split files <class>_test_split{split}.txt in this folder")
    return names


def read_hmdb51(splits: Path, split: int) -> Listing:
    """HMDB51: ``<video> <tag>`` lines; tag 1 = train, 2 = test, 0 = unused."""
    listing = Listing(hmdb51_classes(splits, split), {"train": [], "test": []})
    for label, name in enumerate(listing.classes):
        path = splits / f"{name}_test_split{split}.txt"
        for number, line in _lines(path):
            video, _, tag = line.rpartition(" ")
            if not video or tag not in HMDB51_TAGS:
                raise PkdError(f"{path}:{number}: expected '<video> <tag>' with tag 0, 1 or 2, got {line!r}")
            if HMDB51_TAGS[tag] is not None:
                listing.splits[HMDB51_TAGS[tag]].append(Sample(f"{name}/{video.strip()}", label))
    return listing


def ucf101_group(video: str) -> str:
    """``g08`` of ``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi``: the clips of one group come from one video."""
    match = re.search(r"_(g\d+)_c\d+", video)
    return match.group(1) if match else video


def ucf101_classes(splits: Path) -> list[str]:
    """Class names in ``classInd.txt`` order (its 1-based index minus one is the label)."""
    path = _folder(splits, "the ucfTrainTestlist files (classInd.txt, trainlist01.txt, ...)", "splits") / "classInd.txt"
    if not path.is_file():
        raise PkdError(f"{path}: no such file; the UCF-101 list folder must hold classInd.txt")
    classes = {}
    for number, line in _lines(path):
        index, _, name = line.partition(" ")
        if not index.isdigit() or not name.strip():
            raise PkdError(f"{path}:{number}: expected '<index> <Class>', got {line!r}")
        classes[int(index)] = name.strip()
    if sorted(classes) != list(range(1, len(classes) + 1)):
        raise PkdError(f"{path}: class indices must run from 1 to {len(classes)} without gaps")
    return [classes[index] for index in sorted(classes)]


def read_ucf101(splits: Path, split: int) -> Listing:
    """UCF-101: ``<Class>/<video>.avi [index]`` lines in trainlist0N.txt and testlist0N.txt."""
    listing = Listing(ucf101_classes(splits))
    # The official lists spell some class names differently from classInd (HandStandPushups): match case-insensitively.
    label_of = {name.lower(): label for label, name in enumerate(listing.classes)}
    for name, prefix in (("train", "trainlist"), ("test", "testlist")):
        path = splits / f"{prefix}{split:02d}.txt"
        if not path.is_file():
            raise PkdError(f"{path}: no such file; the UCF-101 list folder must hold {prefix}0{split}.txt")
        listing.splits[name] = [_sample_in_class_folder(path, number, line.split(" ")[0], label_of) for number, line in _lines(path)]
    return listing


def _sample_in_class_folder(path: Path, number: int, video: str, label_of: dict[str, int]) -> Sample:
    folder, slash, _ = video.partition("/")
    if not slash or folder.lower() not in label_of:
        raise PkdError(f"{path}:{number}: expected '<class>/<video>' with a known class, got {video!r}")
    return Sample(video, label_of[folder.lower()])


def folder_classes(root: Path) -> list[str]:
    """The sub-folders of ``root``, sorted: one per class."""
    _folder(root, "one sub-folder of videos per class", "root")
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise PkdError(f"{root}: no class folders here; expected <root>/<class>/<video>")
    return classes


def read_folder(root: Path, lists: dict[str, Path]) -> Listing:
    """A folder-per-class tree: each list line is a path relative to ``root``; its first folder is its class."""
    listing = Listing(folder_classes(root))
    label_of = {name.lower(): label for label, name in enumerate(listing.classes)}
    for name, path in lists.items():
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise PkdError(f"{path}: no such list file (set the recipe's data.{name}_list)")
        listing.splits[name] = [_sample_in_class_folder(path, number, line, label_of) for number, line in _lines(path)]
    return listing


# -- checks before a run (the dataset configs' preflight): what the readers above would trip on ----------

Found = Iterator[tuple[str, str]]  # (key of the data section, message)


def root_problems(root: Path) -> Found:
    if not root.is_dir():
        yield "root", f"{root}: no such folder; expected the videos there as <class>/<video> (see `pkd prepare`)"


def hmdb51_problems(root: Path, splits: Path, split: int) -> Found:
    yield from root_problems(root)
    if not splits.is_dir():
        yield "splits", f"{splits}: no such folder; expected the HMDB51 split files <class>_test_split{split}.txt there"
    elif not any(HMDB51_SPLIT_FILE.match(p.name) and p.name.endswith(f"{split}.txt") for p in splits.iterdir()):
        yield "splits", f"{splits}: no HMDB51 split files <class>_test_split{split}.txt in this folder"


def ucf101_problems(root: Path, splits: Path, split: int) -> Found:
    yield from root_problems(root)
    if not splits.is_dir():
        yield "splits", f"{splits}: no such folder; expected the ucfTrainTestlist files there (classInd.txt, ...)"
        return
    needed = ("classInd.txt", f"trainlist{split:02d}.txt", f"testlist{split:02d}.txt")
    missing = [name for name in needed if not (splits / name).is_file()]
    if missing:
        yield "splits", f"{splits}: no {', no '.join(missing)} in this folder (the ucfTrainTestlist files)"


def folder_problems(root: Path, lists: dict[str, Path]) -> Found:
    yield from root_problems(root)
    for name, path in lists.items():
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            yield f"{name}_list", f"{path}: no such list file"


def video_finder(root: Path) -> Callable[[str], Path | None]:
    """A function from a listed relative path to the file under ``root``: the same name, or the same
    stem with another video suffix (a prepared tree may have re-encoded ``.avi`` into ``.mp4``)."""
    folders: dict[Path, dict[str, Path]] = {}

    def find(video: str) -> Path | None:
        path = root / video
        if path.is_file():
            return path
        folder = path.parent
        if folder not in folders:
            stems: dict[str, Path] = {}
            if folder.is_dir():
                for entry in sorted(folder.iterdir()):
                    if entry.suffix.lower() in VIDEO_SUFFIXES:
                        stems.setdefault(entry.stem, entry)
            folders[folder] = stems
        return folders[folder].get(Path(video).stem)

    return find
