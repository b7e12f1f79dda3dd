"""Visual geolocation that works out of the box: retrieval against a geotagged reference collection.

The query's global descriptor (the similarity plugin's) is compared with every geotagged image of a
collection the analyst indexed; the k most similar vote for the place they were taken, each with
weight exp((similarity − ANCHOR) / temperature). Against them stands one "elsewhere" vote of weight
1 (a reference exactly at the anchor similarity), spread uniformly over the globe: when nothing in
the collection resembles the query, most of the mass is "elsewhere" and the selective prediction
abstains, however clustered the reference places are.

Places: the references are grouped by their nearest GeoNames city, and each group's cell sits at
the mean GPS position of its references (not the city centre). The answer can only be as good as the
reference collection: a place absent from it cannot be predicted, and the card says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from plugins.geolocation.geo import CellSet
from plugins.geolocation.places import nearest_place, unit_vectors
from plugins.similarity.collection import Collection, Item

DEFAULT_K = 20
DEFAULT_TEMPERATURE = 0.05
ANCHOR = 0.85
"""Cosine similarity of the default descriptor where a reference counts as much as "elsewhere":
copies and same-scene views score 0.9–0.97, unrelated photos 0.6–0.8 (docs/similarity-bench.md)."""
BACKGROUND_CELLS = 500
"""Points of a Fibonacci sphere (~1,000 km apart) carrying the "elsewhere" mass."""
MIN_REFERENCES = 2


@dataclass(frozen=True)
class RetrievalVote:
    probabilities: np.ndarray
    cells: CellSet
    """Reference places first, then the uniform background cells ("elsewhere")."""
    neighbours: list[tuple[Item, float]]
    """The voting references with their similarity, best first."""
    n_references: int
    elsewhere: float
    """Probability mass of the background: how little the collection resembles the query."""


@lru_cache(maxsize=65536)
def _place_key(lat: float, lon: float) -> tuple[str, str]:
    place = nearest_place(lat, lon)
    return place.city, f"{place.city}, {place.country}"


def fibonacci_sphere(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n nearly evenly spaced points on the sphere (latitude, longitude in degrees)."""
    i = np.arange(n) + 0.5
    lat = np.degrees(np.arcsin(1.0 - 2.0 * i / n))
    lon = (np.degrees(np.pi * (1.0 + 5.0**0.5) * i) + 180.0) % 360.0 - 180.0
    return lat, lon


def reference_cells(items: list[Item]) -> tuple[CellSet, np.ndarray]:
    """One cell per nearest-city group of references, at the mean GPS position of the group, and
    the cell index of every reference."""
    keys: dict[str, int] = {}
    names: list[str] = []
    index = []
    for item in items:
        assert item.latitude is not None and item.longitude is not None
        key, name = _place_key(round(item.latitude, 4), round(item.longitude, 4))
        if key not in keys:
            keys[key] = len(names)
            names.append(name)
        index.append(keys[key])
    cell_of = np.array(index, np.int64)
    points = unit_vectors(np.array([i.latitude for i in items]), np.array([i.longitude for i in items]))
    sums = np.zeros((len(names), 3))
    np.add.at(sums, cell_of, points)
    sums /= np.linalg.norm(sums, axis=1, keepdims=True)
    lat = np.degrees(np.arcsin(np.clip(sums[:, 2], -1.0, 1.0)))
    lon = np.degrees(np.arctan2(sums[:, 1], sums[:, 0]))
    return CellSet(lat, lon, tuple(names)), cell_of


def vote(
    collection: Collection, query_vector: np.ndarray, k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE
) -> RetrievalVote:
    """Similarity-weighted vote of the k most similar geotagged references against a uniform
    "elsewhere". ValueError when the collection has fewer than MIN_REFERENCES geotagged images."""
    references = collection.geotagged()
    if len(references) < MIN_REFERENCES:
        raise ValueError(
            f"the reference collection {collection.folder} holds {len(references)} geotagged image(s): "
            f"index photos with GPS tags (at least {MIN_REFERENCES}) to geolocate by retrieval"
        )
    if temperature <= 0:
        raise ValueError("the temperature must be positive")
    places, cell_of = reference_cells(references)
    sims = collection.global_vectors([item.id for item in references]) @ np.asarray(query_vector, np.float32)
    order = np.argsort(-sims, kind="stable")[: max(1, k)]
    weights = np.exp((sims[order].astype(np.float64) - ANCHOR) / temperature)
    mass = np.bincount(cell_of[order], weights=weights, minlength=len(places))
    background_lat, background_lon = fibonacci_sphere(BACKGROUND_CELLS)
    background = np.full(BACKGROUND_CELLS, 1.0 / BACKGROUND_CELLS)
    probabilities = np.concatenate([mass, background])
    probabilities /= probabilities.sum()
    cells = CellSet(np.concatenate([places.lat, background_lat]), np.concatenate([places.lon, background_lon]),
                    (*(places.names or ()), *("elsewhere",) * BACKGROUND_CELLS))
    return RetrievalVote(probabilities, cells, [(references[i], float(sims[i])) for i in order], len(references),
                         float(probabilities[len(places):].sum()))
