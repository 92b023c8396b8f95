"""The last module a build's fork server imports (``workers.Pool`` with ``preload``).

Importing it runs the ``warm_up()`` of the build's modules the server imported before it (a reader's
tables that do not depend on the input), so that every worker forked from the server starts with them
filled instead of filling them on its first task.
"""

import sys

from curate.core import workers

workers.warm_up(sorted(name for name in sys.modules if name.startswith("curate.")))
