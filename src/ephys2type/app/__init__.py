"""``ephys2type app``: the command line's predict workflow in a local web page (Streamlit).

A physiologist brings cells (a feature table, with a mapping of its columns, or ABF/NWB
recordings), picks a model (a bundled default per species, trained once on this computer, or
a folder made by ``ephys2type train``), reads the calls with their reasons, per-cell pages and
the batch summary, and takes home the files ``ephys2type predict`` would write with the command
lines that reproduce them. Every result comes from the library calls the command line makes;
the modules here only gather the inputs, call those and lay the answers out.

Modules: :mod:`.server` (starts Streamlit on 127.0.0.1, no telemetry), :mod:`.page` (the page,
run by the script in ``script/``), :mod:`.uploads`, :mod:`.mapping_form`,
:mod:`.bundled_models`, :mod:`.prediction_run` (the work of one Predict press, no Streamlit),
:mod:`.messages`, :mod:`.results_view`, :mod:`.figures`, :mod:`.downloads` and
:mod:`.commands`. Importing this package imports none of the heavy libraries.
"""
