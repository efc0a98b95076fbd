"""AnnData ``.h5ad`` files in and out, without the ``anndata`` package.

A Patch-seq study kept the scverse way stores cells x features in an ``.h5ad`` file: the
features in ``.X`` (names in ``.var_names``) or in a named ``.obsm`` table, the cell ids in
``.obs_names``. ephys2type reads such a file as a features table and writes its calls back
into ``.obs`` (one column per call) and the class probabilities into ``.obsm``.

Why not ``anndata`` itself: every release (0.12.19 at the time of writing) requires
``pandas<3``, and ephys2type runs on pandas 3. The file format is a published specification
(https://anndata.readthedocs.io/en/stable/fileformat-prose.html), written here with ``h5py``
for the element types a feature table and its calls need: dense and sparse (CSR/CSC)
arrays, data frames with numeric, boolean, string, categorical and nullable columns, and
dict groups. Files from anndata 0.7 and older (obs as one compound dataset) are refused
with a message saying how to re-save them.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ephys2type.data.columns import proba_class
from ephys2type.errors import TableError
from ephys2type.files import atomic_path

#: The ``.obsm`` key under which :func:`write_calls` stores the class probabilities.
PROBABILITIES_KEY = "ephys2type_probabilities"
#: Prefix of the ``.obs`` columns :func:`write_calls` adds.
OBS_PREFIX = "ephys2type_"


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a dependency
        raise TableError("reading .h5ad files needs h5py (pip install h5py)") from exc
    return h5py


def is_h5ad(path: str | Path) -> bool:
    """Whether ``path`` names an AnnData file (by its ``.h5ad`` suffix)."""
    return Path(path).suffix.lower() == ".h5ad"


# -- reading ----------------------------------------------------------------------------------


def _attr(node, key: str, default=None):
    value = node.attrs.get(key, default)
    if isinstance(value, bytes):
        return value.decode()
    return value


def _strings(values) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)


def _read_array(node, where: str) -> np.ndarray:
    """A 1-D or 2-D element: dense, string, categorical, nullable or sparse (as dense)."""
    h5py = _h5py()
    kind = _attr(node, "encoding-type", "array" if isinstance(node, h5py.Dataset) else None)
    if isinstance(node, h5py.Dataset):
        data = node[()]
        if kind == "string-array" or data.dtype.kind in "OS":
            return _strings(np.ravel(data)).reshape(data.shape)
        return np.asarray(data)
    if kind == "categorical":
        codes = np.asarray(node["codes"][()])
        categories = _read_array(node["categories"], where)
        out = np.empty(len(codes), dtype=object)
        out[codes >= 0] = categories[codes[codes >= 0]]
        out[codes < 0] = None
        return out
    if kind in ("nullable-integer", "nullable-boolean", "nullable-string-array"):
        values = _read_array(node["values"], where)
        mask = np.asarray(node["mask"][()], dtype=bool)
        out = values.astype(float if kind == "nullable-integer" else object)
        out[mask] = np.nan if kind == "nullable-integer" else None
        return out
    if kind in ("csr_matrix", "csc_matrix"):
        from scipy import sparse

        shape = tuple(int(n) for n in node.attrs["shape"])
        parts = (node["data"][()], node["indices"][()], node["indptr"][()])
        matrix = (sparse.csr_matrix if kind == "csr_matrix" else sparse.csc_matrix)(
            parts, shape=shape
        )
        return matrix.toarray()
    raise TableError(f"{where}: unsupported AnnData element {kind!r}")


def _read_frame(group, where: str) -> pd.DataFrame:
    """A data frame element (anndata >= 0.8 layout), indexed by its ``_index`` column."""
    h5py = _h5py()
    if isinstance(group, h5py.Dataset):
        raise TableError(
            f"{where} is in the layout of anndata 0.7 or older; open it with anndata and "
            "save it again (adata.write_h5ad) to update the file"
        )
    index_key = _attr(group, "_index", "_index")
    columns = _column_order(group)
    index = pd.Index(_read_array(group[index_key], where), name=None)
    data = {c: _read_array(group[c], f"{where}/{c}") for c in columns}
    frame = pd.DataFrame(data, index=index)
    frame.index.name = None if index_key == "_index" else index_key
    return frame


def read_h5ad_features(path: str | Path, *, obsm_key: str | None = None) -> pd.DataFrame:
    """Cells x features from an ``.h5ad`` file, indexed by ``.obs_names``.

    The features are ``.X`` with ``.var_names`` as columns, or, with ``obsm_key``, the data
    frame stored in ``.obsm[obsm_key]`` (an ``.obsm`` array has no feature names and is
    refused).
    """
    h5py = _h5py()
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    try:
        store = h5py.File(path, "r")
    except OSError as exc:
        raise TableError(f"{path}: not an HDF5/.h5ad file ({exc})") from None
    with store:
        if "obs" not in store:
            raise TableError(f"{path}: not an AnnData file (no 'obs' element)")
        obs = _read_frame(store["obs"], f"{path}:obs")
        cells = obs.index.astype(str)
        if obsm_key is None:
            if "X" not in store or "var" not in store:
                raise TableError(f"{path}: no .X matrix; name the features with --obsm KEY")
            names = _read_frame(store["var"], f"{path}:var").index.astype(str)
            values = _read_array(store["X"], f"{path}:X")
            if values.ndim != 2 or values.shape != (len(cells), len(names)):
                raise TableError(f"{path}: .X has shape {values.shape}, not cells x var_names")
            frame = pd.DataFrame(values, index=cells, columns=names)
        else:
            keys = sorted(store["obsm"].keys()) if "obsm" in store else []
            if obsm_key not in keys:
                raise TableError(
                    f"{path}: no .obsm[{obsm_key!r}] (has: {', '.join(keys) or 'none'})"
                )
            node = store["obsm"][obsm_key]
            if _attr(node, "encoding-type") != "dataframe":
                raise TableError(
                    f"{path}: .obsm[{obsm_key!r}] is an array without feature names; store "
                    "it as a pandas DataFrame (columns = feature names) or put the features in "
                    ".X with var_names"
                )
            frame = _read_frame(node, f"{path}:obsm/{obsm_key}")
            frame.index = cells
    frame.index.name = obs.index.name or "obs_names"
    return frame


def read_h5ad_obs(path: str | Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Those of ``columns`` that the ``.obs`` of an ``.h5ad`` file has (none: no column),
    indexed by ``.obs_names``: e.g. the recording checks a lab copied in beside its calls."""
    with _h5py().File(Path(path), "r") as store:
        obs = _read_frame(store["obs"], f"{path}:obs")
    obs.index = obs.index.astype(str)
    return obs[[c for c in columns if c in obs.columns]]


# -- writing ----------------------------------------------------------------------------------


def _mark(node, kind: str, version: str) -> None:
    node.attrs["encoding-type"] = kind
    node.attrs["encoding-version"] = version


def _write_strings(group, key: str, values) -> None:
    h5py = _h5py()
    data = np.array(["" if v is None else str(v) for v in values], dtype=object)
    node = group.create_dataset(key, data=data, dtype=h5py.string_dtype("utf-8"))
    _mark(node, "string-array", "0.2.0")


def _write_column(group, key: str, series: pd.Series) -> None:
    """One data frame column: numbers and booleans as arrays, text as categoricals."""
    if key in group:
        del group[key]
    if pd.api.types.is_bool_dtype(series.dtype):
        _mark(group.create_dataset(key, data=series.to_numpy(dtype=bool)), "array", "0.2.0")
    elif pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=float if series.isna().any() else series.dtype)
        _mark(group.create_dataset(key, data=values), "array", "0.2.0")
    else:  # labels and notes: categorical, as anndata stores text columns
        text = series.astype("string").fillna("")
        categories = sorted(set(text))
        codes = pd.Categorical(text, categories=categories).codes
        node = group.create_group(key)
        _mark(node, "categorical", "0.2.0")
        node.attrs["ordered"] = False
        _write_strings(node, "categories", categories)
        node.create_dataset(
            "codes", data=codes.astype(np.int16 if len(categories) > 127 else np.int8)
        )


def _set_order(group, columns: list[str]) -> None:
    if not columns:  # anndata writes an empty float array for a frame without columns
        group.attrs["column-order"] = np.array([], dtype=float)
        return
    strings = _h5py().string_dtype("utf-8")
    group.attrs.create("column-order", np.array(columns, dtype=object), dtype=strings)


def _column_order(group) -> list[str]:
    return [
        c.decode() if isinstance(c, bytes) else str(c)
        for c in np.ravel(group.attrs.get("column-order", []))
    ]


def _write_frame(parent, key: str, frame: pd.DataFrame) -> None:
    if key in parent:
        del parent[key]
    group = parent.create_group(key)
    _mark(group, "dataframe", "0.2.0")
    group.attrs["_index"] = "_index"
    _write_strings(group, "_index", frame.index.astype(str))
    for column in frame.columns:
        _write_column(group, str(column), frame[column])
    _set_order(group, [str(c) for c in frame.columns])


def _dict_group(parent, key: str):
    if key not in parent:
        _mark(parent.create_group(key), "dict", "0.1.0")
    return parent[key]


def _add_calls(store, calls: pd.DataFrame, obsm: Mapping[str, pd.DataFrame], where) -> None:
    """Add (or replace) ``calls`` as ``.obs`` columns and ``obsm`` entries of an open file."""
    obs = store["obs"]
    cells = _read_frame(obs, f"{where}:obs").index.astype(str)
    if list(cells) != list(calls.index.astype(str)):
        raise TableError(f"{where}: the calls are not in the order of the file's cells")
    order = _column_order(obs)
    for column in calls.columns:
        _write_column(obs, str(column), calls[column].reset_index(drop=True))
        if str(column) not in order:
            order.append(str(column))
    _set_order(obs, order)
    group = _dict_group(store, "obsm")
    for key, frame in obsm.items():
        _write_frame(group, key, frame.set_axis(cells, axis=0))


def write_h5ad(
    path: str | Path,
    features: pd.DataFrame,
    calls: pd.DataFrame,
    obsm: Mapping[str, pd.DataFrame] | None = None,
    *,
    var: pd.DataFrame | None = None,
    overwrite: bool = False,
) -> Path:
    """A new ``.h5ad`` file: ``features`` as ``.X`` (cells x features, ids as ``obs_names``),
    ``calls`` as ``.obs`` columns, each ``obsm`` data frame as an ``.obsm`` entry and ``var``
    (indexed by the feature names) as the ``.var`` columns."""
    h5py = _h5py()
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as store:
        _mark(store, "anndata", "0.1.0")
        _mark(store.create_dataset("X", data=features.to_numpy(dtype=float)), "array", "0.2.0")
        _write_frame(store, "obs", pd.DataFrame(index=features.index.astype(str)))
        var = pd.DataFrame(index=features.columns) if var is None else var
        _write_frame(
            store, "var", var.reindex(features.columns).set_axis(features.columns.astype(str))
        )
        for key in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            _dict_group(store, key)
        _add_calls(store, calls, obsm or {}, path)
    return path


def annotate_h5ad(
    source: str | Path,
    path: str | Path,
    calls: pd.DataFrame,
    obsm: Mapping[str, pd.DataFrame] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """A copy of the ``source`` ``.h5ad`` file with ``calls`` added as ``.obs`` columns and each
    ``obsm`` data frame as an ``.obsm`` entry (columns of the same name are replaced)."""
    h5py = _h5py()
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        shutil.copyfile(source, tmp)
        with h5py.File(tmp, "r+") as store:
            _add_calls(store, calls, obsm or {}, source)
    return path


def calls_for_h5ad(predictions: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Split a prediction table into ``.obs`` columns (prefixed ``ephys2type_``) and the
    probabilities, stored under ``.obsm["ephys2type_probabilities"]`` (one column per class)."""
    proba = [c for c in predictions.columns if proba_class(c) is not None]
    obs = predictions.drop(columns=proba).add_prefix(OBS_PREFIX)
    probabilities = predictions[proba].rename(columns=proba_class)
    return obs, {PROBABILITIES_KEY: probabilities}
