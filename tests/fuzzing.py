"""Generators of malformed feature and label tables, and checks of how entry points react.

Shared by ``tests/test_robustness.py`` (a bounded number of examples in the timed suite) and
``benchmarks/fuzz_inputs.py`` (many examples, with counts printed). Every generated input must
end in either a valid result or one clean error: exit status 2, exactly one ``error:`` line,
no traceback, no partial output file, and no existing file overwritten.
"""

from __future__ import annotations

import io
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from hypothesis import strategies as st

from ephys2type.cli import main

# --- the mutations ---------------------------------------------------------------------------

WEIRD_VALUES = [
    "nan",
    "NaN",
    "",
    "inf",
    "-inf",
    "Infinity",
    "1e300",
    "-1e300",
    "1e-300",
    "0",
    "-0",
    "abc",
    "1,5",
    "--",
    "1e",
    "NULL",
    " 3.0 ",
    "١٢",
    "True",
    "0x1F",
    "5e9",
    "-7",
]

FILE_MUTATIONS = (
    "empty",
    "header_only",
    "semicolons",
    "tabs",
    "binary",
    "bom",
    "crlf",
    "no_trailing_newline",
    "quoted_header",
)


@dataclass
class Mutation:
    """A recipe applied to a valid pair of tables."""

    drop_columns: list[str]
    extra_columns: list[str]
    cells: list[tuple[int, str, str]]  # (row, column, new value)
    duplicate_id: int | None
    blank_id: int | None
    file_mutation: str | None
    label_mutation: str | None
    row_subset: int | None  # keep only the first n rows (0 = none)

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in vars(self).items() if v not in (None, [], 0)]
        return "; ".join(parts) or "no mutation"


@st.composite
def mutations(draw, columns: list[str], n_rows: int) -> Mutation:
    # each kind of damage is absent half the time, so many inputs get deep into the code
    return Mutation(
        drop_columns=draw(
            st.just([])
            | st.lists(st.sampled_from(["cell_id", *columns]), min_size=1, max_size=3, unique=True)
        ),
        extra_columns=draw(
            st.just([])
            | st.lists(
                st.text("abcxyz_", min_size=1, max_size=6), min_size=1, max_size=2, unique=True
            )
        ),
        cells=draw(
            st.just([])
            | st.lists(
                st.tuples(
                    st.integers(0, n_rows - 1),
                    st.sampled_from(columns),
                    st.sampled_from(WEIRD_VALUES),
                ),
                min_size=1,
                max_size=4,
            )
        ),
        duplicate_id=draw(st.none() | st.integers(1, n_rows - 1)),
        blank_id=draw(st.none() | st.integers(0, n_rows - 1)),
        file_mutation=draw(st.none() | st.sampled_from(FILE_MUTATIONS)),
        label_mutation=draw(
            st.none()
            | st.sampled_from(
                [
                    "unknown_label",
                    "no_overlap",
                    "missing_column",
                    "duplicate_conflict",
                    "partial_overlap",
                    "empty",
                ]
            )
        ),
        row_subset=draw(st.none() | st.integers(0, 5)),
    )


def write_tables(
    features: pd.DataFrame, labels: pd.DataFrame, m: Mutation, folder: Path
) -> tuple[Path, Path]:
    """Write the mutated features.csv and labels.csv into ``folder``."""
    f = features.astype(object).copy()
    if m.row_subset is not None:
        f = f.iloc[: m.row_subset]
    for row, col, value in m.cells:
        if row < len(f) and col in f.columns:
            f.iloc[row, f.columns.get_loc(col)] = value
    if m.duplicate_id is not None and m.duplicate_id < len(f):
        f.iloc[m.duplicate_id, 0] = f.iloc[0, 0]
    if m.blank_id is not None and m.blank_id < len(f):
        f.iloc[m.blank_id, 0] = ""
    for name in m.extra_columns:
        if name not in f.columns:
            f[name] = "x"
    f = f.drop(columns=[c for c in m.drop_columns if c in f.columns])
    text = f.to_csv(index=False)
    text = _file_mutation(text, m.file_mutation)
    fpath = folder / "features.csv"
    fpath.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))

    lab = labels.copy()
    if m.label_mutation == "unknown_label":
        lab.loc[lab.index[0], "subclass"] = "Chandelier"
    elif m.label_mutation == "no_overlap":
        lab["cell_id"] = "zz" + lab["cell_id"].astype(str)
    elif m.label_mutation == "missing_column":
        lab = lab.drop(columns=["subclass"])
    elif m.label_mutation == "duplicate_conflict":
        extra = lab.iloc[[0]].copy()
        extra["subclass"] = "Vip" if extra["subclass"].iloc[0] != "Vip" else "Sst"
        lab = pd.concat([lab, extra])
    elif m.label_mutation == "partial_overlap":
        lab = lab.iloc[: len(lab) // 2]
    lpath = folder / "labels.csv"
    lpath.write_text("" if m.label_mutation == "empty" else lab.to_csv(index=False))
    return fpath, lpath


def _file_mutation(text: str, how: str | None) -> str | bytes:
    lines = text.splitlines()
    if how == "empty":
        return ""
    if how == "header_only":
        return lines[0] + "\n"
    if how == "semicolons":
        return "\n".join(ln.replace(",", ";") for ln in lines) + "\n"
    if how == "tabs":
        return "\n".join(ln.replace(",", "\t") for ln in lines) + "\n"
    if how == "binary":
        return bytes(range(256)) * 4
    if how == "bom":
        return "\ufeff" + text
    if how == "crlf":
        return text.replace("\n", "\r\n")
    if how == "no_trailing_newline":
        return text.rstrip("\n")
    if how == "quoted_header":
        return '"' + lines[0].replace(",", '","') + '"\n' + "\n".join(lines[1:]) + "\n"
    return text


# --- running an entry point and judging the outcome ----------------------------------------


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def kind(self) -> str:
        if self.code == 0:
            return "ok"
        lines = [ln for ln in self.err.splitlines() if ln.strip()]
        clean = (
            self.code == 2
            and len([ln for ln in lines if ln.startswith("error:")]) == 1
            and "Traceback" not in self.err + self.out
            and not any("internal error" in ln for ln in lines)
        )
        return "clean_error" if clean else "crash"


def run(*args) -> Outcome:
    """Run the CLI in-process as a user would (warnings shown, not raised)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("always")
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:  # anything escaping main() is a crash
            err.write(f"Traceback (escaped main): {type(exc).__name__}: {exc}\n")
            code = 1
    return Outcome(code, out.getvalue(), err.getvalue())


def check_outputs(
    outcome: Outcome, new_file: Path, precious: Path, precious_bytes: bytes
) -> list[str]:
    """Problems with what the run left behind."""
    problems = []
    if outcome.kind != "ok" and new_file.exists():
        problems.append(f"{new_file.name} written although the run failed")
    if precious.read_bytes() != precious_bytes:
        problems.append("an existing file was overwritten")
    leftovers = [
        p.name
        for p in new_file.parent.iterdir()
        if p.name.startswith(".") and (p.name.endswith(".tmp") or ".partial" in p.name)
    ]
    if leftovers:
        problems.append(f"temporary leftovers: {leftovers}")
    return problems
