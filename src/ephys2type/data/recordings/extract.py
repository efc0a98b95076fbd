"""IPFX features of current-clamp recordings, computed by ``ipfx`` and named as in the schemas.

Each stimulus kind the recording holds goes through ipfx's own analysis (:mod:`.analysis`):
long squares (any current-step protocol) give the subthreshold properties, the f-I slope,
the rheobase and hero sweeps and their spikes; short squares and ramps of an Allen-protocol
NWB file give their first spikes. :mod:`.naming` names and scales the results as the columns
of either training table (``schema``). Families a recording cannot provide stay empty, never
invented; values a cell-level check (:mod:`.checks`) does not trust are emptied (or, below a
depolarisation block, recomputed), each with its reason in the QC table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ephys2type.data.recordings.analysis import analyze_stimulus
from ephys2type.data.recordings.checks import Flag, check_cell, flag_effects, flag_rows
from ephys2type.data.recordings.naming import NAMINGS, QUANTITY_COLUMNS
from ephys2type.data.recordings.sweep_qc import DEFAULT_PRESET, PRESETS, failure_summary, sweep_qc
from ephys2type.data.recordings.sweeps import Recording, RecordingError, StimulusSet
from ephys2type.data.recordings.vectors import feature_vectors
from ephys2type.data.schema import get_schema

#: Sweep QC presets (:data:`.sweep_qc.PRESETS`): ipfx's criteria, lab rigs' (default), none.
SWEEP_QC = tuple(PRESETS)
#: Schemas whose column names the extractor writes.
SCHEMAS = tuple(NAMINGS)
#: Per schema: the columns holding the rheobase and the input resistance (shown per cell).
SUMMARY_COLUMNS = {
    "mouse": ("threshold_i_long_square", "ri"),
    "human": ("rheobase_i", "input_resistance"),
}


@dataclass
class CellFeatures:
    """What one recording gives: its row of features, its QC table and (when asked for) its
    feature vectors by family."""

    row: pd.Series
    qc: pd.DataFrame
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)


def extract_features(
    recording: Recording,
    *,
    schema: str = "mouse",
    sweep_qc_profile: str = DEFAULT_PRESET,
    figure: str | Path | None = None,
) -> tuple[pd.Series, pd.DataFrame]:
    """The cell's features (a row in ``schema``'s columns, NaN where not measurable) and its
    QC table: one row per sweep (``stimulus``: its kind; ``used``: the sweeps the features
    come from) and a last row for the cell (``level`` = ``cell``), whose ``reason`` says why
    it has no features, or which stimulus kinds ipfx could not analyse (and that the f-I
    slope was not measured when one spiking sweep passed sweep QC).
    With ``figure`` (a .png path), also draws the cell's check figure there."""
    cell = extract_cell(recording, schema=schema, sweep_qc_profile=sweep_qc_profile, figure=figure)
    return cell.row, cell.qc


def extract_cell(
    recording: Recording,
    *,
    schema: str = "mouse",
    sweep_qc_profile: str = DEFAULT_PRESET,
    figure: str | Path | None = None,
    vectors: bool = False,
) -> CellFeatures:
    """:func:`extract_features`, and with ``vectors`` the cell's IPFX feature vectors
    (:mod:`.vectors`); the cell's QC row then says which vector families are missing and
    why (``vectors_missing``)."""
    if schema not in NAMINGS:
        raise RecordingError(
            f"features from recordings are named for: {', '.join(NAMINGS)} (not {schema!r})"
        )
    if sweep_qc_profile not in SWEEP_QC:
        raise RecordingError(
            f"sweep QC must be one of {', '.join(SWEEP_QC)}, not {sweep_qc_profile!r}"
        )
    target = get_schema(schema)
    row = pd.Series(np.nan, index=target.columns, name=recording.name, dtype=float)
    qc = sweep_qc(recording, sweep_qc_profile)
    keep = qc["passed"].to_numpy()
    qc.insert(0, "level", "sweep")
    qc["used"] = keep
    kept = _kept_sets(recording, qc, keep)

    def cell(
        reason: str,
        missing: dict[str, str] | None = None,
        *,
        has_features: bool = False,
        flags: list[Flag] = (),
    ) -> pd.DataFrame:
        """The cell's QC rows: one per failed check (``level`` = ``check``) and the cell's
        (``reason`` says why it has no features, or which stimulus kinds ipfx could not
        analyse; ``flags`` names the failed checks)."""
        note = "; ".join(recording.notes)
        summary = {
            "level": "cell",
            "file": recording.path.name,
            "passed": has_features,
            "used": has_features,
            "reason": reason,
            "not_checked": note,
            "flags": "; ".join(f.check for f in flags),
            **_family_summary(row, target, recording),
        }
        if vectors:
            summary["vectors_missing"] = "; ".join(f"{k}: {v}" for k, v in (missing or {}).items())
        checks = flag_rows(list(flags), recording.path.name, QUANTITY_COLUMNS[schema])
        return pd.concat([qc, pd.DataFrame([*checks, summary])], ignore_index=True)

    if "long_square" not in kept:
        reason = f"no long-square sweep passed QC ({sweep_qc_profile}): no features"
        summary = failure_summary(recording, qc, sweep_qc_profile)
        if summary:
            reason += f" ({summary})"
        _unanalysed(recording, qc, reason, figure)
        return CellFeatures(row, cell(reason, {"all": reason} if vectors else None))
    analyses, failed = {}, []
    for kind, stimulus in kept.items():
        try:
            analyses[kind] = analyze_stimulus(stimulus)
        except RecordingError as exc:
            n = len(stimulus.sweeps)
            failed.append(f"{n} {kind.replace('_', ' ')} sweep{'s' if n != 1 else ''}: {exc}")
    if "long_square" not in analyses:
        reason = "; ".join(failed)
        _unanalysed(recording, qc, reason, figure)
        return CellFeatures(row, cell(reason, {"all": reason} if vectors else None))
    if len(analyses["long_square"].features.get("spiking_sweeps", [])) == 1:
        failed.append(
            "f-I slope not measured: 1 spiking long-square sweep "
            f"{'was recorded' if sweep_qc_profile == 'none' else 'passed sweep QC'} (a line "
            "needs 2), and the hero-sweep features are of that sweep, as ipfx takes the "
            "nearest when none lies in the hero range"
        )
    for column, value in NAMINGS[schema](analyses).items():
        if column in row.index:
            row[column] = value
    flags = check_cell(recording, analyses["long_square"])
    _apply_flags(row, flags, QUANTITY_COLUMNS[schema])
    found, missing = feature_vectors(analyses) if vectors else ({}, {})
    if figure is not None:
        _figure(recording, analyses["long_square"], figure, flags)
    qc_rows = cell("; ".join(failed), missing, has_features=True, flags=flags)
    return CellFeatures(row, qc_rows, found, flags)


def _family_summary(row: pd.Series, target, recording: Recording) -> dict[str, str]:
    """What the cell gives of each family of the schema: ``families`` (measured of the
    family's columns, for the families of the protocols the file holds) and ``not_recorded``
    (the families of protocols it lacks: empty because never recorded, not because they
    failed)."""
    recorded = {s.kind for s in recording.stimulus_sets()}
    given, absent = [], []
    for fam in target.families:
        if fam.stimulus in recorded:
            n = int(row[list(fam.columns)].notna().sum())
            given.append(f"{fam.name} {n}/{len(fam.columns)}")
        else:
            absent.append(fam.name)
    return {"families": ", ".join(given), "not_recorded": ", ".join(absent)}


def _apply_flags(row: pd.Series, flags: list[Flag], columns: dict[str, tuple[str, ...]]) -> None:
    """Each quantity a check touches, in the schema's columns: recomputed below a block, or
    emptied (:func:`.checks.flag_effects`)."""
    for quantity, (value, _) in flag_effects(flags).items():
        for column in columns.get(quantity, ()):
            if column in row.index:
                row[column] = np.nan if value is None else value


def _kept_sets(recording: Recording, qc: pd.DataFrame, keep: np.ndarray) -> dict[str, StimulusSet]:
    """Each stimulus kind with only the sweeps that passed QC (kinds left empty dropped)."""
    used = {(k, n) for k, n, u in zip(qc["stimulus"], qc["sweep"], keep, strict=True) if u}
    kept = {}
    for stimulus in recording.stimulus_sets():
        flags = [(stimulus.kind, s.number) in used for s in stimulus.sweeps]
        if any(flags):
            kept[stimulus.kind] = StimulusSet(
                stimulus.kind,
                tuple(s for s, f in zip(stimulus.sweeps, flags, strict=True) if f),
                stimulus.start,
                stimulus.end,
                tuple(a for a, f in zip(stimulus.amplitudes, flags, strict=True) if f),
            )
    return kept


def _figure(recording: Recording, lsq, figure: str | Path, flags: list[Flag]) -> None:
    from ephys2type.data.recordings.figures import cell_figure, save_cell_figure

    save_cell_figure(cell_figure(recording, lsq, flags), Path(figure))


def _unanalysed(recording: Recording, qc: pd.DataFrame, reason: str, figure) -> None:
    """The page of a cell without features, when pages are drawn."""
    if figure is None:
        return
    from ephys2type.data.recordings.figures import save_cell_figure, unanalysed_figure

    save_cell_figure(unanalysed_figure(recording, qc, reason), Path(figure))


#: Recording formats by file suffix.
SUFFIXES = (".abf", ".nwb")


def read_recording(path: str | Path) -> Recording:
    """A recording file, by its suffix (``.abf`` or ``.nwb``), its units checked
    (:func:`check_trace_units`)."""
    path = Path(path)
    if path.suffix.lower() == ".abf":
        from ephys2type.data.recordings.abf import read_abf

        return check_trace_units(read_abf(path))
    if path.suffix.lower() == ".nwb":
        from ephys2type.data.recordings.nwb import read_nwb

        return check_trace_units(read_nwb(path))
    raise RecordingError(
        f"{path}: unknown recording format {path.suffix!r} (supported: {', '.join(SUFFIXES)})"
    )


#: Beyond these, a trace is not in the unit its file declares: a membrane potential's median
#: (mV) and a command current's largest step (pA). A new-user trial: an NWB file with its
#: voltages in mV declared volts read as -62,000 mV, its sweeps all failed the sweep QC, and
#: `--sweep-qc none` then gave an input resistance of 121,460 MOhm; one in pA declared
#: amperes gave a rheobase of 5e13 pA.
MAX_MEDIAN_MV = 1000.0
MAX_COMMAND_PA = 1e6


def check_trace_units(recording: Recording) -> Recording:
    """``recording`` unchanged, or one error when its traces cannot be in mV and pA: a
    voltage median beyond :data:`MAX_MEDIAN_MV` or a command beyond :data:`MAX_COMMAND_PA`
    (a file's unit or conversion factor is wrong)."""
    sweeps = [*recording.sweeps, *(s for o in recording.others for s in o.sweeps)]
    if not sweeps:
        return recording
    median = float(np.median([np.nanmedian(s.v) for s in sweeps]))
    if abs(median) > MAX_MEDIAN_MV:
        raise RecordingError(
            f"{recording.path}: its membrane potential reads {median:,.0f} mV: its voltages "
            f"are probably in mV while the file says V (read as mV: {median / 1000:.1f} mV); "
            "fix the unit or the conversion factor of its voltage data"
        )
    largest = float(max(np.nanmax(np.abs(s.i)) for s in sweeps))
    if largest > MAX_COMMAND_PA:
        raise RecordingError(
            f"{recording.path}: its command current reaches {largest:.3g} pA: the stimulus "
            "is probably in pA while the file says A; fix the unit or the conversion factor "
            "of its stimulus data"
        )
    return recording
