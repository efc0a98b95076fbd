"""The bundled default model of each species: what ``ephys2type train --species S`` saves,
trained once on this computer and kept in the cache folder for every later session.

The training data, model, seed and options are those of ``train`` with its defaults (every
bundled dataset of the species, ``DEFAULT_DATASETS``, QC profile ``default``, the species'
default labels, ``rf`` with its family subsets, seed 0), so the folder is the one
``ephys2type train --species S --out DIR`` writes, and the page's command lines say so. A
folder a newer ephys2type cannot read is trained again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ephys2type._version import __version__
from ephys2type.errors import Ephys2TypeError
from ephys2type.models.defaults import DEFAULT_MODEL

#: Species with bundled training data.
SPECIES = ("mouse", "human")
#: The model ``train`` fits by default, and its options here (those of ``train``).
MODEL = DEFAULT_MODEL
FAMILY_SUBSETS = True
SEED = 0
#: Measured on 2 cores (the whole training, once; 2026-12-07, the forest: 28 s and 33 s, with
#: the imports): said while the model trains.
TRAINING_SECONDS = {"mouse": 30, "human": 35}

#: One training at a time in this process, so two sessions never train the same model.
_TRAINING = threading.Lock()


def bundled_models_dir() -> Path:
    """Where the bundled models are kept: ``<cache>/app-models``."""
    from ephys2type.data.fetch import cache_dir

    return cache_dir() / "app-models"


def bundled_model_folder(species: str) -> Path:
    """The folder of the bundled model of ``species`` (named by what made it)."""
    if species not in SPECIES:
        raise Ephys2TypeError(f"no bundled model for {species!r}; species: {', '.join(SPECIES)}")
    subsets = "" if FAMILY_SUBSETS else "-no-family-subsets"
    return bundled_models_dir() / f"{species}-{MODEL}{subsets}-seed{SEED}-{__version__}"


def _readable(folder: Path) -> bool:
    from ephys2type.persist.format import load_model

    try:
        load_model(folder)
    except Ephys2TypeError:
        return False
    return True


def ensure_bundled_model(species: str, *, on_training: Callable[[str], None] | None = None) -> Path:
    """The bundled model folder of ``species``, trained and saved first if it is not there
    (or not readable by this ephys2type); ``on_training(message)`` is told before it
    trains, and again every second while it trains with the time so far (an app trial: a
    minute with the same words looked stuck)."""
    from ephys2type.data.datasets import DEFAULT_DATASETS, load_species
    from ephys2type.data.labels import default_scheme
    from ephys2type.persist.format import save_model
    from ephys2type.persist.train import train_model

    folder = bundled_model_folder(species)

    def train() -> None:
        data = load_species(
            species,
            labels=default_scheme(species),
            qc="default",
            features="native",
            datasets=DEFAULT_DATASETS[species],
        )
        trained = train_model(data, MODEL, random_state=SEED, family_subsets=FAMILY_SUBSETS)
        save_model(trained, folder, overwrite=True)

    with _TRAINING:
        if _readable(folder):
            return folder
        said = (
            f"training the bundled {species} model ({MODEL}) on the bundled {species} cells: "
            f"once on this computer, about {TRAINING_SECONDS[species]} s on 2 cores"
        )
        if on_training is None:
            train()
        else:
            while_telling(train, on_training, said)
    return folder


def while_telling(
    work: Callable[[], object], tell: Callable[[str], None], what: str, every: float = 1.0
) -> object:
    """``work()``'s result, with ``tell(what)`` before it starts and, while it runs, every
    ``every`` seconds with the seconds so far; its exception is raised here. The work runs
    in a thread of its own so that ``tell`` is called from this one (Streamlit's page
    elements belong to the script's thread); it is over when this returns or raises."""
    import time

    done: list[object] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # raised again in the caller's thread
            failed.append(exc)

    worker = threading.Thread(target=run, name="ephys2type-training", daemon=True)
    start = time.perf_counter()
    tell(what)
    worker.start()
    try:
        while True:
            worker.join(every)
            if not worker.is_alive():
                break
            tell(f"{what} ({time.perf_counter() - start:.0f} s so far)")
    except BaseException:
        # ``tell`` interrupted (Streamlit raises to rerun or stop the script when the user
        # clicks): the work still finishes before this returns, so the caller's lock is held
        # until it has (a review: a second Predict trained the same folder at the same time)
        worker.join()
        raise
    if failed:
        raise failed[0]
    return done[0]
