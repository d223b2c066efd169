"""The compatibility layer with the original qcsc-prefect, in one place.

Everything that exists only so code written for the original keeps running lives here: the
seed-named API built from each scheduler plugin's small declaration, the original
``HPCProfileBlock`` fields and where they now live, and the block migrator. Nothing outside
this package decides behaviour by a scheduler plugin's name.
"""
