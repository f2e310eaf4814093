"""Make ``trulens==0.13.4`` (the last TruLens-Explain release) importable on Python 3.10 to 3.12.

Import this module before anything from ``trulens``::

    import tmlkit.trulens_compat            # noqa: F401  (installs the fix)
    from trulens.nn.models import get_model_wrapper

Three lines of trulens 0.13.4 break on current Pythons and libraries:

* ``trulens/utils/typing.py``: ``@dataclass class Lens`` has ``eq=True``, so its ``__hash__`` is
  None, and Python ≥ 3.11 refuses a ``Lens`` instance as a dataclass field default ("mutable
  default ... for field lens_args is not allowed"). ``@dataclass(eq=False)`` keeps identity
  hashing; trulens never compares lenses.
* ``trulens/visualizations.py``: ``from tkinter import S`` (an unused, stray import) fails where
  Tk is not installed (Gradescope's image, many containers).
* ``trulens/visualizations.py``: ``scipy.ndimage.filters`` is deprecated and goes away in SciPy
  2.0; ``gaussian_filter`` lives in ``scipy.ndimage``.

Nothing in site-packages is edited. A finder on ``sys.meta_path`` loads these two modules from
their own source files with the lines rewritten (and never from a cached ``.pyc``). Each rewrite
is applied only where its original line is present; on an interpreter where the original works
(Python 3.10 with Tk and an older SciPy) the rewritten module behaves identically. Installing
twice is a no-op. Any other trulens version is refused with a clear message, since the rewrites
are exact-line edits of 0.13.x.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import sys

SUPPORTED = "0.13."
PIN = "trulens==0.13.4"

# module name -> [(original line, replacement)]; each original must match a whole line.
PATCHES: dict[str, list[tuple[str, str]]] = {
    "trulens.utils.typing": [
        ("@dataclass\nclass Lens(Generic[C, V]):",
         "@dataclass(eq=False)\nclass Lens(Generic[C, V]):"),
    ],
    "trulens.visualizations": [
        ("from tkinter import S\n", "\n"),
        ("from scipy.ndimage.filters import gaussian_filter\n",
         "from scipy.ndimage import gaussian_filter\n"),
    ],
}


class TrulensVersionError(ImportError):
    """The installed trulens is not the 0.13.x TruLens-Explain API this fix was written for."""


def patch_source(module: str, source: str) -> str:
    """``source`` of ``module`` with its known broken lines rewritten (unchanged if absent)."""
    for original, replacement in PATCHES.get(module, []):
        source = source.replace(original, replacement)
    return source


class _PatchedLoader(importlib.machinery.SourceFileLoader):
    """Compiles the module from its patched source; bypasses the bytecode cache, which holds
    the unpatched code."""

    def get_code(self, fullname: str):
        source = self.get_source(fullname)
        return compile(patch_source(fullname, source), self.path, "exec", dont_inherit=True)


class TrulensCompatFinder(importlib.abc.MetaPathFinder):
    """Finds the patched trulens modules with the regular path finder, then swaps the loader."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _PatchedLoader(fullname, spec.origin)
        return spec


def installed_version() -> str | None:
    try:
        return importlib.metadata.version("trulens")
    except importlib.metadata.PackageNotFoundError:
        return None


def check_version(version: str | None = None) -> str:
    """The installed trulens version; a TrulensVersionError unless it is 0.13.x."""
    version = installed_version() if version is None else version
    if version is None:
        raise TrulensVersionError(f"trulens is not installed. This course uses the TruLens-Explain "
                                  f"API: pip install {PIN}")
    if not version.startswith(SUPPORTED):
        raise TrulensVersionError(
            f"trulens {version} is installed, but this course uses the TruLens-Explain API "
            f"(trulens.nn, trulens.visualizations), whose last release is 0.13.4; trulens 1.x "
            f"and later are an unrelated LLM-evaluation library. Run: pip install {PIN}")
    return version


def installed() -> bool:
    return any(isinstance(finder, TrulensCompatFinder) for finder in sys.meta_path)


def install() -> None:
    """Put the finder first on sys.meta_path (once). Modules imported before this are left as
    they are: if they imported at all, they did not need the fix."""
    check_version()
    if not installed():
        sys.meta_path.insert(0, TrulensCompatFinder())


install()
