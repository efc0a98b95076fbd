"""The report's section on subclass separation in sparse-PCA space (the ``spca_<species>``
stages): silhouettes, k-NN accuracy, the embeddings and the loadings."""

from __future__ import annotations

from ephys2type.study.report.builder import ReportBuilder
from ephys2type.study.report.summary import SeparationResults
from ephys2type.study.report.wording import fmt_pct
from ephys2type.wording import plural


def spca_section(b: ReportBuilder, spca: SeparationResults) -> None:
    b.heading("Subclass separation in sparse-PCA space")
    rows = [
        [
            r.species,
            r.n_components,
            ", ".join(f"{k} {v:.2f}" for k, v in r.silhouette_per_class.items()),
            f"{r.silhouette_all:.3f}",
            fmt_pct(r.knn_spca),
            fmt_pct(r.knn_standardized),
        ]
        for r in spca.results
    ]
    b.table(
        [
            "species",
            "sPCA components",
            "mean silhouette per subclass",
            "overall",
            "15-NN accuracy, sPCA (%)",
            "15-NN accuracy, standardized features (%)",
        ],
        rows,
        "Silhouettes on all cells; k-NN accuracy cross-validated with sPCA refitted in each "
        "training fold"
        + "".join(
            f"; {r.species}: {plural(r.knn_folds // r.knn_seeds, 'fold')} x "
            f"{plural(r.knn_seeds, 'seed')}"
            for r in spca.results
            if r.knn_folds is not None and r.knn_seeds is not None
        )
        + ".",
    )
    b.figures([r.folder / "embedding.png" for r in spca.results])
    features = f" ({spca.human_features} features)" if spca.human_features is not None else ""
    b.figures(
        [r.folder / "loadings.png" for r in spca.results if r.species == "mouse"],
        "Loadings of the kept sparse components per feature family (mouse). The human "
        f"loadings{features} are in {spca.human_folder}/loadings.png and loadings.csv.",
        wide=True,
    )
