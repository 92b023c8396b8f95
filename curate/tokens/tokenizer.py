"""Tokenizers: the bundled byte-level BPE, any local Hugging Face tokenizer directory, and training.

A build copies the tokenizer it uses into ``<build>/tokenizer/`` (as ``tokenizer.json`` plus its
config), so the build is self-contained: ``curate inspect`` detokenizes with exactly that tokenizer,
and workers load it with ``tokenizers`` alone. A directory without ``tokenizer.json`` (a
SentencePiece-only checkpoint) is converted once through ``transformers.AutoTokenizer``.

The EOD token is the tokenizer's ``eos_token`` unless ``--eod-token`` names another; documents are
encoded without the tokenizer's own BOS/EOS (``add_special_tokens=False``) and end with EOD.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

import curate

BUNDLED = Path(curate.__file__).parent / "assets" / "tokenizer"
EOD = "<|endoftext|>"
SPECIAL_TOKENS = [EOD, "<|pad|>", "<|im_start|>", "<|im_end|>", "[MASK]", "[gMASK]",
                  "<|startofpiece|>", "<|endofpiece|>"]
# Files that make up a tokenizer in a Hugging Face directory (never weights).
_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
          "chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt", "tokenizer.model",
          "vocab.txt", "generation_config.json")


class TokenizerError(ValueError):
    """The tokenizer cannot be used (missing, no EOD token)."""


@dataclass(frozen=True)
class TokenizerInfo:
    """What a build records about its tokenizer."""

    name: str
    path: str
    vocab_size: int
    eod_id: int
    eod_token: str
    files: dict[str, str]  # file name -> sha256

    @property
    def fingerprint(self) -> str:
        """One hash over the tokenizer files and the EOD choice."""
        payload = json.dumps([sorted(self.files.items()), self.eod_id]).encode()
        return hashlib.sha256(payload).hexdigest()


def _configured_eos(directory: Path) -> str | None:
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        p = directory / name
        if p.is_file():
            eos = json.loads(p.read_text(encoding="utf-8")).get("eos_token")
            if isinstance(eos, dict):
                eos = eos.get("content")
            if eos:
                return str(eos)
    return None


def prepare(spec: str | None, dest: Path, eod_token: str | None = None) -> TokenizerInfo:
    """Resolve ``--tokenizer`` (a directory, or None for the bundled one) into ``dest``."""
    src = BUNDLED if spec in (None, "", "bundled") else Path(spec)
    if not src.is_dir():
        raise TokenizerError(f"tokenizer directory {src} not found (pass a local Hugging Face "
                             "tokenizer directory, or leave --tokenizer out for the bundled one)")
    dest.mkdir(parents=True, exist_ok=True)
    if (src / "tokenizer.json").is_file():
        for name in _FILES:
            if (src / name).is_file() and (src / name).resolve() != (dest / name).resolve():
                shutil.copyfile(src / name, dest / name)
    else:
        from transformers import AutoTokenizer  # only for SentencePiece-only directories

        AutoTokenizer.from_pretrained(str(src)).save_pretrained(str(dest))
    eod_token = eod_token or _configured_eos(dest) or EOD
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(dest.iterdir()) if p.name in _FILES}
    vocab_size, eod_id = _sizes(dest / "tokenizer.json", files, eod_token)
    if eod_id is None:
        raise TokenizerError(f"tokenizer {src} has no token {eod_token!r} to end documents with; "
                             "pass --eod-token with one of its special tokens")
    name = "curate-bpe (bundled)" if src == BUNDLED else src.resolve().name
    return TokenizerInfo(name, str(dest), vocab_size, eod_id, eod_token, files)


def _sizes(path: Path, files: dict[str, str], eod_token: str) -> tuple[int, int | None]:
    """The vocabulary size and the EOD token's id, remembered per tokenizer (by its files' digests) in the
    user's cache: loading a large ``tokenizer.json`` only to read them costs a build 0.1 s before its first
    task."""
    from curate.core.executor import write_json
    from curate.core.storage import cache_dir

    key = hashlib.sha256(json.dumps([sorted(files.items()), eod_token]).encode()).hexdigest()
    memo = cache_dir() / "tokenizers" / f"{key}.json"
    try:
        known = json.loads(memo.read_text(encoding="utf-8"))
        return int(known["vocab_size"]), int(known["eod_id"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    tok = load(str(path))
    vocab_size, eod_id = tok.get_vocab_size(with_added_tokens=True), tok.token_to_id(eod_token)
    if eod_id is not None:
        with contextlib.suppress(OSError):  # a read-only cache: load it again next time
            write_json(memo, {"vocab_size": vocab_size, "eod_id": eod_id})
    return vocab_size, eod_id


# Words a BPE model keeps the merges of (the library's default is 10,000, and a full cache takes no more):
# over 100,000 mixed Chinese and English documents, a worker's encoding took 20% less time with this many
# (50,000: 18%), for about 100 MB more resident once the cache is full. The ids are the same: the cache
# holds what the merges give.
BPE_CACHE_WORDS = 100_000


@functools.lru_cache(maxsize=4)
def load(path: str) -> Tokenizer:
    """Load ``tokenizer.json`` once per process, a BPE model with a word cache of ``BPE_CACHE_WORDS``."""
    tok = Tokenizer.from_file(path)
    resize = getattr(tok.model, "_resize_cache", None)  # BPE models of tokenizers 0.21 and later
    if resize is not None:
        with contextlib.suppress(Exception):  # a model that refuses keeps the library's cache
            resize(BPE_CACHE_WORDS)
    return tok


# Texts per encode call where the tokenizer runs on one thread (a pool worker): the library builds every
# text's tokens and offsets before it returns, and calls of this size stay in the CPU's caches (15% less
# time than 4,096 at once, measured on mixed Chinese and English documents). Where it runs on every core, a
# call takes the whole batch: its threads share each call, and small calls cost them more.
SERIAL_ENCODE_DOCS = 256


def calls(texts: list[str]) -> Iterator[list[str]]:
    """``texts`` cut into the encode calls this process should make (``SERIAL_ENCODE_DOCS`` at a time on one
    thread, else all at once), in order."""
    step = SERIAL_ENCODE_DOCS if serial() else max(1, len(texts))
    for start in range(0, len(texts), step):
        yield texts[start:start + step]


def serial() -> bool:
    """Whether this process's tokenizers run on one thread: ``TOKENIZERS_PARALLELISM`` set to a value the
    library reads as off (pool workers set it; unset, the library uses every core)."""
    value = os.environ.get("TOKENIZERS_PARALLELISM")
    return value is not None and value.strip().lower() in ("", "off", "false", "f", "no", "n", "0")


def train(texts: Iterable[str], vocab_size: int, out: Path, min_frequency: int = 2) -> Tokenizer:
    """Train a byte-level BPE (with the project's special tokens) and save it as an HF directory."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": EOD, "pad_token": "<|pad|>",
              "model_max_length": 1_000_000, "clean_up_tokenization_spaces": False}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return tok


def training_texts(paths: Iterable[Path], skipped: list[str]) -> Iterator[str]:
    """Text to train on: Parquet ``text`` columns, text/Markdown/HTML files, and every string
    value of JSON/CSV records and PubMed XML. Unreadable files are appended to ``skipped``."""
    import xml.etree.ElementTree as ET

    import pyarrow.parquet as pq

    from curate.text.textio import NotText, Problem, base_suffix, iter_records, open_binary, read_text

    for path in paths:
        suffix = base_suffix(path)
        try:
            if suffix == ".parquet":
                if "text" in pq.ParquetFile(path).schema_arrow.names:
                    yield from (t for t in pq.read_table(path, columns=["text"])["text"].to_pylist() if t)
            elif suffix == ".xml":
                with open_binary(path) as f:
                    yield " ".join(ET.parse(f).getroot().itertext())
            elif suffix in (".txt", ".md", ".html", ".htm", ".markdown"):
                yield read_text(path)[0]
            else:
                for _, row in iter_records(path):
                    if not isinstance(row, Problem):
                        yield "\n".join(_strings(row))
        except (NotText, ET.ParseError, OSError) as err:
            skipped.append(f"{path}: {err}")


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
