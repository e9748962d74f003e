"""The metrics directory `polyroute serve` prepares for its workers."""

from __future__ import annotations

from pathlib import Path

from app.observability.multiproc import MULTIPROC_ENV, prepare_multiproc_dir, remove_multiproc_dir


def test_a_fresh_temporary_directory_per_start_removed_at_exit() -> None:
    environ: dict[str, str] = {}
    path, owned = prepare_multiproc_dir(environ)
    try:
        assert owned and path.is_dir() and not list(path.iterdir())
        assert environ[MULTIPROC_ENV] == str(path)
        second, _ = prepare_multiproc_dir({})
        assert second != path
        remove_multiproc_dir(second)
    finally:
        remove_multiproc_dir(path)
    assert not path.exists()


def test_an_operator_directory_is_emptied_of_the_last_run_and_kept(tmp_path: Path) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"old")
    (tmp_path / "gauge_livesum_123.db").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("not ours")
    path, owned = prepare_multiproc_dir({MULTIPROC_ENV: str(tmp_path)})
    assert path == tmp_path and not owned
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
