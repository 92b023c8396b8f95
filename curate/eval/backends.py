"""Generation backends: a local Hugging Face model and any OpenAI-compatible HTTP endpoint, one interface.

``generate(prompts, *, max_new_tokens, temperature=0.0, stop=None, on_result=None) -> list[str]`` returns
one completion per prompt, in order. Each prompt is one user turn: ``HFBackend`` formats it with the
chat template (``curate.instruct.chat``: the tokenizer's own, else the project's ChatML) plus the
generation prompt, an OpenAI endpoint receives it as the user message of ``/v1/chat/completions`` (or as
the raw prompt of ``/v1/completions``). ``temperature=0`` is greedy. ``stop`` strings cut the completion
before the first of them. ``on_result(i, text)`` is called as each completion arrives, so that a cache
can persist it before the batch ends (``curate.eval.cache``). ``identity`` names the model for cache keys.

HTTP requests go through ``httpx2`` (the maintained continuation of httpx) on one asyncio event loop: at
most ``concurrency`` in flight, each attempt under one total deadline, ``timeout`` (``asyncio.timeout``
around connect, send, headers and body, so a server that drips a byte at a time cannot outlast it, as it
could a per-read socket timeout), and at most ``max_response_bytes`` read (a huge body is refused as it
streams in, never held whole). Connection errors, deadlines, HTTP 429 and 5xx are retried ``retries``
times with exponential backoff (``Retry-After`` honoured); any other 4xx fails at once. Failures,
oversized bodies, malformed JSON and responses without choices raise ``BackendError`` naming the URL,
the status and the server's message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx2

OnResult = Callable[[int, str], None]
MAX_RESPONSE_BYTES = 32 * 2**20  # a completion is kilobytes; a runaway or hostile body stops here


class BackendError(RuntimeError):
    """A generation request that failed for good; the message names the endpoint and the cause."""


class Backend(Protocol):
    """What the strategies and the cache need from a generator."""

    identity: dict[str, Any]

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] | None = None, on_result: OnResult | None = None) -> list[str]:
        """One completion per prompt, in order."""
        ...


def cut_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """``text`` up to the first occurrence of any stop string."""
    cut = min((i for s in stop or () if s and (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


def _fingerprint(*dirs: Path | None) -> str:
    """Names, sizes and mtimes of the model files: a retrained model in the same directory gets new cache keys."""
    h = hashlib.sha256()
    for d in dirs:
        for f in sorted(d.iterdir()) if d and d.is_dir() else ():
            if f.suffix in (".safetensors", ".bin", ".json"):
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


class HFBackend:
    """A local causal LM (an HF export, optionally with a LoRA or C-Poly adapter): batched, left-padded, greedy.

    Loading goes through ``curate.eval.model.load_model`` (adapter type from the directory's files; a C-Poly
    adapter needs ``task`` when it has several). ``chat=False`` feeds prompts raw (a stage-1 base model).
    """

    def __init__(self, export_dir: str | Path, adapter: str | Path | None = None, *, task: str | None = None,
                 batch_size: int = 8, chat: bool = True, seed: int = 0, device: str = "auto", dtype: Any = None):
        from curate.eval.model import load_model  # torch and transformers only when a local model is used

        self.export_dir = Path(export_dir).resolve()
        self.adapter = Path(adapter).resolve() if adapter else None
        extra = {"dtype": dtype} if dtype is not None else {}
        self.model, self.tokenizer = load_model(self.export_dir, self.adapter, task, device=device, **extra)
        self.tokenizer.padding_side = "left"  # new tokens must follow every prompt's last token directly
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.batch_size, self.chat, self.seed = batch_size, chat, seed
        ends = [self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids("<|im_end|>")]
        self.eos_ids = sorted({i for i in ends if isinstance(i, int) and i != self.tokenizer.unk_token_id})
        self.identity = {"kind": "hf", "model": str(self.export_dir), "adapter": str(self.adapter or ""),
                         "task": task or "", "chat": chat, "weights": _fingerprint(self.export_dir, self.adapter)}

    def format(self, prompt: str) -> str:
        """The text the model sees: the prompt as a user turn plus the generation prompt (or raw)."""
        if not self.chat:
            return prompt
        from curate.instruct import chat

        # chat.render checks that the template is prefix-stable, so the text before the (dummy) reply is exactly
        # the user turn plus the generation prompt, as the model saw it in training.
        full, spans = chat.render(str(self.export_dir), [{"role": "user", "content": prompt},
                                                         {"role": "assistant", "content": "x"}])
        return full[:spans[0][0]]

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] | None = None, on_result: OnResult | None = None) -> list[str]:
        """Completions, batched by length (shortest first) and returned in the prompts' order."""
        texts = [self.format(p) for p in prompts]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit and lengths and max(lengths) + max_new_tokens > limit:
            raise BackendError(f"hf: a prompt of {max(lengths):,} tokens plus {max_new_tokens} new ones exceeds the "
                               f"model's {limit:,} positions ({self.export_dir}): use fewer few-shot examples "
                               f"(--shots) or a smaller generation budget")
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        out: list[str] = [""] * len(texts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            for i, text in zip(batch, self._batch([texts[i] for i in batch], max_new_tokens, temperature),
                               strict=True):
                out[i] = cut_at_stop(text, stop)
                if on_result:
                    on_result(i, out[i])
        return out

    def _batch(self, texts: list[str], max_new_tokens: int, temperature: float) -> list[str]:
        import torch

        device = next(self.model.parameters()).device
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        sample = temperature > 0
        if sample:
            torch.manual_seed(self.seed)
        with torch.inference_mode():
            ids = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=sample,
                                      temperature=temperature if sample else None, top_p=None, top_k=None,
                                      pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.eos_ids)
        new = ids[:, enc["input_ids"].shape[1]:]
        return [self.tokenizer.decode(row, skip_special_tokens=True) for row in new]


def _default_backoff(attempt: int) -> float:
    """Exponential backoff with jitter: about 0.5, 1, 2, 4 ... seconds, at most 30."""
    return min(30.0, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0)


class _Retryable(Exception):
    """A failure worth retrying (connection, deadline, 429, 5xx); ``wait`` is the server's Retry-After."""

    def __init__(self, message: str, wait: float = 0.0):
        super().__init__(message)
        self.wait = wait


def _server_message(body: bytes) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the body's start."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or text)[:300]
    except (json.JSONDecodeError, RecursionError):
        return text.strip()[:300] or "(empty body)"


def _cause(err: BaseException) -> str:
    """The error's message plus the operating system's error beneath it (``ConnectionRefusedError``)."""
    message, seen = str(err) or type(err).__name__, err
    while (seen := seen.__cause__ or seen.__context__) is not None:
        if isinstance(seen, OSError) and type(seen) is not OSError:
            return f"{message} ({type(seen).__name__}: {seen.strerror or seen})"
    return message


def _retry_after(value: str | None) -> float:
    return float(value) if value and value.replace(".", "", 1).isdigit() else 0.0


class OpenAIBackend:
    """An OpenAI-compatible server (vLLM, TGI, llama.cpp, ...) over HTTP, ``endpoint`` "chat" or "completions".

    ``timeout`` bounds each attempt as a whole (connect, send, headers and body together), so a server
    that drips bytes cannot hold a request past it; ``max_response_bytes`` bounds what one response may
    put in memory (a larger body fails the request at once, without retries).
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, endpoint: str = "chat",
                 concurrency: int = 8, timeout: float = 60.0, retries: int = 5,
                 backoff: Callable[[int], float] = _default_backoff, max_response_bytes: int = MAX_RESPONSE_BYTES):
        if endpoint not in ("chat", "completions"):
            raise ValueError(f"openai: endpoint must be 'chat' or 'completions', not {endpoint!r}")
        if concurrency < 1 or retries < 0 or timeout <= 0 or max_response_bytes < 1:
            raise ValueError("openai: concurrency >= 1, retries >= 0, timeout > 0 and max_response_bytes >= 1 "
                             "are required")
        root = base_url.rstrip("/")
        root = root if root.endswith("/v1") else f"{root}/v1"
        self.url = f"{root}/chat/completions" if endpoint == "chat" else f"{root}/completions"
        self.model, self.api_key, self.endpoint = model, api_key, endpoint
        self.concurrency, self.timeout, self.retries, self.backoff = concurrency, timeout, retries, backoff
        self.max_response_bytes = max_response_bytes
        self.identity = {"kind": f"openai-{endpoint}", "model": model}

    def _body(self, prompt: str, max_new_tokens: int, temperature: float, stop: Sequence[str] | None) -> dict:
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_new_tokens, "temperature": temperature}
        if self.endpoint == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        if stop:
            body["stop"] = list(stop)
        return body

    async def _read(self, response: httpx2.Response) -> bytes:
        """The body, refused as soon as it (or its announced length) passes ``max_response_bytes``."""
        cap = self.max_response_bytes
        announced = response.headers.get("Content-Length", "")
        if announced.isdigit() and int(announced) > cap:
            raise BackendError(f"openai: {self.url}: the response announces {int(announced):,} bytes, more than "
                               f"max_response_bytes={cap:,} (not retried)")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise BackendError(f"openai: {self.url}: the response passed max_response_bytes={cap:,} "
                                   "(not retried)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _post(self, client: httpx2.AsyncClient, body: dict) -> bytes:
        """One attempt, all of it under one deadline."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with asyncio.timeout(self.timeout):
                async with client.stream("POST", self.url, json=body, headers=headers) as response:
                    if response.status_code >= 400:
                        raw = await self._read(response)
                        message = f"HTTP {response.status_code}: {_server_message(raw)}"
                        if response.status_code == 429 or response.status_code >= 500:
                            raise _Retryable(message, _retry_after(response.headers.get("Retry-After")))
                        raise BackendError(f"openai: {self.url}: {message} (not retried: fix the request or the "
                                           "model name)")
                    return await self._read(response)
        except (TimeoutError, httpx2.TimeoutException):
            raise _Retryable(f"timed out (timeout {self.timeout:g} s for the whole request)") from None
        except httpx2.TransportError as err:  # refused/reset connections, bodies cut short, protocol errors
            raise _Retryable(f"connection failed: {type(err).__name__}: {_cause(err)}") from None

    def _parse(self, raw: bytes) -> str:
        shown = repr(raw[:200].decode("utf-8", "replace"))
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise BackendError(f"openai: {self.url}: malformed JSON in the response ({err}): {shown}") from None
        except RecursionError:  # a body nested deeper than any real reply: hostile or broken, never parsed
            raise BackendError(f"openai: {self.url}: the response's JSON is nested too deeply to read: "
                               f"{shown}") from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise BackendError(f"openai: {self.url}: the response has no choices: {shown}")
        field = "message.content" if self.endpoint == "chat" else "text"
        text = (choices[0].get("message") or {}).get("content") if self.endpoint == "chat" else choices[0].get("text")
        if not isinstance(text, str):
            raise BackendError(f"openai: {self.url}: choices[0] has no {field}: {shown}")
        return text

    async def _request(self, client: httpx2.AsyncClient, body: dict) -> str:
        """One completion, retried on transient failures (see module doc)."""
        for attempt in range(self.retries + 1):
            try:
                return self._parse(await self._post(client, body))
            except _Retryable as err:
                if attempt == self.retries:
                    raise BackendError(f"openai: {self.url}: {err} (gave up after {attempt + 1} attempts)") from None
                await asyncio.sleep(max(self.backoff(attempt), min(err.wait, 60.0)))
        raise AssertionError("unreachable")

    def request(self, body: dict) -> str:
        """One completion for a ready request body."""
        return self._run([body], None)[0]

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] | None = None, on_result: OnResult | None = None) -> list[str]:
        """Completions with at most ``concurrency`` requests in flight; the first failure is raised at the end."""
        bodies = [self._body(p, max_new_tokens, temperature, stop) for p in prompts]
        out = self._run(bodies, lambda i, text: on_result(i, text) if on_result else None, stop)
        return out

    def _run(self, bodies: list[dict], on_result: OnResult | None, stop: Sequence[str] | None = None) -> list[str]:
        return asyncio.run(self._gather(bodies, on_result, stop))

    async def _gather(self, bodies: list[dict], on_result: OnResult | None, stop: Sequence[str] | None) -> list[str]:
        """``concurrency`` workers take the next body in order; after a failure they take no new one, and
        requests already in flight still finish and are delivered."""
        out: list[str] = [""] * len(bodies)
        queue = iter(range(len(bodies)))
        failures: list[BaseException] = []
        limits = httpx2.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(self.timeout, pool=None), limits=limits) as client:

            async def worker() -> None:
                for i in queue:
                    if failures:
                        return
                    try:
                        text = await self._request(client, bodies[i])
                    except BackendError as err:
                        failures.append(err)
                        return
                    out[i] = cut_at_stop(text, stop)
                    if on_result:
                        on_result(i, out[i])

            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(bodies)))))
        if failures:
            raise failures[0]
        return out


def open_backend(model: str, *, base_url: str | None = None, api_key: str | None = None, endpoint: str = "chat",
                 concurrency: int = 8, timeout: float = 60.0, retries: int = 5, adapter: str | None = None,
                 task: str | None = None, batch_size: int = 8, chat: bool = True, device: str = "auto") -> Backend:
    """An ``OpenAIBackend`` serving ``model`` at ``base_url`` when given, else an ``HFBackend`` on export ``model``."""
    if base_url:
        if adapter or task:
            raise ValueError("adapter and task apply to a local model; a server has its adapters loaded itself")
        return OpenAIBackend(base_url, model, api_key, endpoint=endpoint, concurrency=concurrency, timeout=timeout,
                             retries=retries)
    return HFBackend(model, adapter, task=task, batch_size=batch_size, chat=chat, device=device)
