"""Pretrained registry: cache, mirror, download (faked urlopen), hash checks, clear errors."""

from __future__ import annotations

import io
import shutil
import urllib.error
from pathlib import Path

import pytest
import torch

from semseg.cli import main
from semseg.data.info import default_palette
from semseg.errors import ModelError
from semseg.hub import pretrained as hub
from semseg.hub.checkpoint import ModelSpec, save_release

MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "weights"
VOC_FILE = "espnetv2_s_2.0_pascal_384x384.pth"


@pytest.fixture
def mirror() -> Path:
    if not (MIRROR / "espnetv2" / VOC_FILE).is_file():
        pytest.skip(f"weights mirror {MIRROR} absent (it holds the public EdgeNets checkpoints)")
    return MIRROR


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, no mirror, and a network that must not be reached."""
    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(hub.MIRROR_ENV, raising=False)
    monkeypatch.delenv(hub.OFFLINE_ENV, raising=False)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network unreachable (test)")

    monkeypatch.setattr(hub.urllib.request, "urlopen", no_network)
    return tmp_path / "cache"


class FakeResponse(io.BytesIO):
    """What ``urlopen`` returns: a readable body with headers."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}


def test_entries_describe_their_label_sets() -> None:
    assert hub.list_pretrained() == ["camvid-fast", "camvid-litefpn", "deeplab-edgetpu-cityscapes",
                                     "deeplabv3-mnv2-0.5-voc", "deeplabv3-mnv2-voc", "default",
                                     "espnetv2-cityscapes", "espnetv2-voc", "mosaic-ade20k"]
    voc = hub.pretrained_entry("espnetv2-voc")
    assert voc.info.num_classes == 21 and voc.info.classes[15] == "person"
    assert voc.info.palette == default_palette(21)
    assert voc.input_size == (384, 384) and voc.spec().out_channels == 21
    city = hub.pretrained_entry("espnetv2-cityscapes")
    assert city.info.num_classes == 19 and city.spec().out_channels == 20
    assert city.info.palette[0] == (128, 64, 128)  # road
    assert city.input_size == (512, 1024)


def test_unknown_name_lists_the_known_ones() -> None:
    known = "available: camvid-fast, camvid-litefpn, deeplab-edgetpu-cityscapes, .*, mosaic-ade20k"
    with pytest.raises(ModelError, match=known):
        hub.load_pretrained("deeplab-voc")


def test_mirror_subfolder_is_verified_and_copied_into_the_cache(mirror, cache, monkeypatch):
    monkeypatch.setenv(hub.MIRROR_ENV, str(mirror))  # files sit in <mirror>/espnetv2/
    path = hub.resolve_weights("espnetv2-voc")
    assert path == cache / VOC_FILE
    assert hub.sha256_of(path) == hub.pretrained_entry("espnetv2-voc").sha256
    monkeypatch.delenv(hub.MIRROR_ENV)
    assert hub.resolve_weights("espnetv2-voc") == path  # later runs need no mirror


def test_weights_dir_argument_with_a_flat_layout(mirror, cache, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(mirror / "espnetv2" / VOC_FILE, flat / VOC_FILE)
    model, spec = hub.load_pretrained("espnetv2-voc", weights_dir=flat)
    assert not model.training and spec.arch == "espnetv2" and spec.input_size == (384, 384)
    assert model.bu_dec_l4.merge_layer[3].out_channels == 21


def test_corrupt_cached_file_is_set_aside_and_refetched(mirror, cache, monkeypatch):
    cache.mkdir(parents=True)
    (cache / VOC_FILE).write_bytes(b"truncated download")
    monkeypatch.setenv(hub.MIRROR_ENV, str(mirror))
    path = hub.resolve_weights("espnetv2-voc")
    assert hub.sha256_of(path) == hub.pretrained_entry("espnetv2-voc").sha256
    assert (cache / (VOC_FILE + ".corrupt")).read_bytes() == b"truncated download"


def test_wrong_hash_in_mirror_is_not_used(cache, tmp_path, monkeypatch):
    bad = tmp_path / "bad_mirror"
    bad.mkdir()
    (bad / VOC_FILE).write_bytes(b"not the checkpoint")
    monkeypatch.setenv(hub.MIRROR_ENV, str(bad))
    with pytest.raises(ModelError) as err:
        hub.load_pretrained("espnetv2-voc")
    assert f"mirror file {bad / VOC_FILE} has the wrong sha256 (not used)" in str(err.value)
    assert not (cache / VOC_FILE).exists()


def test_offline_error_is_one_line_saying_what_to_put_where(cache):
    with pytest.raises(ModelError) as err:
        hub.load_pretrained("espnetv2-cityscapes")
    msg = str(err.value)
    assert "\n" not in msg
    assert "download failed: network unreachable (test)" in msg
    assert hub.pretrained_entry("espnetv2-cityscapes").url in msg
    assert f"place it at {cache / 'espnetv2_s_2.0_city_1024x512.pth'}" in msg
    assert "SEMSEG_WEIGHTS_MIRROR" in msg
    assert not cache.exists() or not any(cache.iterdir())  # no partial file left behind


def test_offline_env_skips_the_network(cache, monkeypatch):
    monkeypatch.setenv(hub.OFFLINE_ENV, "1")
    monkeypatch.setattr(hub.urllib.request, "urlopen", lambda *a, **k: pytest.fail("network"))
    with pytest.raises(ModelError, match=r"download skipped \(\$SEMSEG_OFFLINE is set\)"):
        hub.resolve_weights("espnetv2-voc")


def test_download_is_verified_and_renamed_into_the_cache(mirror, cache, monkeypatch):
    body = (mirror / "espnetv2" / VOC_FILE).read_bytes()
    urls = []

    def fake_urlopen(url, timeout):
        urls.append(url)
        return FakeResponse(body)

    monkeypatch.setattr(hub.urllib.request, "urlopen", fake_urlopen)
    path = hub.resolve_weights("espnetv2-voc")
    assert urls == [hub.pretrained_entry("espnetv2-voc").url]
    assert path.read_bytes() == body
    assert [p.name for p in cache.iterdir()] == [VOC_FILE]  # the temporary file was renamed


def test_download_with_wrong_hash_leaves_nothing(cache, monkeypatch):
    monkeypatch.setattr(hub.urllib.request, "urlopen", lambda url, timeout: FakeResponse(b"x"))
    with pytest.raises(ModelError, match=r"has sha256 2d711642.*not used"):
        hub.resolve_weights("espnetv2-voc")
    assert not any(cache.iterdir())


def test_bundled_default_missing_and_present(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "BUNDLED_DIR", tmp_path / "weights")
    with pytest.raises(ModelError, match=r"camvid_default.safetensors are missing"):
        hub.load_pretrained("default")
    entry = hub.pretrained_entry("default")
    spec = ModelSpec(arch="espnetv2", info=entry.info, arch_kwargs={"s": 0.5})
    torch.manual_seed(0)
    saved = spec.build()
    save_release(tmp_path / "weights" / "camvid_default.safetensors", saved, spec)
    model, loaded = hub.load_pretrained("default")
    assert loaded == spec
    w = "bu_dec_l4.merge_layer.3.weight"
    assert torch.equal(model.state_dict()[w], saved.state_dict()[w].half().float())


def test_cli_fetch_and_list(mirror, cache, capsys):
    assert main(["pretrained", "fetch", "espnetv2-voc", "--weights-dir", str(mirror)]) == 0
    assert capsys.readouterr().out.strip() == f"espnetv2-voc: {cache / VOC_FILE}"
    assert main(["pretrained", "list"]) == 0
    out = capsys.readouterr().out
    assert "espnetv2-voc" in out and "cached" in out and "not cached" in out


def test_cli_fetch_offline_exits_2_with_one_line(cache, capsys):
    assert main(["pretrained", "fetch", "espnetv2-voc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("semseg pretrained: error: pretrained model 'espnetv2-voc'")
    assert "\n" not in err
