"""The reproduction report, built from a run folder alone (``run.json`` + stage folders).

Three jobs, each in its own place: reading the run folder once into typed records
(:mod:`.summary`, from :mod:`.data_facts`, :mod:`.evaluations`, :mod:`.analyses` and
:mod:`.estimates`; our numbers beside the paper's in :mod:`.paper`), saying what each
section says (:mod:`.sections`, with the wording of numbers in :mod:`.wording`, collected
by :mod:`.builder` into a format-neutral :mod:`.document`), and rendering that one
document as HTML and Markdown (:mod:`.render`).
"""
