"""No network and no code from data: whole builds under the socket guard, template syntax inside records,
tokenizer and model directories that ask to run their own code, chat templates that try to leave the
Jinja sandbox."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.hostile.builds import audited
from tests.hostile.canaries import marker
from tests.hostile.harness import CODE, REPO, Defect, cli, defects_of_run, failed_clearly, invoke
from tests.hostile.registry import Ctx, Expect, case, file_case

SAMPLES = REPO / "samples"


def _mini_stage1(folder: Path) -> Path:
    """A stage-1 recipe over a few sample files of every text source, with near dedup and decontamination."""
    sources = {
        "articles": ["articles/pubmed_baseline.xml", "articles/heart_failure_en.md", "articles/vaccination_en.html"],
        "kg": ["kg/en_respiratory.ttl"],
        "qa": ["qa/en_pairs.jsonl", "qa/zh_pairs_gb18030.csv"],
    }
    entries = []
    for name, files in sources.items():
        inputs = json.dumps([str(SAMPLES / f) for f in files])
        (folder / f"{name}.toml").write_text(f'reader = "{name}"\ninputs = {inputs}\n[quality]\nmin_chars = 10\n')
        entries.append(f'[[sources]]\nrecipe = "{name}.toml"\n')
    (folder / "jsonld.jsonld").write_text(json.dumps({  # a JSON-LD file whose context is inline: nothing to fetch
        "@context": {"label": "http://www.w3.org/2000/01/rdf-schema#label"},
        "@id": "http://example.org/kg/D9", "label": "bronchiolitis"}))
    (folder / "kg.toml").write_text((folder / "kg.toml").read_text().replace(
        'inputs = [', f'inputs = ["{folder / "jsonld.jsonld"}", '))
    (folder / "mix.toml").write_text(
        'name = "mini"\nseed = 7\n[near_dedup]\n[near_dedup.minhash]\nthreshold = 0.8\n'
        '[decontam]\n[[decontam.benchmarks]]\nname = "medqa"\nloader = "medqa"\n'
        f'path = "{SAMPLES / "eval" / "medqa_sample.jsonl"}"\n' + "".join(entries))
    return folder / "mix.toml"


@case("network", "stage1-build-opens-no-socket", expensive=True, parallel=True)
def stage1_no_socket(ctx: Ctx) -> list[Defect]:
    folder = ctx.tmp("no-socket-stage1")
    run = cli(["corpus", _mini_stage1(folder), "--out", folder / "out", "--workers", "2", "--no-progress"],
              timeout=180)
    found = defects_of_run(run)
    if run.code != 0 and not found:
        found.append(Defect("unclear error", f"the build failed: {run.error_line()}"))
    return found + (audited(folder / "out" / "mini") if run.code == 0 else [])


@case("network", "stage2-build-opens-no-socket", expensive=True, parallel=True)
def stage2_no_socket(ctx: Ctx) -> list[Defect]:
    folder = ctx.tmp("no-socket-stage2")
    run = cli(["corpus", REPO / "recipes" / "stage2.toml", "--out", folder, "--workers", "2", "--no-progress"],
              timeout=180)
    found = defects_of_run(run)
    if run.code != 0 and not found:
        found.append(Defect("unclear error", f"the build failed: {run.error_line()}"))
    return found


# --- code from data -------------------------------------------------------------------------------------

_JINJA = ["{{ 7 * 7 }}", "{% for x in range(3) %}loop{% endfor %}",
          "{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ cycler.__init__.__globals__.os.getcwd() }}"]
file_case("qa", "template-syntax-inside-records",
          {"jinja.jsonl": "".join(json.dumps({"question": f"What does {j} print jn{i}?", "answer": j}) + "\n"
                                  for i, j in enumerate(_JINJA)).encode()},
          Expect(units=len(_JINJA), good=tuple(_JINJA), forbid=("Answer: 49", "looplooploop", "<class")),
          group="code")


def _tokenizer(folder: Path, **config: object) -> Path:
    tok = folder / "tok"
    shutil.copytree(REPO / "curate" / "assets" / "tokenizer", tok)
    cfg = json.loads((tok / "tokenizer_config.json").read_text())
    (tok / "tokenizer_config.json").write_text(json.dumps({**cfg, **config}))
    return tok


def _instruct_with(ctx: Ctx, name: str, tok: Path) -> tuple[list[Defect], Path]:
    folder = tok.parent
    (folder / "i.toml").write_text(f'name = "i"\nkind = "instruct"\nseq_len = 512\n[[sources]]\nname = "medqa"\n'
                                   f'loader = "medqa"\ninputs = ["{SAMPLES}/instruct/medqa/dev.jsonl"]\n')
    run = cli(["corpus", folder / "i.toml", "--out", folder / "out", "--tokenizer", tok, "--workers", "1",
               "--no-progress"], timeout=120)
    return failed_clearly(run, ["tokenizer", "trust_remote_code", "remote code", "chat template"], accept=True), folder


@case("code", "tokenizer-asks-for-remote-code", parallel=True)
def tokenizer_remote_code(ctx: Ctx) -> list[Defect]:
    folder = ctx.tmp("remote-code-tokenizer")
    ran = marker(folder, "tokenizer-code-ran")
    tok = _tokenizer(folder, tokenizer_class="EvilTokenizer", auto_map={"AutoTokenizer": ["evil.EvilTokenizer", None]},
                     chat_template="{% for m in messages %}{{ m.content }}{% endfor %}")
    (tok / "evil.py").write_text(f"import os\nos.mkdir({str(ran)!r})\nEvilTokenizer = None\n")
    found, _ = _instruct_with(ctx, "remote", tok)
    return found + ([Defect(CODE, "the tokenizer directory's evil.py ran")] if ran.exists() else [])


@case("code", "chat-template-leaves-the-sandbox", parallel=True)
def chat_template_escape(ctx: Ctx) -> list[Defect]:
    folder = ctx.tmp("chat-template-escape")
    ran = marker(folder, "template-code-ran")
    escape = ("{{ cycler.__init__.__globals__.os.mkdir(" + repr(str(ran)) + ") }}"
              "{% for m in messages %}{{ m.content }}{% endfor %}")
    found, _ = _instruct_with(ctx, "escape", _tokenizer(folder, chat_template=escape))
    return found + ([Defect(CODE, "the chat template ran os.mkdir")] if ran.exists() else [])


@case("code", "model-asks-for-remote-code", needs="torch")
def model_remote_code(ctx: Ctx) -> list[Defect]:
    folder = ctx.tmp("remote-code-model")
    ran = marker(folder, "model-code-ran")
    export = _tokenizer(folder)
    (export / "config.json").write_text(json.dumps({
        "model_type": "evil", "architectures": ["EvilForCausalLM"],
        "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilForCausalLM"}}))
    (export / "evil.py").write_text(f"import os\nos.mkdir({str(ran)!r})\n")
    run = invoke(["eval", "mcq", "medqa", SAMPLES / "eval" / "medqa_sample.jsonl", "--model", export,
                  "--out", folder / "eval"], timeout=120)
    found = failed_clearly(run, ["trust_remote_code", "remote code", "evil", str(export)])
    return found + ([Defect(CODE, "the model directory's evil.py ran")] if ran.exists() else [])

