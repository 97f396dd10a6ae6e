"""Trials as Ray tasks: one task per CPU of the cluster, the study still in one storage.

The driver (this process) asks Optuna for candidates and tells it the results, so the study
file is only ever written here; the tasks train and measure, and send back a
:class:`~edgegru.search.trial.Measurement`. Every node needs edgegru with its ``train`` and
``bench`` extras and the Arm toolchain (docs/search.md). The data go to the cluster once.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from edgegru.core.errors import EdgeGruError
from edgegru.search.budgets import Budgets
from edgegru.search.driver import Outcome
from edgegru.search.space import Candidate
from edgegru.search.trial import measure_candidate

CONNECT_TIMEOUT_S = 5.0


def _check_reachable(address: str) -> None:
    """A HOST:PORT nobody answers at, in one line: Ray itself would retry for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise EdgeGruError(f"--ray {address}: expected auto or the head's HOST:PORT (e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise EdgeGruError(
            f"--ray {address}: no Ray head answers there ({exc.strerror or exc}); start one with "
            "`ray start --head` or give its address"
        ) from None


def _measure(data: tuple[Any, Any, Budgets], candidate: Candidate) -> Outcome:
    """The task: a measurement, or the one-line reason the trial failed."""
    train_ds, test_ds, budgets = data
    try:
        return measure_candidate(train_ds, test_ds, candidate, budgets)
    except EdgeGruError as exc:
        return str(exc)


class RayRunner:
    """Runs candidates as Ray tasks on the cluster at ``address`` (``auto``: the one running here)."""

    def __init__(self, address: str, train_ds: Any, test_ds: Any, budgets: Budgets) -> None:
        import ray

        if address != "auto":
            _check_reachable(address)
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EdgeGruError(f"--ray {address}: cannot connect to a Ray cluster: {first}") from None
        self._ray = ray
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._data = ray.put((train_ds, test_ds, budgets))
        self._task = ray.remote(num_cpus=1, max_retries=0)(_measure)
        self._running: dict[Any, int] = {}

    def submit(self, number: int, candidate: Candidate) -> None:
        self._running[self._task.remote(self._data, candidate)] = number

    def wait(self) -> list[tuple[int, Outcome]]:
        ready, _ = self._ray.wait(list(self._running), num_returns=1)
        done = []
        for ref in ready:
            number = self._running.pop(ref)
            try:
                done.append((number, self._ray.get(ref)))
            except self._ray.exceptions.RayError as exc:  # a worker died or could not import
                done.append((number, f"Ray task failed: {str(exc).strip().splitlines()[0]}"))
        return done

    def close(self) -> None:
        for ref in self._running:
            self._ray.cancel(ref, force=True)
        self._running.clear()
        self._ray.shutdown()
