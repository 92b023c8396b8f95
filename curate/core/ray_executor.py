"""The Ray executor: the same tasks, fingerprints and done-markers as the local executor, run as Ray
tasks on a cluster whose nodes share the build's storage.

- A lost worker or node: Ray re-runs the task (``max_retries``); tasks are deterministic and write
  their outputs atomically, so a re-run writes the same bytes.
- A lost driver: run the same command again; finished tasks are skipped by their markers.
- A task that raises fails the build with the task named, as locally (exceptions are not retried).

Install with ``pip install 'curate[ray]'``; start a cluster with ``ray start --head`` and
``ray start --address HEAD:6379`` on the other nodes, then pass ``--executor ray --ray-address HEAD:6379``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from curate.core.executor import Executor, Task, TaskError, execute
from curate.core.workers import release_memory

# Same thread limits as the local pool's workers: each task is one of many running side by side.
_ENV = {"TOKENIZERS_PARALLELISM": "false", "POLARS_MAX_THREADS": "1"}


def _run(task: Task, fp: str) -> dict[str, Any]:
    for key, value in _ENV.items():
        os.environ.setdefault(key, value)
    try:
        return execute(task, fp)
    finally:  # a Ray worker runs many tasks: it keeps the memory of the current one, not of its largest
        release_memory()


class RayExecutor(Executor):
    """Runs task lists as Ray tasks on the cluster at ``address`` (``auto``: the one ``ray start`` made)."""

    kind = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, progress: bool | None = None,
                 max_retries: int = 3):
        super().__init__(workers, progress)
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: pip install 'curate[ray]'") from None
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(address=address or "auto", ignore_reinit_error=True, log_to_driver=False,
                     include_dashboard=False, runtime_env={"env_vars": _ENV})
        self._remote = ray.remote(_run).options(num_cpus=1, max_retries=max_retries, retry_exceptions=False)
        self.max_in_flight = max(1, workers) * 4 if workers else None

    def close(self, abort: bool = False) -> None:
        """Disconnect from the cluster (the cluster keeps running)."""
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False

    def _dispatch(self, pending: list[tuple[Task, str]], desc: str,
                  then: tuple[str, ...] = ()) -> Iterator[tuple[Task, dict[str, Any]]]:
        # ``then`` is for a local pool: a Ray worker imports what its task needs when it first runs one.
        ray = self._ray
        queue = list(pending)
        refs: dict[Any, Task] = {}
        limit = self.max_in_flight or len(queue) or 1
        while queue or refs:
            while queue and len(refs) < limit:
                task, fp = queue.pop(0)
                refs[self._remote.remote(task, fp)] = task
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                task = refs.pop(ref)
                try:
                    marker = ray.get(ref)
                except Exception as err:
                    for other in refs:
                        ray.cancel(other)
                    cause = getattr(err, "cause", None) or err
                    raise TaskError(f"{desc}: task {task.key} failed: {cause}") from err
                yield task, marker
