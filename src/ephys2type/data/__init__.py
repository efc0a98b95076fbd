"""Data layer: feature schemas and units, table readers, the bundled Allen tables (fetched
and checked), label schemes, QC rules, the cross-species alignment and the
:class:`~ephys2type.data.container.PatchSeqData` container every later layer consumes.

Nothing here knows about models or evaluation.
"""
