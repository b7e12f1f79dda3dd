"""Visual geolocation that works out of the box: retrieval against a geotagged reference collection.

The query's global descriptor (the similarity plugin's) is compared with every geotagged image of a
collection the analyst indexed; the k most similar vote for the place they were taken, weighted by
exp(similarity / temperature). Places are GeoNames cities: each reference photo belongs to the cell
of its nearest city, so the distribution lives on cells, like the published classifier's, and the
same selective prediction applies. The answer can only be as good as the reference collection:
a place absent from it cannot be predicted, and the card says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plugins.geolocation.geo import CellSet
from plugins.geolocation.places import nearest_place
from plugins.similarity.collection import Collection, Item

DEFAULT_K = 20
DEFAULT_TEMPERATURE = 0.05
"""Cosine similarities of the default descriptor: same scene ≈ 0.9, unrelated 0.6–0.8, so a 0.05
temperature weighs a same-scene neighbour ~50× an unrelated one."""
MIN_REFERENCES = 2


@dataclass(frozen=True)
class RetrievalVote:
    probabilities: np.ndarray
    cells: CellSet
    neighbours: list[tuple[Item, float]]
    """The voting references with their similarity, best first."""
    n_references: int


def reference_cells(items: list[Item]) -> tuple[CellSet, np.ndarray]:
    """Cells (the nearest GeoNames city of each geotagged reference, deduplicated) and the cell
    index of every reference."""
    keys: dict[tuple[str, float, float], int] = {}
    lat, lon, names, index = [], [], [], []
    for item in items:
        assert item.latitude is not None and item.longitude is not None
        place = nearest_place(item.latitude, item.longitude)
        key = (place.city, place.lat, place.lon)
        if key not in keys:
            keys[key] = len(lat)
            lat.append(place.lat)
            lon.append(place.lon)
            names.append(f"{place.city}, {place.country}")
        index.append(keys[key])
    return CellSet(np.array(lat), np.array(lon), tuple(names)), np.array(index, np.int64)


def vote(
    collection: Collection, query_vector: np.ndarray, k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE
) -> RetrievalVote:
    """Similarity-weighted vote of the k most similar geotagged references. ValueError when the
    collection has fewer than MIN_REFERENCES geotagged images."""
    references = collection.geotagged()
    if len(references) < MIN_REFERENCES:
        raise ValueError(
            f"the reference collection {collection.folder} holds {len(references)} geotagged image(s): "
            f"index photos with GPS tags (at least {MIN_REFERENCES}) to geolocate by retrieval"
        )
    if temperature <= 0:
        raise ValueError("the temperature must be positive")
    cells, cell_of = reference_cells(references)
    vectors = np.stack([collection.features(item.id)["global"] for item in references]).astype(np.float32)
    sims = vectors @ np.asarray(query_vector, np.float32)
    order = np.argsort(-sims, kind="stable")[: max(1, k)]
    weights = np.exp((sims[order] - sims[order[0]]) / temperature)
    probabilities = np.bincount(cell_of[order], weights=weights, minlength=len(cells)).astype(np.float64)
    probabilities /= probabilities.sum()
    return RetrievalVote(probabilities, cells, [(references[i], float(sims[i])) for i in order], len(references))
