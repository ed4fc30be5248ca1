"""Reusable, vectorised building blocks for scenarios with entity hierarchies and time-varying rates.

Owns pure numpy helpers that turn keyed random words (:mod:`producer.generation.streams`) into
values: categorical choices, child counts and Poisson counts (:mod:`.counts`), a smooth
daily/weekly/seasonal event-rate curve with exact integrals and CDF-inverted timestamps
(:mod:`.rates`), Markov entity states computable at any step (:mod:`.markov`) and realistic US
places from offline data packages (:mod:`.places`). Every value depends only on the words it is
given (themselves keyed by seed, stream tag and logical ids), never on the other rows of a call, so
any subset of entities generates identical values. No I/O beyond reading bundled package data.

This package imports nothing on purpose: import the submodule you need.
"""
