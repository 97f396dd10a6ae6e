"""All-or-nothing writes under faults: every step of a file write and of a C export's
directory swap fails in turn (injected failures, and a writer killed with SIGKILL), and the
target is always either the complete old output or the complete new one."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgegru.codegen.export import export_c
from edgegru.core import atomic
from edgegru.core.errors import EdgeGruError
from tests.helpers import ROOT, make_qmodel

OLD_SEED, NEW_SEED = 1, 2


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def temporaries(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.endswith(atomic.TEMP_SUFFIX))


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The complete old and new exports, as files, to compare a faulted export against."""
    base = tmp_path_factory.mktemp("reference")
    for seed in (OLD_SEED, NEW_SEED):
        export_c(make_qmodel(5, [8], "reset_after", "classification", seed=seed), base / str(seed))
    return snapshot(base / str(OLD_SEED)), snapshot(base / str(NEW_SEED))


@pytest.fixture
def old_export(tmp_path: Path) -> Path:
    out = tmp_path / "model_c"
    export_c(make_qmodel(5, [8], "reset_after", "classification", seed=OLD_SEED), out)
    return out


def new_export(out: Path) -> None:
    export_c(make_qmodel(5, [8], "reset_after", "classification", seed=NEW_SEED), out)


def fail(*_: object, **__: object) -> None:
    raise OSError(errno.EIO, "injected failure")


def test_exchange_swaps_in_one_step(old_export: Path, exports: tuple, tmp_path: Path) -> None:
    new_export(old_export)
    assert snapshot(old_export) == exports[1]
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("step", ["fill", "exchange", "fallback second rename"])
def test_a_failed_step_keeps_the_old_export(
    step: str, old_export: Path, exports: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if step == "fill":
        with pytest.raises(EdgeGruError, match="measure refused"):

            def refuse(_directory: Path, _rendered: object) -> dict:
                raise EdgeGruError("measure refused")

            export_c(make_qmodel(5, [8], "reset_after", "classification", seed=NEW_SEED), old_export,
                     measure=refuse)  # fmt: skip
    else:
        if step == "exchange":
            monkeypatch.setattr(atomic, "exchange", fail)
        else:
            monkeypatch.setattr(atomic, "exchange", lambda a, b: False)
            real_rename = os.rename
            calls = []

            def rename(src: object, dst: object) -> None:
                calls.append((src, dst))
                if len(calls) == 2:  # the new export into place, after the old one moved aside
                    fail()
                real_rename(src, dst)

            monkeypatch.setattr(atomic.os, "rename", rename)
        with pytest.raises(EdgeGruError, match=f"{old_export}: cannot write"):
            new_export(old_export)
    assert snapshot(old_export) == exports[0]
    assert temporaries(tmp_path) == []


def test_fallback_without_exchange(
    old_export: Path, exports: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic, "exchange", lambda a, b: False)
    new_export(old_export)
    assert snapshot(old_export) == exports[1]
    assert temporaries(tmp_path) == []


def test_a_failed_cleanup_keeps_the_new_export(
    old_export: Path, exports: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic.shutil, "rmtree", lambda *a, **k: None)
    new_export(old_export)
    assert snapshot(old_export) == exports[1]


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from edgegru.core import atomic
    from edgegru.codegen.export import export_c
    from tests.helpers import make_qmodel

    step, out = sys.argv[1], Path(sys.argv[2])
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    measure = None
    if step == "fill":
        measure = lambda directory, rendered: die()
    elif step == "after exchange":
        atomic.shutil.rmtree = die
    elif step == "between fallback renames":
        atomic.exchange = lambda a, b: False
        real_rename = os.rename
        calls = []
        def rename(src, dst):
            calls.append(src)
            if len(calls) == 2:
                die()
            real_rename(src, dst)
        atomic.os.rename = rename
    export_c(make_qmodel(5, [8], "reset_after", "classification", seed=int(sys.argv[3])), out,
             measure=measure)
    """
)


@pytest.mark.parametrize("step", ["fill", "after exchange", "between fallback renames"])
def test_a_killed_export(step: str, old_export: Path, exports: tuple, tmp_path: Path) -> None:
    """SIGKILL at each step: the target is the old or the new export, complete (absent only
    between the fallback's two renames, with the old one complete in its backup folder), and
    the next export removes what the killed one left."""
    root = ROOT
    done = subprocess.run(
        [sys.executable, "-c", KILLER, step, str(old_export), str(NEW_SEED)], cwd=root, check=False
    )
    assert done.returncode == -signal.SIGKILL
    if step == "between fallback renames":
        assert not old_export.exists()
        (backup,) = (p for p in tmp_path.iterdir() if p.name.endswith(atomic.TEMP_SUFFIX) and
                     (p / old_export.name).is_dir())  # fmt: skip
        assert snapshot(backup / old_export.name) == exports[0]
    else:
        assert snapshot(old_export) == exports[0 if step == "fill" else 1]
    assert temporaries(tmp_path)  # the killed writer could not clean up
    new_export(old_export)
    assert snapshot(old_export) == exports[1]
    assert temporaries(tmp_path) == []


def test_file_write_failure_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.egru"
    target.write_bytes(b"old")

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "replace", full)
    with pytest.raises(EdgeGruError, match=f"{target}: cannot write \\(No space left on device\\)"):
        atomic.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert temporaries(tmp_path) == []


def test_a_killed_file_write_is_cleaned_by_the_next(tmp_path: Path) -> None:
    target = tmp_path / "model.egru"
    code = (
        "import os, signal, sys\n"
        "from edgegru.core import atomic\n"
        "with atomic.atomic_open(sys.argv[1]) as fh:\n"
        "    fh.write(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(target)], check=False)
    assert done.returncode == -signal.SIGKILL
    assert len(temporaries(tmp_path)) == 1 and not target.exists()
    atomic.atomic_write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert temporaries(tmp_path) == []


def test_a_live_writers_temporary_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "model.egru"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        busy = tmp_path / f".{target.name}.{sleeper.pid}.abc{atomic.TEMP_SUFFIX}"
        busy.write_bytes(b"in progress")
        atomic.atomic_write_bytes(target, b"whole")
        assert busy.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
