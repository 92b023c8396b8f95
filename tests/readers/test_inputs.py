"""Input discovery on awkward file systems: odd names, glob characters, links, output inside input."""

import os
from pathlib import Path

from curate.readers.inputs import discover_all


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"question": "q?", "answer": "a"}\n', encoding="utf-8")
    return path


def test_a_file_name_that_is_not_utf8_is_a_problem_with_a_printable_name(tmp_path):
    _touch(tmp_path / "in" / "a.jsonl")
    with open(os.path.join(os.fsencode(tmp_path / "in"), b"caf\xe9.jsonl"), "wb") as f:
        f.write(b'{"question": "q?", "answer": "a"}\n')
    files, problems = discover_all([tmp_path / "in"], [".jsonl"])
    assert [rel for _, rel in files] == ["a.jsonl"]
    assert [(rel, "not valid UTF-8" in msg) for _, rel, msg in problems] == [("caf\\xe9.jsonl", True)]
    problems[0][1].encode("utf-8")  # ids and ledger rows can hold it


def test_an_existing_path_with_glob_characters_is_taken_literally(tmp_path):
    path = _touch(tmp_path / "data[1].jsonl")
    _touch(tmp_path / "data1.jsonl")  # what the glob [1] would match instead
    files, problems = discover_all([str(path)], [".jsonl"])
    assert [p.name for p, _ in files] == ["data[1].jsonl"] and not problems
    files, _ = discover_all([str(tmp_path / "data[1].jsonl").replace("[1]", "[12]")], [".jsonl"])
    assert [p.name for p, _ in files] == ["data1.jsonl"]  # a path that does not exist is still a glob


def test_the_output_folder_inside_an_input_folder_is_not_read(tmp_path):
    _touch(tmp_path / "data" / "a.jsonl")
    _touch(tmp_path / "data" / "build" / "qa" / "sources" / "read" / "a.jsonl")
    files, _ = discover_all([tmp_path / "data"], [".jsonl"], exclude=[tmp_path / "data" / "build"])
    assert [rel for _, rel in files] == ["a.jsonl"]
    files, _ = discover_all([f"{tmp_path}/data/**/*.jsonl"], [".jsonl"], exclude=[tmp_path / "data" / "build"])
    assert [rel for _, rel in files] == ["a.jsonl"]


def test_relpaths_are_relative_to_the_named_folder_over_a_link_loop(tmp_path):
    _touch(tmp_path / "in" / "loops" / "fl.jsonl")
    for link in ("up1", "up2"):
        (tmp_path / "in" / "loops" / link).symlink_to("..")
    files, problems = discover_all([tmp_path / "in"], [".jsonl"])
    assert [rel for _, rel in files] == ["loops/fl.jsonl"] and not problems
    files, _ = discover_all([f"{tmp_path}/in/**/*.jsonl"], [".jsonl"])
    assert [rel for _, rel in files] == ["loops/fl.jsonl"]
