"""Reference-file lookup order and SHA-256 checks, offline, with temporary copies."""

from __future__ import annotations

import shutil

import pytest

from ephys2type.data import fetch as fetch_mod
from ephys2type.data.fetch import REGISTRY, URLS, fetch, sha256_of, shared_data_dir
from ephys2type.errors import DataFileError

NAME = "lee2023_human/DataS1_Donor_table.csv"  # the smallest file


@pytest.fixture
def no_shared(monkeypatch, tmp_path):
    """Pretend the project has no ../shared/data beside it."""
    empty = tmp_path / "no-shared"
    empty.mkdir()
    monkeypatch.setattr(fetch_mod, "shared_data_dir", lambda: empty)
    return empty


@pytest.fixture
def cache(monkeypatch, tmp_path):
    folder = tmp_path / "cache"
    monkeypatch.setenv("EPHYS2TYPE_CACHE", str(folder))
    return folder


def _copy(name: str, root):
    target = root / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_data_dir() / name, target)
    return target


def test_registry_matches_the_data_readme():
    assert len(REGISTRY) == 8
    assert REGISTRY["chartrand2023_human_l1/aibs_features_E.csv"].startswith("96e07c20")
    assert "patchseq_human_L1/7777857c" in URLS["chartrand2023_human_l1/aibs_features_E.csv"]
    assert REGISTRY["gouwens2020_mouse/efeature.csv"].startswith("53cddf3f")
    assert all(len(h) == 64 for h in REGISTRY.values())
    assert URLS["gouwens2020_mouse/efeature.csv"].endswith(
        "scMNC/ae9e39b5abe2ff0c85e3c986689c22c0ab6b2c3d/mouse_visual_cortex/data/efeature.csv"
    )
    assert URLS[NAME].endswith(
        "human_patchseq_gaba/5eb357a1cea246c7c847b5608a8fc7e87ea95b58/data/DataS1_Donor_table.csv"
    )


def test_every_shared_file_passes_its_checksum(monkeypatch):
    monkeypatch.delenv("EPHYS2TYPE_DATA", raising=False)
    for name in REGISTRY:
        found = fetch(name, download=False)
        assert found.origin == "shared"
        assert found.sha256 == REGISTRY[name]


def test_env_folder_comes_first(monkeypatch, tmp_path):
    copy = _copy(NAME, tmp_path / "mydata")
    monkeypatch.setenv("EPHYS2TYPE_DATA", str(tmp_path / "mydata"))
    found = fetch(NAME, download=False)
    assert found.origin == "EPHYS2TYPE_DATA" and found.path == copy


def test_env_folder_without_the_file_falls_back_to_shared(monkeypatch, tmp_path):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("EPHYS2TYPE_DATA", str(tmp_path / "empty"))
    assert fetch(NAME, download=False).origin == "shared"


def test_cache_is_used_when_nothing_local(monkeypatch, no_shared, cache):
    monkeypatch.delenv("EPHYS2TYPE_DATA", raising=False)
    copy = _copy(NAME, cache)
    found = fetch(NAME, download=False)
    assert found.origin == "cache" and found.path == copy


def test_corrupted_file_is_refused_with_its_name(monkeypatch, tmp_path):
    copy = _copy(NAME, tmp_path / "mydata")
    copy.write_bytes(copy.read_bytes()[:-10])  # truncated
    monkeypatch.setenv("EPHYS2TYPE_DATA", str(tmp_path / "mydata"))
    with pytest.raises(DataFileError, match="SHA-256") as info:
        fetch(NAME)
    msg = str(info.value)
    assert NAME in msg and str(copy) in msg and "\n" not in msg


def test_corrupted_cache_file_is_refused(monkeypatch, no_shared, cache):
    monkeypatch.delenv("EPHYS2TYPE_DATA", raising=False)
    copy = _copy(NAME, cache)
    copy.write_text("x")
    with pytest.raises(DataFileError, match="does not match"):
        fetch(NAME, download=False)


def test_missing_everywhere_without_download(monkeypatch, no_shared, cache):
    monkeypatch.delenv("EPHYS2TYPE_DATA", raising=False)
    with pytest.raises(DataFileError, match="EPHYS2TYPE_DATA") as info:
        fetch(NAME, download=False)
    assert NAME in str(info.value)


def test_missing_everywhere_and_no_network(monkeypatch, no_shared, cache):
    monkeypatch.delenv("EPHYS2TYPE_DATA", raising=False)
    monkeypatch.setitem(URLS, NAME, "http://127.0.0.1:9/unreachable.csv")
    with pytest.raises(DataFileError, match=r"download from http://127\.0\.0\.1:9") as info:
        fetch(NAME)
    assert NAME in str(info.value) and "EPHYS2TYPE_DATA" in str(info.value)
    assert not (cache / NAME).exists()


def test_unknown_file_name():
    with pytest.raises(DataFileError, match="unknown reference file"):
        fetch("nope.csv")


def test_cli_reports_a_checksum_mismatch(monkeypatch, tmp_path, run_cli, clean_error):
    copy = _copy("lee2023_human/LeeDalley_ephys_fx.csv", tmp_path / "mydata")
    copy.write_bytes(copy.read_bytes().replace(b"0.0", b"0.1", 1))
    monkeypatch.setenv("EPHYS2TYPE_DATA", str(tmp_path / "mydata"))
    from ephys2type.data import allen

    allen.read_lee2023.cache_clear()
    try:
        clean_error(run_cli("data", "info"), "LeeDalley_ephys_fx.csv", "SHA-256")
    finally:
        allen.read_lee2023.cache_clear()


def test_cli_fetch_lists_every_file(run_cli):
    result = run_cli("data", "fetch")
    assert result.code == 0
    assert result.out.count("ok") == 8


@pytest.mark.network
def test_download_from_upstream(monkeypatch, no_shared, cache):
    monkeypatch.delenv("EPHYS2TYPE_DATA", raising=False)
    found = fetch(NAME)
    assert found.origin == "cache" and sha256_of(found.path) == REGISTRY[NAME]
