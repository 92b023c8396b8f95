"""The first module a build's fork server imports (``workers.Pool`` with ``preload``).

Importing it sets the server up as ``workers._init_worker`` sets up a spawned worker, before the server
imports the build's modules: libraries limited to one thread each (a worker is one of N parallel
processes), pymupdf's unused modules never loaded, pyarrow's look for pandas done without pandas, and an
exit that skips the interpreter's teardown. The workers forked from the server start that way, their
modules already imported.
"""

import atexit
import os

from curate.core import workers

# The server leaves (when its pool closes) without unloading what it imported, as a worker does: the
# build waits for it. A worker forked from it registers the same handler again, first thing.
atexit.register(workers._exit_at_once)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("POLARS_MAX_THREADS", "1")
workers.skip_unused_imports()
workers.pyarrow_without_pandas()
SERVER = os.getpid()  # the process that imported this module, the parent of the workers forked from it
