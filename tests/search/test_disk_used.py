"""The disk a search used, as its summary reports it."""

from __future__ import annotations

from search.summary import disk_used, human_bytes


def test_disk_used_counts_files_below_and_not_links(tmp_path):
    (tmp_path / "trial" / "checkpoint_000001").mkdir(parents=True)
    (tmp_path / "trial" / "checkpoint_000001" / "model.keras").write_bytes(b"x" * 1500)
    (tmp_path / "state.json").write_bytes(b"y" * 20)
    (tmp_path / "link").symlink_to(tmp_path / "state.json")
    assert disk_used(tmp_path) == 1520
    assert disk_used(tmp_path / "gone") == 0


def test_human_bytes_picks_the_unit():
    assert [human_bytes(n) for n in (0, 999, 1536, 2_500_000, 3 * 10**9, 7 * 10**12)] == [
        "0 B", "999 B", "1.5 KB", "2.5 MB", "3.0 GB", "7000.0 GB"
    ]  # fmt: skip
