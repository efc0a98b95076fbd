"""Downloading recordings from the DANDI Archive: which files, resuming, no partial files.

The listing and download go through the dandi client; offline, a stand-in Dandiset checks
everything around them. The network test downloads one real file of Dandiset 000020."""

from __future__ import annotations

from pathlib import Path

import pytest

from ephys2type.data.recordings import dandi
from ephys2type.data.recordings.dandi import RemoteFile, fetch_recordings
from ephys2type.data.recordings.sweeps import RecordingError


def _fake(files: dict[str, bytes], calls: list[str], fail: str | None = None) -> list[RemoteFile]:
    def downloader(path: str, data: bytes):
        def download(to: Path) -> None:
            calls.append(path)
            to.write_bytes(data[: len(data) // 2] if path == fail else data)

        return download

    return [RemoteFile(p, len(d), downloader(p, d)) for p, d in files.items()]


FILES = {
    "dataset_description.json": b"{}",
    "sub-1/sub-1_ses-1_icephys.nwb": b"a" * 10,
    "sub-2/sub-2_ses-1_icephys.nwb": b"b" * 20,
    "sub-3/sub-3_ses-1_icephys.nwb": b"c" * 30,
}


def test_fetch_downloads_nwb_files_and_resumes(tmp_path):
    calls: list[str] = []
    result = fetch_recordings(_fake(FILES, calls), tmp_path, limit=2)
    assert [p.relative_to(tmp_path).as_posix() for p in result.downloaded] == [
        "sub-1/sub-1_ses-1_icephys.nwb",
        "sub-2/sub-2_ses-1_icephys.nwb",
    ]  # the JSON is not a recording; the limit counts recordings
    assert (tmp_path / "sub-2/sub-2_ses-1_icephys.nwb").read_bytes() == b"b" * 20
    # again, without a limit: the two present files are skipped, the third downloaded
    calls.clear()
    again = fetch_recordings(_fake(FILES, calls), tmp_path)
    assert calls == ["sub-3/sub-3_ses-1_icephys.nwb"] and len(again.present) == 2
    # a file of the wrong size on disk is downloaded again
    (tmp_path / "sub-1/sub-1_ses-1_icephys.nwb").write_bytes(b"x")
    calls.clear()
    fetch_recordings(_fake(FILES, calls), tmp_path)
    assert calls == ["sub-1/sub-1_ses-1_icephys.nwb"]


def test_an_incomplete_download_leaves_no_file(tmp_path):
    with pytest.raises(RecordingError, match="downloaded 10 bytes, expected 20"):
        fetch_recordings(_fake(FILES, [], fail="sub-2/sub-2_ses-1_icephys.nwb"), tmp_path)
    assert (tmp_path / "sub-1/sub-1_ses-1_icephys.nwb").is_file()
    assert not list((tmp_path / "sub-2").iterdir())  # neither the file nor a .part
    with pytest.raises(RecordingError, match="at least 1"):
        fetch_recordings([], tmp_path, limit=0)


def test_fetch_recordings_command(run_cli, tmp_path, monkeypatch):
    calls: list[str] = []
    seen = {}

    def assets(dandiset, version):
        seen.update(dandiset=dandiset, version=version)
        return iter(_fake(FILES, calls))

    monkeypatch.setattr(dandi, "dandi_assets", assets)
    out = tmp_path / "mouse"
    r = run_cli("fetch-recordings", "--dandiset", "000020", "--limit", "1", "--out", str(out))
    assert r.code == 0, r
    assert seen == {"dandiset": "000020", "version": "draft"}
    text = " ".join(r.out.split())  # the console wraps long lines
    assert "1 NWB file(s) of Dandiset 000020" in text and "1 downloaded" in text
    r = run_cli("fetch-recordings", "--dandiset", "000020", "--limit", "1", "--out", str(out))
    assert "0 downloaded, 1 already there" in " ".join(r.out.split())


@pytest.mark.network
def test_one_real_recording_of_dandiset_000020(tmp_path):
    result = fetch_recordings(dandi.dandi_assets("000020"), tmp_path, limit=1)
    (path,) = result.downloaded
    assert path.suffix == ".nwb" and path.stat().st_size > 1_000_000
    from ephys2type.data.recordings.extract import extract_features
    from ephys2type.data.recordings.nwb import read_nwb

    rec = read_nwb(path)
    row, _ = extract_features(rec, sweep_qc_profile="none")
    assert row["ri"] > 0 and row["threshold_i_long_square"] > 0
