"""The paper's representation: IPFX feature vectors, 12 families per cell.

Computed by ``ipfx.feature_vectors`` exactly as ipfx's ``run_feature_vector_extraction``
does for Allen-protocol recordings (Gouwens et al. 2019; the study we reproduce read these
vectors from DANDI 000020/000636): subthreshold responses to -90 ... -10 pA steps and the
normalised response near -100 pA, the interspike-interval shape, binned PSTH and
instantaneous frequency and five spike features at rheobase + 0 ... 100 pA, and the first
action potential's voltage and dV/dt of the short square, rheobase and ramp sweeps side by
side. A family ipfx cannot compute for a cell (e.g. no ramp, so no first-AP vectors) is
absent for that cell, with the reason; its values are never invented.

Written as an AnnData ``.h5ad`` file (cells x vector elements, ``.var["family"]`` naming each
element's family) plus a feature schema (TOML) with one family per vector, so
``ephys2type train --table vectors.h5ad --schema vectors.schema.toml ...`` trains any model,
the BiLSTM reading each vector as one family of its sequence. The bundled tables hold no such
vectors (they were computed from recordings not reachable here): training on them needs the
recordings.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ephys2type.data.recordings.analysis import ProtocolAnalysis
from ephys2type.data.recordings.sweeps import RecordingError
from ephys2type.data.schema import Family, Feature, FeatureSchema
from ephys2type.errors import Ephys2TypeWarning

#: The 12 families: name -> (unit, protocols needed, description), in sequence order.
VECTOR_FAMILIES: dict[str, tuple[str, str, str]] = {
    "step_subthresh": ("mV", "long_square", "responses to -90, -70, -50, -30, -10 pA steps"),
    "subthresh_norm": ("1", "long_square", "response near -100 pA, baseline 0, peak -1"),
    "isi_shape": ("mV", "long_square", "average interspike trajectory, threshold-aligned"),
    "psth": ("Hz", "long_square", "firing rate in 50 ms bins, rheobase + 0 ... 100 pA"),
    "inst_freq": ("Hz", "long_square", "instantaneous frequency, 20 ms bins"),
    "spiking_upstroke_downstroke_ratio": ("1", "long_square", "upstroke/downstroke ratio"),
    "spiking_peak_v": ("mV", "long_square", "spike peak, 20 ms bins"),
    "spiking_fast_trough_v": ("mV", "long_square", "spike fast trough, 20 ms bins"),
    "spiking_threshold_v": ("mV", "long_square", "spike threshold, 20 ms bins"),
    "spiking_width": ("s", "long_square", "spike width, 20 ms bins"),
    "first_ap_v": ("mV", "short_square+ramp", "first AP: short square, rheobase, ramp"),
    "first_ap_dv": ("mV", "short_square+ramp", "first AP dV per 20 us sample (50 kHz)"),
}
#: Duration after threshold of the first-AP waveforms (ipfx's script default), s.
AP_WINDOW = 0.003
#: Sampling rate the first-AP waveforms are resampled to (ipfx's default), Hz.
AP_RATE = 50_000
_SPIKE_FEATURES = ("upstroke_downstroke_ratio", "peak_v", "fast_trough_v", "threshold_v", "width")


def feature_vectors(
    analyses: Mapping[str, ProtocolAnalysis],
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The cell's vectors by family, and the reason for each family ipfx could not give."""
    import ipfx.feature_vectors as fv

    vectors: dict[str, np.ndarray] = {}
    missing: dict[str, str] = {}
    lsq = analyses.get("long_square")
    if lsq is None:
        return {}, {name: "no long-square sweeps" for name in VECTOR_FAMILIES}
    f, sweeps = lsq.features, lsq.sweeps
    rate = sweeps.sweeps[0].sampling_rate
    start = lsq.start
    end = start + round(lsq.end - lsq.start + 1.0 / rate, 4)  # the step's full duration

    def attempt(names, compute) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ipfx's empty-slice and fitting chatter
                values = compute()
        except Exception as exc:  # ipfx raises FeatureError, ValueError, IndexError ...
            for name in names:
                missing[name] = f"ipfx: {exc}"
            return
        for name, value in zip(names, values, strict=True):
            value = np.asarray(value, dtype=float).ravel()
            if value.size == 0:
                missing[name] = "ipfx returned no values"
            else:
                vectors[name] = value

    def subthreshold():
        hyper, deflect = fv.identify_subthreshold_hyperpol_with_amplitudes(f, sweeps)
        return (
            fv.step_subthreshold(hyper, [-90, -70, -50, -30, -10], start, end, amp_tolerance=5),
            fv.subthresh_norm(hyper, deflect, start, end),
        )

    attempt(("step_subthresh", "subthresh_norm"), subthreshold)

    def isi():
        sweep, info = fv.identify_sweep_for_isi_shape(sweeps, f, end - start)
        return (fv.isi_shape(sweep, info, end),)

    attempt(("isi_shape",), isi)

    def spiking():
        info = fv.identify_suprathreshold_spike_info(f, np.arange(0, 120, 20), shift=10)
        return (
            fv.psth_vector(info, start, end),
            fv.inst_freq_vector(info, start, end),
            *(fv.spike_feature_vector(n, info, start, end) for n in _SPIKE_FEATURES),
        )

    attempt(
        ("psth", "inst_freq", *(f"spiking_{n}" for n in _SPIKE_FEATURES)),
        spiking,
    )
    ssq, ramp = analyses.get("short_square"), analyses.get("ramp")
    if ssq is None or ramp is None:
        lacking = " and ".join(k for k, a in (("short square", ssq), ("ramp", ramp)) if a is None)
        missing["first_ap_v"] = missing["first_ap_dv"] = f"no {lacking} sweeps"
    else:
        attempt(("first_ap_v", "first_ap_dv"), lambda: _first_ap(fv, lsq, ssq, ramp))
    return {k: vectors[k] for k in VECTOR_FAMILIES if k in vectors}, missing


def _first_ap(fv, lsq: ProtocolAnalysis, ssq: ProtocolAnalysis, ramp: ProtocolAnalysis):
    """First-AP voltage and dV/dt: short squares at the common amplitude, the rheobase
    sweep, the spiking ramps, side by side (ipfx's order)."""
    parts = []
    for analysis, rows in (
        (ssq, ssq.features["common_amp_sweeps"].index),
        (lsq, [lsq.features["rheobase_sweep"].name]),
        (ramp, ramp.features["spiking_sweeps"].index),
    ):
        spikes = analysis.features["spikes_set"]
        if analysis is not lsq:  # ipfx skips clipped spikes here (and would give zeros)
            rows = [i for i in rows if not spikes[i]["clipped"].to_numpy()[0]]
        if not len(rows):
            raise RecordingError(f"no unclipped spiking {analysis.kind.replace('_', ' ')} sweep")
        parts.append(
            fv.first_ap_vectors(
                [analysis.sweeps.sweeps[i] for i in rows],
                [spikes[i] for i in rows],
                target_sampling_rate=AP_RATE,
                window_length=AP_WINDOW,
            )
        )
    return np.hstack([p[0] for p in parts]), np.hstack([p[1] for p in parts])


def vector_schema(
    lengths: Mapping[str, int], *, name: str = "ipfx_feature_vectors"
) -> FeatureSchema:
    """A feature schema with one family per vector (``<family>_<k>`` columns)."""
    families = []
    for family, (unit, protocol, description) in VECTOR_FAMILIES.items():
        if family not in lengths:
            continue
        width = len(str(lengths[family] - 1))
        features = tuple(
            Feature(name=f"{family}_{k:0{width}d}", unit=unit) for k in range(lengths[family])
        )
        families.append(
            Family(
                name=family,
                features=features,
                title=family.replace("_", " "),
                description=description,
                essential=family == "step_subthresh",
                protocol=protocol,
            )
        )
    return FeatureSchema(
        name=name,
        families=tuple(families),
        description="IPFX feature vectors (ipfx.feature_vectors), one family per vector",
    )


def vector_table(
    cells: Mapping[str, Mapping[str, np.ndarray]],
) -> tuple[pd.DataFrame, FeatureSchema, list[str]]:
    """Cells x vector elements (absent families NaN), their schema, and a note for each
    vector left out because its length differs from the most common one of its family (a
    step of another duration, or another sampling rate)."""
    from collections import Counter

    counts: dict[str, Counter] = {}
    for vectors in cells.values():
        for family, values in vectors.items():
            counts.setdefault(family, Counter())[len(values)] += 1
    lengths = {family: c.most_common(1)[0][0] for family, c in counts.items()}
    schema = vector_schema(lengths)
    rows, notes = {}, []
    for cell, vectors in cells.items():
        parts = []
        for fam in schema.families:
            n = len(fam.features)
            values = vectors.get(fam.name)
            if values is not None and len(values) != n:
                notes.append(f"{cell}: {fam.name} has {len(values)} values, not {n}")
                values = None
            parts.append(np.full(n, np.nan) if values is None else np.asarray(values, float))
        rows[cell] = np.concatenate(parts)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=schema.columns)
    table.index.name = "cell_id"
    return table, schema, notes


def write_vectors(
    cells: Mapping[str, Mapping[str, np.ndarray]], path: str | Path
) -> tuple[Path, list[str]]:
    """Write the cells' vectors as ``path`` (.h5ad) and its schema beside it
    (``<stem>.schema.toml``); returns the schema's path and the notes of
    :func:`vector_table`."""
    from ephys2type.data.h5ad import write_h5ad
    from ephys2type.files import atomic_write_text

    path = Path(path)
    if path.suffix.lower() != ".h5ad":
        raise RecordingError(f"{path}: feature vectors are written as an .h5ad file")
    if not cells:
        raise RecordingError("no cell has feature vectors to write")
    table, schema, notes = vector_table(cells)
    if notes:
        warnings.warn(
            f"{len(notes)} vector(s) left out, their length differs from the other cells' "
            f"(another step duration or sampling rate): {'; '.join(notes)}",
            Ephys2TypeWarning,
            stacklevel=2,
        )
    var = pd.DataFrame(
        {"family": [schema.family_of(c) for c in table.columns]}, index=table.columns
    )
    write_h5ad(path, table, pd.DataFrame(index=table.index), var=var, overwrite=True)
    schema_path = path.with_name(path.stem + ".schema.toml")
    atomic_write_text(schema_path, _schema_toml(schema), overwrite=True)
    return schema_path, notes


def _schema_toml(schema) -> str:
    """The schema as TOML (readable by ``get_schema``), one family per block."""
    lines = [
        f'name = "{schema.name}"',
        f'species = "{schema.species}"',
        f'description = "{schema.description}"',
    ]
    for fam in schema.families:
        lines += [
            "",
            "[[families]]",
            f'name = "{fam.name}"',
            f'protocol = "{fam.protocol}"',
            f'title = "{fam.title}"',
            f'description = "{fam.description}"',
            f"essential = {'true' if fam.essential else 'false'}",
            "features = [",
            *(f'  {{ name = "{f.name}", unit = "{f.unit}" }},' for f in fam.features),
            "]",
        ]
    return "\n".join(lines) + "\n"
