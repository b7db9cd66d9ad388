"""Download a dataset archive, verify its SHA-256 checksum and unpack it atomically.

Only Reuters-21578 has a public archive address (UCI); the others print where to get the files by hand.
The archive is checked against ``sha256`` when given; without ``url`` the registered source's pinned
checksums are used (for Reuters, those of the 22 ``.sgm`` files of Distribution 1.0, checked after
unpacking). The archive is downloaded and unpacked in a temporary folder inside the data directory and
renamed into place only once every check passed, so a failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import aapd, eurlex, goemotions, reuters
from .paths import data_root

CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from: ``folder`` in the data directory, an archive ``url``, checksums."""

    folder: str
    manual: str
    url: str | None = None
    file_sha256: Mapping[str, str] = field(default_factory=dict)


REUTERS_SGM_SHA256 = {
    "reut2-000.sgm": "0ec53cda8f6d605a3ba710df14be7f00fc02f0c222a14748101df22326afe0f6",
    "reut2-001.sgm": "1528e7e82d110d88d0234eb9619eadb7f9fd805711971df05975b92277dfdf4d",
    "reut2-002.sgm": "99f18068d0518952987dedd78c622e5c2a584e357d264d3754696c815f3e6628",
    "reut2-003.sgm": "78a3a8d7e04bc9d42c4614d5d5c60a4293dbe3f708df6fb5a71d9ef31f4b3fa3",
    "reut2-004.sgm": "726342c19a65873330b412378cd6a3f0d512035f5223146ddd60930c62eb6ff0",
    "reut2-005.sgm": "d09de619b6dd2d047d5124681f6df90550abaf592020d1c1ce338ae9b91522e7",
    "reut2-006.sgm": "b5535c0d66b01f4976f84621a4a795afbc00d2c4bd0a1b7ae426df6630fb361d",
    "reut2-007.sgm": "aa706007ec84a03537a3921ca976d60e11b3f99e4b9e9b2d5c81dd384d2c2062",
    "reut2-008.sgm": "a3994583694a00b7c744097c1d7eabfcf90f2e6650cc21663e46828035a336cb",
    "reut2-009.sgm": "29995f606dd1a9bdf907eacc9d879846c716860d9d9141676979474aaea39c7d",
    "reut2-010.sgm": "996df6008089bd09fa5b28a4d2eb0ee5f7b9d4601cde566fed3926ac82960fa3",
    "reut2-011.sgm": "d3a2782015247d9c2bffb8926267827fdd449c70d619435ef01a25a1c56a53ca",
    "reut2-012.sgm": "da31035d483851f2aebce5b66d779e5e2c0ac9dcfe098596c6d544e81c5604ab",
    "reut2-013.sgm": "8f7700bc0455fac3fcc12377ced4807b7df8aba1f21ecad059b9cc2b1cf0b8be",
    "reut2-014.sgm": "ef936bd3e0f36cf722afa9a6957563549775af32e9e28b4f539c8737ceda83ab",
    "reut2-015.sgm": "6d3bcec73eff871b8a5403588af814c4e50a0de6bc25707480522ab836f74026",
    "reut2-016.sgm": "be2f03a185fff70131f3b4fdbd6229b7ee2be077eba9691eaa597c8cfbda8812",
    "reut2-017.sgm": "f370e610b4b1342e41a98e0c426a08541044bd1d7e539674f32372a6060b73b5",
    "reut2-018.sgm": "a5f971bf25448e915781962309e669359a35fbcaf3017a806eca0590897f209a",
    "reut2-019.sgm": "d3b07097fba2633d130b4914aceba671645985248943ce9e39c289315339dffb",
    "reut2-020.sgm": "f6ad1b724125c202566c63b35ea0b5ee23881f8b7ed47a32829d5af05d8e860d",
    "reut2-021.sgm": "3f5196d32869723c9042aa5756805b4e90360f1f45ea17f4594fa0e2b3630b18",
}

SOURCES = {
    "reuters": Source("reuters21578", reuters.URL, reuters.URL, REUTERS_SGM_SHA256),
    "aapd": Source("aapd", aapd.MANUAL),
    "goemotions": Source("goemotions", goemotions.MANUAL),
    "eurlex": Source("eurlex", eurlex.MANUAL),
}


def fetch(
    name: str,
    dest: str | os.PathLike | None = None,
    url: str | None = None,
    *,
    sha256: str | None = None,
    timeout: float = 60.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download and unpack dataset ``name`` into ``dest/<folder>`` (``dest``: the data directory).

    ``url`` replaces the registered address and then needs ``sha256``, the archive's checksum.
    ``progress(bytes_done, total_or_None)`` is called while downloading. Returns the dataset folder;
    an existing non-empty folder is returned as it is. Raises ConnectionError when the download fails,
    ValueError on a checksum mismatch, RuntimeError when the dataset has no public archive.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; fetch knows {sorted(SOURCES)}")
    source = SOURCES[name]
    root = data_root(dest)
    target = root / source.folder
    manual = f"download {source.manual} by hand and put the files in {target}"
    if url is None and source.url is None:
        raise RuntimeError(f"{name} has no public archive to fetch automatically: {manual}.")
    if url is not None and sha256 is None:
        raise ValueError(
            f"url={url!r} needs sha256= (the SHA-256 of that archive) so the download can be verified"
        )
    if target.is_dir() and any(target.iterdir()):
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{source.folder}-", dir=root))
    try:
        archive = staging / "archive"
        digest = download(url or source.url, archive, timeout, progress, manual)
        if sha256 is not None and digest != sha256.lower():
            raise ValueError(f"checksum mismatch for {url or source.url}: expected {sha256}, got {digest}")
        content = unpack(archive, staging / "content")
        if url is None:
            verify_files(content, source.file_sha256)
        if target.exists():
            target.rmdir()
        os.replace(content, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def download(url: str, path: Path, timeout: float, progress, manual: str) -> str:
    """Stream ``url`` into ``path``; returns the SHA-256 hex digest."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as out:
            total = (
                int(response.headers["Content-Length"]) if response.headers.get("Content-Length") else None
            )
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
        http_error = isinstance(err, urllib.error.HTTPError)
        reason = f"HTTP {err.code} {err.reason}" if http_error else getattr(err, "reason", err)
        raise ConnectionError(
            f"could not download {url} ({reason}). Without network access, {manual}."
        ) from err
    return digest.hexdigest()


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack a tar archive (any compression) into ``dest``; a single top folder is unwrapped."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                if not (member.isfile() or member.isdir()) or _escapes(member.name):
                    raise ValueError(
                        f"refusing to unpack {member.name!r}: only plain files inside the archive"
                    )
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest, members=members, **extra)
    except tarfile.TarError as err:
        raise ValueError(f"the download is not a readable tar archive ({err})") from err
    entries = list(dest.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def verify_files(folder: Path, expected: Mapping[str, str]) -> None:
    """ValueError unless every file in ``expected`` exists in ``folder`` with that SHA-256."""
    for name, sha in expected.items():
        path = folder / name
        if not path.is_file():
            raise ValueError(f"the archive has no {name}; it is not the expected release")
        if _sha256(path) != sha:
            raise ValueError(f"checksum mismatch for {name} in the archive: not the expected release")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _escapes(name: str) -> bool:
    return Path(name).is_absolute() or ".." in Path(name).parts
