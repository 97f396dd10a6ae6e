"""Trials as Ray tasks on a real local Ray head (127.0.0.1, 2 CPUs), the study still in one file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import ray
import unicorn  # noqa: F401  # the search counts instructions with it (the 'bench' extra)

from edgegru.cli.main import main
from edgegru.search.storage import STUDY_NAME
from tests.helpers import SEARCH_DATA, SEARCH_SPACE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ray start --head --block`` in its own session; stopped (that session only) afterwards."""
    port = _free_port()
    ray_bin = Path(sys.executable).parent / "ray"
    temp = tmp_path_factory.mktemp("ray")
    log = (temp / "head.log").open("w")
    command = [
        str(ray_bin),
        "start",
        "--head",
        "--block",
        "--node-ip-address",
        "127.0.0.1",
        "--port",
        str(port),
        "--num-cpus",
        "2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--temp-dir",
        str(temp),
    ]
    env = {**os.environ, "PATH": f"{ray_bin.parent}{os.pathsep}{os.environ['PATH']}"}
    head = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the Ray head did not start: {(temp / 'head.log').read_text()}"
                    ) from None
                time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops what it started
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # whatever of this session is left
        head.wait()
        log.close()


def test_trials_run_as_ray_tasks_and_land_in_the_study(ray_head: str, tmp_path: Path) -> None:
    storage = tmp_path / "ray.db"
    argv = [
        "search",
        *SEARCH_DATA,
        *SEARCH_SPACE,
        "--epochs",
        "1",
        "--folds",
        "2",
        "--trials",
        "3",
        "--ray",
        ray_head,
        "--storage",
        str(storage),
        "-o",
        str(tmp_path / "out"),
        "--quiet",
    ]
    assert main(argv) == 0
    trials = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{storage}").get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    workers = {t.user_attrs["worker"].rpartition(":")[2] for t in trials}
    assert str(os.getpid()) not in workers  # trained and measured in Ray's worker processes
    assert all(t.user_attrs["flash"] > 0 and t.user_attrs["instructions"] > 0 for t in trials)
    assert not ray.is_initialized()  # the driver disconnected
