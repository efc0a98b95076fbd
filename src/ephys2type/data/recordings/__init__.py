"""From raw current-clamp recordings to the feature tables the models read.

:mod:`.abf` reads Axon ABF files (through ``pyabf``) into a :class:`.sweeps.Recording`: the
voltage and command current of each sweep and the window of its current step, found from the
command waveform. :mod:`.sweep_qc` applies the Allen's sweep QC criteria (as ``ipfx`` ships
them), and :mod:`.extract` computes the IPFX features of the long-square families with
``ipfx`` itself, named as in the built-in schemas.
"""
