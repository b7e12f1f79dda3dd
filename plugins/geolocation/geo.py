"""Great-circle geometry for geo-cell classifiers: distances on a spherical Earth, and the cell set.

A geolocation classifier (e.g. the EfficientNet + vMF model of github.com/mever-team/visloc-estimation)
outputs one probability per geo-cell; everything downstream only needs the cell centres and distances
from ONE point to all cells. With 31,145 cells an M × M distance matrix would be 7.8 GB of float64, so
this module deliberately offers none: `CellSet.distances_from` is O(M) time and memory.

Earth model: a sphere of radius `EARTH_RADIUS_KM` = 6371.0088 km, the IUGG mean radius R1 = (2a + b) / 3
of WGS 84. The reference code uses 6371 km; the difference (1.4e-6 relative, 0.03 km over 20,000 km)
is far below the 1 km finest scale. A sphere is off the ellipsoid by up to ~0.5 %, which is also
irrelevant at the scales used here (1 km on short distances, where the relative error stays ~0.5 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["EARTH_RADIUS_KM", "KM_PER_DEGREE", "CellSet", "haversine_km", "initial_bearing_rad"]

EARTH_RADIUS_KM = 6371.0088
"""IUGG mean Earth radius R1 (km); the sphere every distance in this package is measured on."""

KM_PER_DEGREE = EARTH_RADIUS_KM * np.pi / 180.0
"""Length of 1° of great circle (e.g. of latitude along a meridian) on that sphere: ≈ 111.195 km."""


def haversine_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray:
    """Great-circle distance in km between points given in degrees; inputs broadcast like numpy.

    Haversine rather than the spherical law of cosines because it stays accurate for the
    sub-kilometre distances of the 1 km scale (acos loses ~1 m precision near 0). The inner term is
    clipped to [0, 1] so rounding never yields NaN for antipodal points. Returns a float64 array
    (0-d for scalar inputs; use float() on it).
    """
    phi1 = np.radians(np.asarray(lat1, dtype=np.float64))
    phi2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dphi = phi2 - phi1
    dlam = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dphi / 2.0) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def initial_bearing_rad(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray:
    """Initial great-circle bearing from point 1 to point 2, radians in [0, 2π), 0 = north, clockwise.

    Used to split distance rings into direction sectors (spatial entropy). Undefined for coincident
    points; it returns 0 there, which is harmless because those fall in the central disc anyway.
    """
    phi1 = np.radians(np.asarray(lat1, dtype=np.float64))
    phi2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dlam = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    y = np.sin(dlam) * np.cos(phi2)
    x = np.cos(phi1) * np.sin(phi2) - np.sin(phi1) * np.cos(phi2) * np.cos(dlam)
    return np.mod(np.arctan2(y, x), 2.0 * np.pi)


def _read_only(values: ArrayLike, what: str) -> np.ndarray:
    if np.ndim(values) > 1:
        raise ValueError(f"{what} must be a 1-D array of degrees, got shape {np.shape(values)}")
    array = np.array(values, dtype=np.float64, copy=True).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} contains NaN or infinite values")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class CellSet:
    """Centres of the M geo-cells a classifier predicts over, in degrees (WGS 84 lat/lon on the sphere).

    Index c of `lat`/`lon` is the classifier's output index c. Arrays are copied to float64 and made
    read-only, so a `CellSet` can be shared between threads and cached. `names` (optional) are labels
    for display (e.g. S2 cell tokens or place names). Longitudes need not be normalised: every
    formula here is periodic in longitude.
    """

    lat: np.ndarray
    lon: np.ndarray
    names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        lat = _read_only(self.lat, "lat")
        lon = _read_only(self.lon, "lon")
        if lat.shape != lon.shape:
            raise ValueError(f"lat and lon differ in length: {lat.size} vs {lon.size}")
        if lat.size == 0:
            raise ValueError("a CellSet needs at least one cell")
        if np.any(np.abs(lat) > 90.0):
            raise ValueError("latitudes must lie in [-90, 90] degrees")
        object.__setattr__(self, "lat", lat)
        object.__setattr__(self, "lon", lon)
        if self.names is not None:
            names = tuple(str(n) for n in self.names)
            if len(names) != lat.size:
                raise ValueError(f"{len(names)} names for {lat.size} cells")
            object.__setattr__(self, "names", names)

    @classmethod
    def from_latlon(cls, latlon: ArrayLike, names: Sequence[str] | None = None) -> CellSet:
        """Build from an (M, 2) array of [lat, lon] rows (the layout of the reference `mus`, transposed)."""
        array = np.asarray(latlon, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != 2:
            raise ValueError(f"expected an (M, 2) array of [lat, lon], got shape {array.shape}")
        return cls(array[:, 0], array[:, 1], None if names is None else tuple(names))

    def __len__(self) -> int:
        return int(self.lat.size)

    def distances_to(self, lat: float, lon: float) -> np.ndarray:
        """(M,) km from the point (lat, lon) to every cell centre: O(M), no M × M matrix."""
        return haversine_km(lat, lon, self.lat, self.lon)

    def distances_from(self, index: int) -> np.ndarray:
        """(M,) km from cell `index`'s centre to every cell centre (0 for itself)."""
        if not 0 <= index < len(self):
            raise IndexError(f"cell index {index} out of range for {len(self)} cells")
        return self.distances_to(float(self.lat[index]), float(self.lon[index]))

    def bearings_from(self, index: int) -> np.ndarray:
        """(M,) initial bearings (radians, 0 = north, clockwise) from cell `index` to every cell."""
        return initial_bearing_rad(self.lat[index], self.lon[index], self.lat, self.lon)
