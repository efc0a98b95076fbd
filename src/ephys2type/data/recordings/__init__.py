"""From raw current-clamp recordings to the feature tables the models read.

:mod:`.abf` reads Axon ABF files (through ``pyabf``) and :mod:`.nwb` NWB 2 files (through
``pynwb``) into a :class:`.sweeps.Recording`: the voltage and command current of each sweep and
the window of its current step, found from the command waveform. :mod:`.sweep_qc` applies the
Allen's sweep QC criteria (as ``ipfx`` ships them), :mod:`.extract` computes the IPFX features
of the long-square families with ``ipfx`` itself, named as in the built-in schemas,
:mod:`.figures` draws a check figure per cell, and :mod:`.batch` runs many files serially, in
local processes or on a Dask cluster, resuming an interrupted run.
"""
