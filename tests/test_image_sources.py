"""The real-data downloader and parsers, exercised against a local HTTP server."""

import functools
import gzip
import hashlib
import io
import struct
import tarfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dpharm.data import downloads, image_sources
from dpharm.data.downloads import DownloadError, download
from dpharm.data.image_sources import (
    CIFAR10_ARCHIVE,
    DOWNLOADS,
    SOURCES,
    fetch_dataset,
    load_digits_images,
    load_idx_dataset,
    read_cifar10_binary,
    read_idx,
)

IDX_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CIFAR_BATCHES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
MISSING_BYTES = 1000
REQUESTS: list[str] = []


class Handler(SimpleHTTPRequestHandler):
    """Serves the folder; under /truncated/ it announces more bytes than it sends, then closes;
    /unsized/ sends without Content-Length, /trickle/ one byte every 50 ms, /badlength/ a
    malformed Content-Length. Every request is counted in REQUESTS."""

    def do_GET(self) -> None:
        REQUESTS.append(self.path)
        special = self.path.split("/")[1]
        if special in ("unsized", "trickle", "badlength"):
            body = Path(self.directory, self.path.split("/", 2)[2]).read_bytes()
            self.send_response(200)
            if special == "badlength":
                self.send_header("Content-Length", "12abc")
            self.end_headers()
            step = 1 if special == "trickle" else len(body)
            try:
                for start in range(0, len(body), step):
                    self.wfile.write(body[start : start + step])
                    self.wfile.flush()
                    time.sleep(0.05 if special == "trickle" else 0)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up, as it should
                pass
            self.close_connection = True
            return
        if not self.path.startswith("/truncated/"):
            super().do_GET()
            return
        body = Path(self.directory, self.path.removeprefix("/truncated/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) + MISSING_BYTES))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


@pytest.fixture(autouse=True)
def no_retry_pause(monkeypatch):
    monkeypatch.setattr(downloads, "RETRY_PAUSE_S", 0.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(served folder, base URL) of a server running for this module's tests."""
    root = tmp_path_factory.mktemp("served")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + dims + array.astype(np.uint8).tobytes()


def write_idx_dataset(folder: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Four gzip IDX files as MNIST ships them; returns the raw uint8 arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = {}
    for split, n in (("train", 10), ("test", 4)):
        raw[f"{split}_x"] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        raw[f"{split}_x"][0, 0, :2] = (0, 255)  # make sure both ends of the range occur
        raw[f"{split}_y"] = rng.integers(0, 10, size=n, dtype=np.uint8)
        images_name, labels_name = IDX_NAMES[split]
        (folder / images_name).write_bytes(gzip.compress(idx_bytes(raw[f"{split}_x"])))
        (folder / labels_name).write_bytes(gzip.compress(idx_bytes(raw[f"{split}_y"])))
    return raw


def add_member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def write_cifar_archive(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A CIFAR-10 binary tar.gz with 3 records per batch; returns the raw arrays written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = {key: [] for key in ("train_x", "train_y", "test_x", "test_y")}
    with tarfile.open(path, "w:gz") as archive:
        add_member(archive, "batches.meta.txt", b"airplane\nautomobile\n")  # must be ignored
        for split, names in CIFAR_BATCHES.items():
            for name in names:
                labels = rng.integers(0, 10, size=3, dtype=np.uint8)
                pixels = rng.integers(0, 256, size=(3, 3, 32, 32), dtype=np.uint8)
                records = np.concatenate([labels[:, None], pixels.reshape(3, -1)], axis=1)
                add_member(archive, name, records.tobytes())
                raw[f"{split}_x"].append(pixels)
                raw[f"{split}_y"].append(labels)
    return {key: np.concatenate(parts) for key, parts in raw.items()}


def assert_round_trip(arrays: dict, raw: dict, image_shape: tuple) -> None:
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape == (len(raw[f"{split}_y"]), *image_shape)
        assert x.min() >= 0.0 and x.max() <= 1.0
        pixels = np.rint(x * 255).astype(np.uint8).reshape(raw[f"{split}_x"].shape)
        np.testing.assert_array_equal(pixels, raw[f"{split}_x"])
        np.testing.assert_array_equal(y, raw[f"{split}_y"])


def assert_nothing_left(folder: Path) -> None:
    assert list(folder.iterdir()) == []


def test_registry_pins_original_files():
    assert SOURCES == ("mnist", "fashion_mnist", "cifar10") and set(DOWNLOADS) == set(SOURCES)
    for name in ("mnist", "fashion_mnist"):
        assert [f.name for f in DOWNLOADS[name]] == [n for pair in IDX_NAMES.values() for n in pair]
    assert DOWNLOADS["mnist"][0].url.startswith("https://ossci-datasets.s3.amazonaws.com/mnist/")
    assert [f.url for f in DOWNLOADS["cifar10"]] == ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"]
    digests = [f.sha256 for files in DOWNLOADS.values() for f in files]
    assert len(set(digests)) == 9
    assert all(len(d) == 64 and set(d) <= set("0123456789abcdef") for d in digests)


def test_download_and_parse_idx_round_trip(server, tmp_path):
    root, base = server
    raw = write_idx_dataset(root / "idx", np.random.default_rng(0))
    out = tmp_path / "out"
    for names in IDX_NAMES.values():
        for name in names:
            download(f"{base}/idx/{name}", out / name, sha256(root / "idx" / name))
    assert sorted(p.name for p in out.iterdir()) == sorted(n for p in IDX_NAMES.values() for n in p)
    assert_round_trip(load_idx_dataset(out), raw, (1, 28, 28))


def test_read_idx_accepts_uncompressed_files(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "plain.idx").write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.idx"), array)


def test_download_and_parse_cifar_round_trip(server, tmp_path):
    root, base = server
    raw = write_cifar_archive(root / "cifar" / CIFAR10_ARCHIVE, np.random.default_rng(1))
    target = tmp_path / CIFAR10_ARCHIVE
    download(f"{base}/cifar/{CIFAR10_ARCHIVE}", target, sha256(root / "cifar" / CIFAR10_ARCHIVE))
    arrays = read_cifar10_binary(target)
    assert len(arrays["train_y"]) == 15 and len(arrays["test_y"]) == 3
    assert_round_trip(arrays, raw, (3, 32, 32))


def test_corrupted_file_is_rejected_and_removed(server, tmp_path):
    root, base = server
    served = root / "corrupt.bin"
    served.write_bytes(b"original bytes" * 100)
    expected = sha256(served)
    served.write_bytes(b"tampered bytes" * 100)
    with pytest.raises(DownloadError, match="sha256") as error:
        download(f"{base}/corrupt.bin", tmp_path / "corrupt.bin", expected)
    assert expected in str(error.value) and sha256(served) in str(error.value)
    assert_nothing_left(tmp_path)


def test_truncated_response_is_rejected_and_removed(server, tmp_path):
    root, base = server
    served = root / "whole.bin"
    served.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(DownloadError, match="truncated") as error:
        download(f"{base}/truncated/whole.bin", tmp_path / "whole.bin", sha256(served), timeout=5)
    assert f"expected {10240 + MISSING_BYTES} bytes, received 10240" in str(error.value)
    assert_nothing_left(tmp_path)


def test_http_error_is_a_download_error(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match="absent.bin"):
        download(f"{base}/absent.bin", tmp_path / "absent.bin", "0" * 64, timeout=5)
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "two zero bytes"),
        (b"\x00\x00\x42\x01" + struct.pack(">I", 1) + b"\x00", "data type code 0x42"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 1), "cut short"),
        (b"\x00\x00\x08\x02" + struct.pack(">II", 4, 4) + bytes(15), "needs 16 data bytes"),
        (gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 2) + bytes(2), mtime=0)[:-6], "gzip"),
    ],
    ids=["magic", "dtype", "dimensions", "length", "gzip"],
)
def test_malformed_idx_raises_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_cifar_reader_ignores_links_and_rejects_short_records(tmp_path):
    linked = tmp_path / "linked.tar.gz"
    with tarfile.open(linked, "w:gz") as archive:
        for name in CIFAR_BATCHES["train"]:
            add_member(archive, name, bytes(3073))
        link = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    with pytest.raises(ValueError, match="missing regular file.*test_batch.bin"):
        read_cifar10_binary(linked)

    short = tmp_path / "short.tar.gz"
    with tarfile.open(short, "w:gz") as archive:
        for names in CIFAR_BATCHES.values():
            for name in names:
                add_member(archive, name, bytes(3072))
    with pytest.raises(ValueError, match="not a whole number of records"):
        read_cifar10_binary(short)


def test_fetch_dataset_from_mirror_reuses_verified_files(server, tmp_path):
    root, base = server
    raw = write_idx_dataset(root / "mirror", np.random.default_rng(2))
    checksums = {name: sha256(root / "mirror" / name) for p in IDX_NAMES.values() for name in p}
    first = fetch_dataset("mnist", tmp_path, f"{base}/mirror", checksums)
    assert_round_trip(first, raw, (1, 28, 28))
    # Verified copies are reused: a mirror with nothing on it is never asked.
    again = fetch_dataset("mnist", tmp_path, f"{base}/nothing-here/", checksums)
    assert_round_trip(again, raw, (1, 28, 28))
    # A local copy with the wrong bytes is fetched again.
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"stale")
    refreshed = fetch_dataset("mnist", tmp_path, f"{base}/mirror", checksums)
    assert_round_trip(refreshed, raw, (1, 28, 28))


def test_fetch_dataset_cifar_from_mirror(server, tmp_path):
    root, base = server
    raw = write_cifar_archive(root / "cifar-mirror" / CIFAR10_ARCHIVE, np.random.default_rng(3))
    checksums = {CIFAR10_ARCHIVE: sha256(root / "cifar-mirror" / CIFAR10_ARCHIVE)}
    arrays = fetch_dataset("cifar10", tmp_path, f"{base}/cifar-mirror", checksums)
    assert_round_trip(arrays, raw, (3, 32, 32))


def test_fetch_dataset_keeps_pinned_checksums_for_a_mirror(server, tmp_path):
    root, base = server
    write_idx_dataset(root / "impostor", np.random.default_rng(4))
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch_dataset("fashion_mnist", tmp_path, f"{base}/impostor")
    assert_nothing_left(tmp_path)


def test_fetch_dataset_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="unknown data set"):
        fetch_dataset("svhn", tmp_path)
    with pytest.raises(ValueError, match="not in mnist"):
        fetch_dataset("mnist", tmp_path, checksums={"train-images.gz": "0" * 64})


def test_load_digits_images():
    images, labels = load_digits_images()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert labels.dtype == np.int64 and set(labels.tolist()) == set(range(10))


# --- the workflow's raw_images rule against the local server --------------------------------


@pytest.mark.slow
def test_raw_images_rule_downloads_verifies_and_parses(server, tmp_path):
    import yaml

    from helpers import copy_workflow, snakemake

    root, base_url = server
    served = root / "rule-mnist"
    raw = write_idx_dataset(served, np.random.default_rng(7))
    names = [name for pair in IDX_NAMES.values() for name in pair]
    workdir = copy_workflow(tmp_path / "workflow")
    overlay = {
        "downloads": {"mirror": f"{base_url}/rule-mnist/", "sha256": {name: sha256(served / name) for name in names}}
    }
    (workdir / "mirror.yaml").write_text(yaml.safe_dump(overlay))

    result = snakemake(workdir, "results/raw/mnist.npz", "--configfile", "mirror.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(workdir / "results" / "raw" / "mnist.npz") as parsed:
        assert np.array_equal(parsed["train_y"], raw["train_y"])
        assert np.allclose(parsed["test_x"][:, 0] * 255, raw["test_x"])

    # a mirror serving a corrupted file: the rule stops, naming the checksum, and leaves nothing
    (workdir / "results" / "raw").joinpath("mnist.npz").unlink()
    for name in names:
        (workdir / "results" / "raw" / "mnist" / name).unlink()
    corrupted = served / names[0]
    corrupted.write_bytes(corrupted.read_bytes()[:-10] + b"0123456789")
    result = snakemake(workdir, "results/raw/mnist.npz", "--configfile", "mirror.yaml")
    assert result.returncode != 0
    assert "sha256 mismatch" in result.stdout + result.stderr
    assert not (workdir / "results" / "raw" / "mnist.npz").exists()
    assert not (workdir / "results" / "raw" / "mnist" / names[0]).exists()


def test_a_body_without_length_is_abandoned_beyond_the_size_cap(server, tmp_path, monkeypatch):
    root, base = server
    (root / "big.bin").write_bytes(bytes(5000))
    monkeypatch.setattr(downloads, "MAX_DOWNLOAD_BYTES", 4096)
    with pytest.raises(DownloadError, match="more than 4096 bytes"):
        download(f"{base}/unsized/big.bin", tmp_path / "big.bin", sha256(root / "big.bin"), timeout=5)
    assert_nothing_left(tmp_path)


def test_a_trickling_server_is_abandoned_at_the_deadline(server, tmp_path):
    root, base = server
    (root / "slow.bin").write_bytes(bytes(200))  # 10 s at one byte per 50 ms
    started = time.monotonic()
    with pytest.raises(DownloadError, match="deadline"):
        download(f"{base}/trickle/slow.bin", tmp_path / "slow.bin", sha256(root / "slow.bin"), timeout=5, deadline=0.3)
    assert time.monotonic() - started < 6  # three attempts of about 0.3 s, not 30 s
    assert_nothing_left(tmp_path)


def test_a_malformed_length_is_a_download_error(server, tmp_path):
    root, base = server
    (root / "odd.bin").write_bytes(b"x" * 12)
    with pytest.raises(DownloadError, match="malformed Content-Length"):
        download(f"{base}/badlength/odd.bin", tmp_path / "odd.bin", sha256(root / "odd.bin"), timeout=5)


def test_network_failures_are_retried_and_a_wrong_file_is_not(server, tmp_path):
    root, base = server
    (root / "wrong.bin").write_bytes(b"wrong")
    REQUESTS.clear()
    with pytest.raises(DownloadError):
        download(f"{base}/nothing.bin", tmp_path / "nothing.bin", "0" * 64, timeout=5)
    assert REQUESTS.count("/nothing.bin") == downloads.DOWNLOAD_ATTEMPTS
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download(f"{base}/wrong.bin", tmp_path / "wrong.bin", "0" * 64, timeout=5)
    assert REQUESTS.count("/wrong.bin") == 1


def test_a_gzip_bomb_is_refused_without_decompressing_it(tmp_path, monkeypatch):
    monkeypatch.setattr(image_sources, "MAX_PAYLOAD_BYTES", 10_000)
    bomb = tmp_path / "bomb-idx1-ubyte.gz"
    bomb.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 10**6) + bytes(10**6)))
    assert bomb.stat().st_size < 10_000
    with pytest.raises(ValueError, match="decompresses to more than 10000 bytes") as error:
        read_idx(bomb)
    assert str(bomb) in str(error.value)


def test_an_oversized_cifar_member_is_refused_before_it_is_read(tmp_path, monkeypatch):
    archive = tmp_path / CIFAR10_ARCHIVE
    write_cifar_archive(archive, np.random.default_rng(4))
    monkeypatch.setattr(image_sources, "MAX_CIFAR_MEMBER_BYTES", 1000)
    with pytest.raises(ValueError, match="has 9219 bytes"):
        read_cifar10_binary(archive)
