"""fetch() against a local http.server on 127.0.0.1 (never the real network)."""

import functools
import hashlib
import http.server
import io
import socket
import tarfile
import threading
from pathlib import Path

import pytest

from uclaf_plugin.data import fetch, load_dataset

FIXTURE_SGM = Path(__file__).parent / "data" / "reuters21578" / "reut2-000.sgm"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base url)."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=folder)
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def make_tar_gz(path: Path, files: dict[str, bytes]) -> str:
    """Write a tar.gz of ``files`` (archive name -> content); returns its SHA-256."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_correct_checksum_unpacks_into_the_dataset_folder_which_then_loads(served, tmp_path):
    folder, base = served
    sha = make_tar_gz(folder / "r.tar.gz", {"reuters21578/reut2-000.sgm": FIXTURE_SGM.read_bytes()})
    dest = tmp_path / "data"
    seen = []
    path = fetch(
        "reuters", dest, url=f"{base}/r.tar.gz", sha256=sha, progress=lambda done, total: seen.append(done)
    )
    assert path == dest / "reuters21578"
    assert (path / "reut2-000.sgm").read_bytes() == FIXTURE_SGM.read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == ["reuters21578"]  # no staging folder left
    assert seen[-1] == (folder / "r.tar.gz").stat().st_size
    assert load_dataset("reuters", dest, val_fraction=0.2).label_names == ["cocoa", "grain", "wheat"]


def test_flat_archive_is_unpacked_as_is(served, tmp_path):
    folder, base = served
    sha = make_tar_gz(folder / "flat.tar.gz", {"reut2-000.sgm": b"x", "README.txt": b"y"})
    path = fetch("reuters", tmp_path, url=f"{base}/flat.tar.gz", sha256=sha)
    assert sorted(p.name for p in path.iterdir()) == ["README.txt", "reut2-000.sgm"]


def test_wrong_checksum_raises_and_leaves_nothing_behind(served, tmp_path):
    folder, base = served
    make_tar_gz(folder / "r.tar.gz", {"reut2-000.sgm": b"content"})
    dest = tmp_path / "data"
    with pytest.raises(ValueError, match="checksum mismatch"):
        fetch("reuters", dest, url=f"{base}/r.tar.gz", sha256="0" * 64)
    assert list(dest.iterdir()) == []


def test_archive_member_escaping_the_folder_is_refused(served, tmp_path):
    folder, base = served
    sha = make_tar_gz(folder / "evil.tar.gz", {"../evil.txt": b"x"})
    with pytest.raises(ValueError, match="refusing to unpack"):
        fetch("reuters", tmp_path / "data", url=f"{base}/evil.tar.gz", sha256=sha)
    assert list((tmp_path / "data").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_unreachable_server_gives_a_clear_connection_error(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/r.tar.gz"
    with pytest.raises(
        ConnectionError, match=r"could not download http://127\.0\.0\.1:\d+/r\.tar\.gz.*by hand"
    ):
        fetch("reuters", tmp_path, url=url, sha256="0" * 64, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_on_server_is_a_connection_error(served, tmp_path):
    _, base = served
    with pytest.raises(ConnectionError, match=r"HTTP 404"):
        fetch("reuters", tmp_path, url=f"{base}/absent.tar.gz", sha256="0" * 64)


def test_existing_dataset_folder_is_returned_without_downloading(tmp_path):
    (tmp_path / "reuters21578").mkdir()
    (tmp_path / "reuters21578" / "reut2-000.sgm").write_text("already here")
    url = f"http://127.0.0.1:{closed_port()}/never.tar.gz"
    assert fetch("reuters", tmp_path, url=url, sha256="0" * 64) == tmp_path / "reuters21578"


def test_datasets_without_an_archive_say_where_to_download_by_hand(tmp_path):
    (tmp_path / "aapd").mkdir()
    (tmp_path / "aapd" / "label_train").write_text("cs.AI\n")  # a partial copy is no reason to stay quiet
    with pytest.raises(RuntimeError, match=r"aapd has no public archive.*by hand.*aapd"):
        fetch("aapd", tmp_path)


def test_custom_url_needs_a_checksum_and_names_must_be_known(tmp_path):
    with pytest.raises(ValueError, match="needs sha256="):
        fetch("reuters", tmp_path, url="http://127.0.0.1:1/x.tar.gz")
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        fetch("nope", tmp_path)


def test_verify_files_checks_every_pinned_file(tmp_path):
    from uclaf_plugin.data.fetch import verify_files

    (tmp_path / "a.sgm").write_bytes(b"abc")
    good = {"a.sgm": hashlib.sha256(b"abc").hexdigest()}
    verify_files(tmp_path, good)
    with pytest.raises(ValueError, match="checksum mismatch for a.sgm"):
        verify_files(tmp_path, {"a.sgm": hashlib.sha256(b"abd").hexdigest()})
    with pytest.raises(ValueError, match="the archive has no b.sgm"):
        verify_files(tmp_path, {**good, "b.sgm": "0" * 64})
