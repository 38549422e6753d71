"""heard host tools: corpus synthesis, evaluation, simulation, sync and reports.

Importing this package makes the firmware's pure-logic package ``heardcore`` importable on
CPython by installing the ``micropython`` stand-in (see ``heard.mpshim``) when the real
module is absent.
"""

from heard.mpshim import install as _install_micropython_shim

__version__ = "0.1.0"

_install_micropython_shim()
