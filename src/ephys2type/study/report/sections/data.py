"""The report's section on the data: the sources, the QC rules, the cells kept under each
label scheme and QC profile, and the notes the loaders wrote."""

from __future__ import annotations

from ephys2type.study.report.builder import ReportBuilder
from ephys2type.study.report.data_facts import DataFacts

#: Above this many classes a row says how many t-types rather than listing them.
MAX_CLASSES_LISTED = 8


def data_section(b: ReportBuilder, facts: DataFacts) -> None:
    b.heading("Data and quality control")
    b.para(
        "Mouse: Gouwens et al. 2020 (visual cortex, IPFX cell record); human: Lee, Dalley "
        "et al. 2023 (neocortex); human layer-1 cells: Chartrand et al. 2023 (recorded at "
        "the Allen Institute, same pipeline; Lamp5 and Vip cells only; in the datasets "
        "section, not in the human headline numbers). QC rules are data "
        "(resources/qc.toml): unlabeled and "
        "out-of-scope cells, cells missing a whole essential family or more than 20% of the "
        "counted features, impossible values, classes under 10 cells. The paper's QC is "
        "not published, so counts differ (the documentation's Methods page says how)."
    )
    rows = []
    for species in facts.species:
        for s in species.schemes:
            if s.profile == "none":
                continue
            counts = ", ".join(f"{k} {v}" for k, v in s.class_counts.items())
            if len(s.class_counts) > MAX_CLASSES_LISTED:
                counts = f"{len(s.class_counts)} t-types"
            rows.append([species.species, s.scheme, s.profile, s.n_cells, counts])
    b.table(["species", "labels", "QC", "cells", "cells per class"], rows)
    for species in facts.species:
        for note in species.notes:
            b.para(f"{species.species}: {note}", "note")
