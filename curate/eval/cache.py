"""An on-disk cache of generation requests that wraps any backend, so that an interrupted run resumes.

Key: sha256 of the canonical JSON of ``{"backend": backend.identity, "prompt": ..., "params":
{max_new_tokens, temperature, stop}}``; ``identity`` holds the backend kind and the model id (for a local
model also the adapter and a fingerprint of the weight files). One JSON file per key, sharded by the
first two hex digits: ``<cache_dir>/ab/abcdef....json`` with ``{key, backend, params, prompt, output}``.
Files are written to a temporary name and renamed, so a killed run leaves whole entries or none; an
unreadable entry counts as a miss and is rewritten. Each completion is written as soon as the backend
delivers it (``on_result``), not at the end of the batch, so at most the requests in flight at the kill
are sent again. Sampled outputs (``temperature > 0``) are cached too: a rerun reproduces them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from curate.eval.backends import Backend, OnResult


def request_key(identity: dict[str, Any], prompt: str, params: dict[str, Any]) -> str:
    """The sha256 hex digest that names one request."""
    material = json.dumps({"backend": identity, "prompt": prompt, "params": params}, sort_keys=True,
                          ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class CachedBackend:
    """``backend`` with every completion stored under ``cache_dir``; ``hits``/``misses`` count lookups."""

    def __init__(self, backend: Backend, cache_dir: str | Path, *, progress: bool = True, desc: str = "generate"):
        self.backend, self.dir = backend, Path(cache_dir)
        self.identity = backend.identity
        self.progress, self.desc = progress, desc
        self.hits = self.misses = 0

    def path(self, key: str) -> Path:
        """Where the entry of ``key`` lives."""
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        """The cached output of ``key``, or ``None`` (missing or unreadable)."""
        try:
            entry = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        output = entry.get("output") if isinstance(entry, dict) else None
        return output if isinstance(output, str) and entry.get("key") == key else None

    def put(self, key: str, prompt: str, params: dict[str, Any], output: str) -> None:
        """Store one entry atomically (temporary file, then rename)."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"key": key, "backend": self.identity, "params": params, "prompt": prompt, "output": output}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(entry, f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] | None = None, on_result: OnResult | None = None) -> list[str]:
        """Cached completions; only prompts never answered before reach the backend (each once per batch)."""
        params = {"max_new_tokens": max_new_tokens, "temperature": float(temperature),
                  "stop": list(stop) if stop else None}
        keys = [request_key(self.identity, p, params) for p in prompts]
        found: dict[str, str] = {}
        todo: dict[str, str] = {}  # key -> prompt, first occurrence order
        for key, prompt in zip(keys, prompts, strict=True):
            if key in found or key in todo:
                continue
            if (output := self.get(key)) is not None:
                found[key] = output
            else:
                todo[key] = prompt
        self.hits += len(found)
        self.misses += len(todo)
        if todo:
            self._fill(todo, found, params, max_new_tokens, temperature, stop)
        out = [found[k] for k in keys]
        if on_result:
            for i, text in enumerate(out):
                on_result(i, text)
        return out

    def _fill(self, todo: dict[str, str], found: dict[str, str], params: dict[str, Any], max_new_tokens: int,
              temperature: float, stop: Sequence[str] | None) -> None:
        """Ask the backend for the missing prompts, storing each completion as it arrives."""
        todo_keys = list(todo)
        bar = tqdm(total=len(found) + len(todo), initial=len(found), desc=self.desc, unit="req",
                   disable=None if self.progress else True, leave=False)

        def store(j: int, text: str) -> None:
            key = todo_keys[j]
            if key not in found:
                self.put(key, todo[key], params, text)
                found[key] = text
                bar.update(1)

        try:
            outputs = self.backend.generate(list(todo.values()), max_new_tokens=max_new_tokens,
                                            temperature=temperature, stop=stop, on_result=store)
            for j, text in enumerate(outputs):  # a backend that ignores on_result still gets cached
                store(j, text)
        finally:
            bar.close()
