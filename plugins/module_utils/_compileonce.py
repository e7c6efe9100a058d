# Copyright: (c) 2026, opsiface.sendmail developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Under AnsiballZ, each of this package's modules compiled once instead of twice.

A module runs on the managed host from a zip of its sources (AnsiballZ), imported by Python's
``zipimport``, which compiles every module twice: ``zipimporter.find_spec`` builds the spec with
``spec_from_loader``, which asks ``get_filename``, which compiles the source to learn its path; then
``exec_module`` (``load_module`` before 3.10) compiles it again. For the health check's modules that is
about 30 ms of CPU in every host, every run.

:func:`install` (called by a module file before it imports the rest of this package) puts
:class:`Finder` first in ``sys.meta_path``. It answers only for the plain modules of this package, and
only when the package is imported from a zip: it builds the same spec as zipimport does, naming the
file itself, so nothing compiles until the module is executed. Anything else, and any surprise (a
package, a name the zip does not have, another loader, an error), it leaves to the normal import
(returns None). Imported from a directory (the controller, the tests), install() does nothing.
"""

from __future__ import annotations

import os
import sys
import zipimport
from importlib.machinery import ModuleSpec

PACKAGE = __name__.rpartition(".")[0]


class Finder:
    """A meta path finder for the modules of :data:`PACKAGE` in a zip (see the module's docstring)."""

    def find_spec(self, fullname: str, path=None, target=None) -> ModuleSpec | None:
        parent, _dot, leaf = fullname.rpartition(".")
        if parent != PACKAGE or not path:
            return None
        try:
            return zip_spec(fullname, leaf, list(path))
        except Exception:  # any surprise: the normal import decides
            return None

    def invalidate_caches(self) -> None:
        """Nothing cached here (importlib.invalidate_caches calls this on every meta path finder)."""


def zip_spec(fullname: str, leaf: str, path: list[str]) -> ModuleSpec | None:
    """What ``zipimporter.find_spec`` gives for a plain module of the package's one zip entry, without
    the compile of ``get_filename``: origin the source's path in the zip, ``__file__`` set from it."""
    if len(path) != 1:
        return None
    importer = sys.path_importer_cache.get(path[0])
    if not isinstance(importer, zipimport.zipimporter) or importer.is_package(fullname):  # is_package: found?
        return None
    spec = ModuleSpec(fullname, importer, origin=os.path.join(importer.archive, importer.prefix + leaf + ".py"))
    spec.has_location = True
    return spec


def install() -> None:
    """Put a :class:`Finder` first in ``sys.meta_path``, once, if this package was imported from a zip."""
    if not isinstance(getattr(__spec__, "loader", None), zipimport.zipimporter):
        return
    if not any(isinstance(finder, Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, Finder())
