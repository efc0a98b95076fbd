"""From raw current-clamp recordings to the feature tables the models read.

:mod:`.abf` reads Axon ABF files (through ``pyabf``) and :mod:`.nwb` NWB 2 files (through
``pynwb``) into a :class:`.sweeps.Recording`: the voltage and command current of each sweep,
grouped by stimulus kind (long squares; short squares and ramps of Allen-protocol files), and
the window of each stimulus, found from the command waveform. :mod:`.sweep_qc` applies a sweep
QC preset (lab rigs' thresholds, the Allen's as ``ipfx`` ships them, or none), :mod:`.analysis`
runs ipfx's analysis of each stimulus kind, :mod:`.checks` makes the cell-level checks a
physiologist makes around it (firing at rest, depolarisation block, missing or shallow
hyperpolarising steps, implausible f-I slope, drifting resting potential, spike shape),
:mod:`.naming` names its results as the columns of the mouse or human schema,
:mod:`.vectors` computes the 12 IPFX feature-vector families, :mod:`.extract` puts a cell
together (emptying what a check does not trust), :mod:`.figures` draws a check page per
cell, :mod:`.batch` runs many files serially, in local processes or on a Dask cluster,
resuming an interrupted run, and :mod:`.dandi` downloads recordings from the DANDI Archive.
"""
