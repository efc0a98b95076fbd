"""The package version and the versions of the libraries results depend on (provenance).

Kept apart from ``ephys2type/__init__`` so that no module inside the package has to import the
package root (which loads the data layer) to learn its own version.
"""

from __future__ import annotations

import platform
from importlib import metadata

__version__ = "0.1.0"

#: Libraries whose versions are recorded beside every result and saved model.
TRACKED_PACKAGES = ("numpy", "pandas", "scikit-learn", "imbalanced-learn", "torch", "scipy")


def package_versions() -> dict[str, str]:
    """Python's and the tracked libraries' versions ("not installed" when absent)."""
    out = {"python": platform.python_version()}
    for pkg in TRACKED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
