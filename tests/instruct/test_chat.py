"""Chat formatting and loss masks: exactly the assistant tokens carry loss."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from curate.instruct import chat
from curate.tokens.tokenizer import BUNDLED

DIALOG = [
    {"role": "system", "content": "You are a careful physician."},
    {"role": "user", "content": "I have a fever of 39 C."},
    {"role": "assistant", "content": "How long have you had it?"},
    {"role": "user", "content": "Two days."},
    {"role": "assistant", "content": "Drink fluids and see a doctor if it lasts."},
]

# A Llama-3-style template with its own header and end-of-turn markers (built from our special tokens).
LLAMA_STYLE = (
    "{{ '<|startofpiece|>' }}{% for m in messages %}{{ '[gMASK]' + m['role'] + '\\n\\n' + m['content'] + "
    "'<|endofpiece|>' }}{% endfor %}{% if add_generation_prompt %}{{ '[gMASK]assistant\\n\\n' }}{% endif %}"
)


def _decode(tok: Tokenizer, ids: np.ndarray) -> str:
    return tok.decode(ids.tolist(), skip_special_tokens=False)


@pytest.fixture
def templated_tokenizer(tmp_path: Path) -> Path:
    """The bundled tokenizer with a chat template written into its tokenizer_config.json."""
    d = tmp_path / "tok"
    shutil.copytree(BUNDLED, d)
    config = json.loads((d / "tokenizer_config.json").read_text())
    config["chat_template"] = LLAMA_STYLE
    (d / "tokenizer_config.json").write_text(json.dumps(config))
    return d


def test_project_chatml_masks_all_but_assistant_replies() -> None:
    assert chat.template_source(str(BUNDLED)) == "project"
    (enc,) = chat.encode(str(BUNDLED), [DIALOG])
    tok = Tokenizer.from_file(str(BUNDLED / "tokenizer.json"))
    assert _decode(tok, enc.input_ids).startswith("<|im_start|>system\nYou are a careful physician.<|im_end|>\n")
    loss = enc.labels != -100
    assert (enc.labels[loss] == enc.input_ids[loss]).all()
    # the loss runs are exactly the two replies, each with its end-of-turn token, and nothing else
    runs = np.split(np.flatnonzero(loss), np.flatnonzero(np.diff(np.flatnonzero(loss)) > 1) + 1)
    assert [_decode(tok, enc.input_ids[r]) for r in runs] == [
        "How long have you had it?<|im_end|>", "Drink fluids and see a doctor if it lasts.<|im_end|>"]


def test_tokenizer_chat_template_is_used_and_masks_exactly_the_replies(templated_tokenizer: Path) -> None:
    assert chat.template_source(str(templated_tokenizer)) == "tokenizer"
    (enc,) = chat.encode(str(templated_tokenizer), [DIALOG])
    tok = Tokenizer.from_file(str(templated_tokenizer / "tokenizer.json"))
    text = _decode(tok, enc.input_ids)
    assert text.startswith("<|startofpiece|>[gMASK]system\n\nYou are a careful physician.<|endofpiece|>")
    per_token = [(tok.id_to_token(int(i)), bool(lab != -100)) for i, lab in zip(enc.input_ids, enc.labels,
                                                                                  strict=True)]
    carried = "".join(_decode(tok, np.array([tok.token_to_id(t)])) for t, on in per_token if on)
    assert carried == "How long have you had it?<|endofpiece|>Drink fluids and see a doctor if it lasts.<|endofpiece|>"
    # the template's markers around replies stay masked; the closing marker after a reply is trained
    assert not per_token[0][1] and per_token[-1] == ("<|endofpiece|>", True)
    assert sum(on for _, on in per_token) == len(tok.encode(
        "How long have you had it?<|endofpiece|>Drink fluids and see a doctor if it lasts.<|endofpiece|>",
        add_special_tokens=False).ids)


def test_multi_turn_keeps_every_turn_and_trains_every_reply() -> None:
    dialog = [*DIALOG, {"role": "user", "content": "Thanks."}, {"role": "assistant", "content": "Ok."}]
    (enc,) = chat.encode(str(BUNDLED), [dialog])
    tok = Tokenizer.from_file(str(BUNDLED / "tokenizer.json"))
    assert all(m["content"] in _decode(tok, enc.input_ids) for m in dialog)
    loss = np.flatnonzero(enc.labels != -100)
    assert len(np.split(loss, np.flatnonzero(np.diff(loss) > 1) + 1)) == 3


def test_conversation_without_reply_is_an_error_not_a_crash() -> None:
    out = chat.encode(str(BUNDLED), [[{"role": "user", "content": "hello"}], DIALOG])
    assert isinstance(out[0], chat.ChatTemplateError) and isinstance(out[1], chat.Encoded)


def test_template_that_rewrites_earlier_turns_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "tok"
    shutil.copytree(BUNDLED, d)
    config = json.loads((d / "tokenizer_config.json").read_text())
    # drops every assistant reply but the last one, as some reasoning templates do
    config["chat_template"] = ("{% for m in messages %}{% if m['role'] != 'assistant' or loop.last %}"
                               "{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endif %}{% endfor %}")
    (d / "tokenizer_config.json").write_text(json.dumps(config))
    (out,) = chat.encode(str(d), [DIALOG])
    assert isinstance(out, chat.ChatTemplateError) and "prefix-stable" in str(out)


def _with_template(tmp_path: Path, template: str) -> str:
    d = tmp_path / "tok"
    shutil.copytree(BUNDLED, d)
    config = json.loads((d / "tokenizer_config.json").read_text())
    config["chat_template"] = template
    (d / "tokenizer_config.json").write_text(json.dumps(config))
    return str(d)


def test_template_that_leaves_the_sandbox_fails_the_build_naming_the_tokenizer(tmp_path: Path) -> None:
    ran = tmp_path / "template-code-ran"
    escape = ("{{ cycler.__init__.__globals__.os.mkdir(" + repr(str(ran)) + ") }}"
              "{% for m in messages %}{{ m.content }}{% endfor %}")
    tok = _with_template(tmp_path, escape)
    with pytest.raises(chat.UnusableChatTemplate, match=r"tokenizer .*tok: its chat template reaches outside"):
        chat.encode(tok, [DIALOG])
    assert not ran.exists()


def test_template_raising_for_one_conversation_fails_only_that_example(tmp_path: Path) -> None:
    strict = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system turns') }}"
              "{% endif %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}"
              "{% if add_generation_prompt %}assistant: {% endif %}")
    tok = _with_template(tmp_path, strict)
    out = chat.encode(tok, [DIALOG, DIALOG[1:]])
    assert isinstance(out[0], chat.ChatTemplateError) and "no system turns" in str(out[0])
    assert isinstance(out[1], chat.Encoded)
