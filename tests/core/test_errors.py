"""The one line the command line shows for an error: the file, the reason, what to do."""

from __future__ import annotations

import errno

import pytest

from curate.core.errors import BadFile, describe, load_json
from curate.core.executor import TaskError


@pytest.mark.parametrize(("err", "line"), [
    (PermissionError(errno.EACCES, "Permission denied", "/data/in/a.jsonl"),
     "cannot use '/data/in/a.jsonl': Permission denied (check its permissions, or choose another --out)"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/stage1"),
     "cannot use '/mnt/ro/stage1': Read-only file system (the filesystem is read-only: choose another --out)"),
    (OSError(errno.ENOSPC, "No space left on device"),
     "cannot use: No space left on device (the disk is full: free space, or choose another --out)"),
    (AssertionError("t/a.idx: 151 bytes, header implies 302"),
     "invalid data: t/a.idx: 151 bytes, header implies 302 (the file may be truncated or corrupt: rebuild it; "
     "--debug shows where)"),
    (ValueError("recipe.toml: seed must be an integer\nmore detail"), "recipe.toml: seed must be an integer"),
    (IndexError("pack 9 out of range (0..3)"), "pack 9 out of range (0..3)"),
    (KeyError("x"), "internal error: KeyError: 'x' (rerun with --debug for the traceback, and please report it)"),
    (TypeError("bad operand"), "internal error: TypeError: bad operand (rerun with --debug for the traceback, and "
                               "please report it)"),
])
def test_describe_is_one_line_with_the_file_and_the_fix(err, line):
    assert describe(err) == line


def test_a_failed_task_names_the_task_and_the_file():
    cause = PermissionError(errno.EACCES, "Permission denied", "/data/in/b.pdf")
    try:
        raise TaskError("read: task books/read/0 failed: [Errno 13] Permission denied: '/data/in/b.pdf'") from cause
    except TaskError as err:
        assert describe(err) == ("read: task books/read/0 failed: cannot use '/data/in/b.pdf': Permission denied "
                                 "(check its permissions, or choose another --out)")


def test_a_truncated_json_file_is_named(tmp_path):
    path = tmp_path / "flow.json"
    path.write_text('{"passes": [1, 2')
    with pytest.raises(BadFile, match=r"flow\.json: the flow is not valid JSON \(truncated or half-written\?\)"):
        load_json(path, "the flow")
    path.write_text('{"a": 1}')
    assert load_json(path) == {"a": 1}
