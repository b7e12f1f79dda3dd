"""Query a collection: a global shortlist from the vector index, re-ranked by local descriptors,
with perceptual-hash distances and "which one is the original?" hints for every hit."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from plugins.similarity.ames import SCORE_MEANING as AMES_SCORE_MEANING
from plugins.similarity.collection import Collection, Item
from plugins.similarity.compact import compact, verify_compact
from plugins.similarity.facts import facts_of
from plugins.similarity.features import LocalFeatures
from plugins.similarity.local import KIND as SIFT_KIND
from plugins.similarity.local import (
    MIN_INLIERS,
    NO_MATCH,
    Verification,
    fused_score,
    mirrored,
    sift_features,
    verify,
)
from plugins.similarity.locore import SCORE_MEANING as LOCORE_SCORE_MEANING
from plugins.similarity.phash import NEAR_DUPLICATE_BITS, hamming, phash
from workbench.api import Media, ModelUnavailable, RunContext

MIN_QUERY_SIDE = 32
CANDIDATE_KEYPOINTS = 600
"""Strongest stored keypoints of each candidate that are matched (of up to 1,000): matching cost
grows with their number, and true copies verify with hundreds of inliers (docs/similarity-bench.md)."""
VERIFY_THREADS = max(1, min(2, os.cpu_count() or 1))
"""Candidates verified at once (two cores are the target machine; more adds little under the app's
two concurrent jobs)."""

SCORE_MEANING = {
    "global": "cosine similarity of the global CNN descriptors (higher is more alike; unrelated photos still reach "
              "0.6–0.8, so read the ranking and the gap to the next hits); not a probability",
    "sift": "0.5 × global similarity + 0.5 × n/(n+20) for n RANSAC-verified RootSIFT matches (0 below 8); "
            "a ranking score, not a probability",
    "sift_compact": "0.5 × global similarity + 0.5 × n/(n+20) for n RANSAC-verified matches of the image's 145 "
                    "stored compact keypoints (0 below 8); a ranking score, not a probability",
    "ames": AMES_SCORE_MEANING,
    "locore": LOCORE_SCORE_MEANING,
}


class RerankerUnavailable(ModelUnavailable):
    """A learned re-ranker's files are missing or do not load: the search itself could run (the
    GUI must not offer to install the global descriptor's model instead)."""


class Rerank(StrEnum):
    NONE = "none"
    SIFT = "sift"
    """Spatial verification on full RootSIFT features when every shortlisted image stores them, else
    on every one's compact record (collections past `collection.FULL_FEATURES_MAX` images)."""
    SIFT_COMPACT = "sift_compact"
    """Spatial verification on the compact records (≤ 1 KB per image) even where full features are stored."""
    AMES = "ames"
    """The learned AMES re-ranker: needs its three weights files installed and the collection
    indexed with its descriptors (`Collection.add(..., extra_extractors=ames_extractors())`)."""
    LOCORE = "locore"
    """The learned LOCORE list-wise re-ranker: needs its three weights files installed and the
    collection indexed with its descriptors (`Collection.add(..., extra_extractors=locore_extractors())`)."""


def score_meaning(rerank: Rerank) -> str:
    """What a hit's score means under this re-ranking, in words."""
    return SCORE_MEANING["global" if rerank is Rerank.NONE else rerank.value]


@dataclass(frozen=True)
class Query:
    """The query image (already cropped to the analyst's rectangle when one was drawn)."""

    rgb: np.ndarray
    label: str = "query"
    width: int = 0
    height: int = 0
    jpeg_quality: int | None = None
    taken: str = ""
    software: str = ""
    exclude_sha256: str = ""
    """The query's own file: not listed as a hit of itself."""


@dataclass
class Hit:
    item: Item
    rank: int
    global_sim: float
    score: float
    inliers: int = 0
    matches: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    phash_bits: int = 64
    hints: list[str] = field(default_factory=list)
    reranked: bool = False
    """Placed by the chosen re-ranker (False: kept its global rank, e.g. no stored descriptors for it)."""
    compact: bool = False
    """Verified on compact records: `matches` join the few stored keypoints only (`match_lines`
    recomputes them with full features for the view)."""

    @property
    def near_duplicate(self) -> bool:
        return self.phash_bits <= NEAR_DUPLICATE_BITS

    @property
    def same_content(self) -> bool:
        """Verified by local matches or a near-identical hash: only then are "original" hints meaningful."""
        return self.near_duplicate or self.inliers >= MIN_INLIERS


def query_from_media(media: Media, roi: tuple[int, int, int, int] | None = None, label: str = "") -> Query:
    """A query from an image file, cropped to `roi` (x, y, width, height in pixels) when given."""
    rgb = media.pixels()
    if roi is not None:
        x, y, w, h = (int(v) for v in roi)
        x, y = max(0, x), max(0, y)
        rgb = rgb[y : y + max(0, h), x : x + max(0, w)]
        if min(rgb.shape[:2]) < MIN_QUERY_SIDE:
            raise ValueError(f"the rectangle is too small to search with (at least {MIN_QUERY_SIDE} pixels a side)")
    facts = facts_of(media)
    return Query(
        np.ascontiguousarray(rgb), label or media.path.name, media.width, media.height,
        facts["jpeg_quality"], facts["taken"], facts["software"], media.sha256,  # type: ignore[arg-type]
    )


def search(
    collection: Collection,
    query: Query,
    k: int = 20,
    shortlist: int = 100,
    rerank: Rerank = Rerank.SIFT,
    ctx: RunContext | None = None,
) -> list[Hit]:
    """The `k` best items for the query, best first."""
    ctx = ctx or RunContext()
    ctx.progress(0.05, "describing the query")
    rgb = query.rgb
    vectors = [collection.descriptor.describe(rgb), collection.descriptor.describe(np.ascontiguousarray(rgb[:, ::-1]))]
    sims, ids = collection.index.search(np.stack([collection.query_vector(v) for v in vectors]), shortlist + 1)
    best: dict[int, float] = {}
    for row_sims, row_ids in zip(sims, ids, strict=True):  # as is and mirrored: keep the better
        for sim, item_id in zip(row_sims, row_ids, strict=True):
            if item_id >= 0:
                best[int(item_id)] = max(best.get(int(item_id), -1.0), float(sim))
    items = {item.id: item for item in collection.items(best)}
    candidates = [i for i in sorted(best, key=lambda i: -best[i]) if items[i].sha256 != query.exclude_sha256]
    candidates = candidates[:shortlist]
    query_hash = phash(rgb)
    verifications: dict[int, Verification] = {}
    full = rerank is Rerank.SIFT and all(collection.has_local_features(i, SIFT_KIND) for i in candidates)
    if rerank in (Rerank.SIFT, Rerank.SIFT_COMPACT) and candidates:
        ctx.progress(0.2, "local features of the query")
        plain = sift_features(rgb)
        verifier = sift_verifier(collection, [plain, mirrored(plain, rgb)], full)

        def verified(item_id: int) -> Verification:
            ctx.check_cancelled()
            return verifier(item_id)

        # OpenCV's matcher and RANSAC release the GIL: candidates are verified in parallel
        with ThreadPoolExecutor(max_workers=VERIFY_THREADS) as pool:
            for n, (item_id, verification) in enumerate(zip(candidates, pool.map(verified, candidates), strict=True)):
                verifications[item_id] = verification
                ctx.progress(0.2 + 0.75 * (n + 1) / len(candidates), f"verified {n + 1}/{len(candidates)}")
    learned: dict[int, float] = {}
    if rerank is Rerank.AMES and candidates:
        learned = ames_scores(collection, rgb, candidates, best, ctx)
    elif rerank is Rerank.LOCORE and candidates:
        learned = locore_ranking(collection, rgb, candidates, best, ctx)
    hits = []
    for item_id in candidates:
        v = verifications.get(item_id)
        score = fused_score(best[item_id], v) if v is not None else learned.get(item_id, best[item_id])
        item = items[item_id]
        hits.append(Hit(item, 0, best[item_id], score, v.inliers if v else 0,
                        v.matches if v else np.zeros((0, 4), np.float32), hamming(query_hash, item.phash),
                        reranked=v is not None or item_id in learned, compact=v is not None and not full))
    if rerank is Rerank.LOCORE:  # LOCORE's order fills the places its candidates held; the others keep theirs
        ranked = iter(learned)
        place = {item_id: n for n, item_id in enumerate(next(ranked) if i in learned else i for i in candidates)}
        hits.sort(key=lambda h: place[h.item.id])
    else:
        hits.sort(key=lambda h: -h.score)
    for rank, hit in enumerate(hits[:k], start=1):
        hit.rank = rank
        if hit.same_content:
            hit.hints = original_hints(query, hit.item)
    ctx.progress(1.0, f"{min(k, len(hits))} hits")
    return hits[:k]


def sift_verifier(
    collection: Collection, variants: list[LocalFeatures], full: bool
) -> Callable[[int], Verification]:
    """Verification of a stored image against the query's variants (as is and mirrored; the best
    counts): on its strongest full features, or on its compact record against every keypoint of the
    query reduced to bits the same way."""
    if full:
        def verified_full(item_id: int) -> Verification:
            stored = collection.local_features(item_id, SIFT_KIND)
            return NO_MATCH if stored is None else best(verify(v, stored.top(CANDIDATE_KEYPOINTS)) for v in variants)

        return verified_full
    queries = [compact(v, None) for v in variants]

    def verified_compact(item_id: int) -> Verification:
        stored = collection.compact_features(item_id)
        return NO_MATCH if stored is None else best(verify_compact(q, stored) for q in queries)

    return verified_compact


def best(verifications: Iterable[Verification]) -> Verification:
    """The verification with the most inliers: both orientations are matched because the global
    descriptor barely tells an image from its mirror (the bench lost a quarter of the verifications
    when only its preferred orientation was matched)."""
    return max(verifications, key=lambda v: v.inliers)


def match_lines(query_rgb: np.ndarray, hit_rgb: np.ndarray, hit: Hit) -> np.ndarray:
    """Correspondences to draw between the query and a hit's image (K×4: x, y in the query, x, y in
    the hit): the search's own when it verified full features; for a hit verified on its compact
    record, recomputed from full RootSIFT of the two images shown (a handful of lines would not let
    an analyst judge the match, and large collections do not store full features)."""
    if not hit.compact:
        return hit.matches
    plain = sift_features(query_rgb)
    other = sift_features(hit_rgb).top(CANDIDATE_KEYPOINTS)
    return best(verify(v, other) for v in (plain, mirrored(plain, query_rgb))).matches


def ames_extractors(device: str = "cpu") -> dict[str, Callable[[np.ndarray], LocalFeatures]]:
    """What `Collection.add` must also store for AMES re-ranking; ModelUnavailable without its files."""
    from plugins.similarity.ames import KIND, AmesReranker

    reranker = AmesReranker()
    reranker.require()
    return {KIND: lambda rgb: reranker.extract(rgb, device)}


def ames_scores(
    collection: Collection, rgb: np.ndarray, candidates: list[int], global_sims: dict[int, float], ctx: RunContext
) -> dict[int, float]:
    """AMES fused scores of the candidates that carry AMES descriptors (the others keep their
    global similarity). ModelUnavailable when the files are missing; ValueError when no candidate
    was indexed with AMES descriptors."""
    from plugins.similarity.ames import KIND, AmesReranker

    reranker = AmesReranker()
    reranker.require()
    stored = {i: collection.local_features(i, KIND) for i in candidates}
    ready = [i for i in candidates if stored[i] is not None]
    if not ready:
        raise ValueError("no image of this collection has AMES descriptors: index it again with AMES re-ranking on")
    ctx.progress(0.2, "AMES descriptors of the query")
    query = reranker.extract(rgb, ctx.device)
    ctx.check_cancelled()
    ctx.progress(0.5, f"AMES scoring of {len(ready)} candidates")
    fused = reranker.scores(query, [stored[i] for i in ready], np.array([global_sims[i] for i in ready]), ctx.device)
    return {i: float(f) for i, f in zip(ready, fused, strict=True)}


def locore_extractors(device: str = "cpu") -> dict[str, Callable[[np.ndarray], LocalFeatures]]:
    """What `Collection.add` must also store for LOCORE re-ranking; ModelUnavailable without its files."""
    from plugins.similarity.locore import KIND, LocoreReranker

    reranker = LocoreReranker()
    reranker.require()
    return {KIND: lambda rgb: reranker.extract(rgb, device)}


def locore_ranking(
    collection: Collection, rgb: np.ndarray, candidates: list[int], global_sims: dict[int, float], ctx: RunContext
) -> dict[int, float]:
    """LOCORE's blended score of each candidate that carries LOCORE descriptors, in LOCORE's order
    (best first; the dict's order is the ranking). Those candidates are re-ranked among themselves
    by the sliding windows; the others are left out (they keep their place in the shortlist).
    RerankerUnavailable when a file is missing or does not load; ValueError when no candidate was
    indexed with LOCORE descriptors."""
    try:
        return _locore_ranking(collection, rgb, candidates, global_sims, ctx)
    except ModelUnavailable as exc:
        raise RerankerUnavailable(str(exc)) from exc


def _locore_ranking(
    collection: Collection, rgb: np.ndarray, candidates: list[int], global_sims: dict[int, float], ctx: RunContext
) -> dict[int, float]:
    from plugins.similarity.locore import KIND, LocoreFeatures, LocoreReranker

    reranker = LocoreReranker()
    reranker.require()
    stored = {i: LocoreFeatures.stored(collection.features(i), KIND) for i in candidates}
    ready = [i for i in candidates if stored[i] is not None]
    if not ready:
        raise ValueError("no image of this collection has LOCORE descriptors: index it again with LOCORE re-ranking on")
    ctx.progress(0.2, "LOCORE descriptors of the query")
    query = reranker.extract(rgb, ctx.device)
    ctx.check_cancelled()

    def passed(n: int, total: int) -> None:
        ctx.check_cancelled()
        ctx.progress(0.3 + 0.65 * n / total, f"LOCORE pass {n}/{total} over {len(ready)} candidates")

    ctx.progress(0.3, f"LOCORE re-ranking of {len(ready)} candidates")
    order, scores = reranker.rerank(query, [stored[i] for i in ready],  # type: ignore[misc]
                                    np.array([global_sims[i] for i in ready]), ctx.device, passed)
    return {ready[n]: float(scores[n]) for n in order}


def original_hints(query: Query, item: Item) -> list[str]:
    """Facts suggesting which of the two is closer to the original: more pixels, higher JPEG quality,
    an earlier capture date, no editing software. Hints, not proof: metadata can be forged or stripped."""
    hints: list[str] = []
    qp, ip = query.width * query.height, item.pixels
    if qp and ip != qp:
        bigger = "this hit" if ip > qp else "the query"
        sizes = f"query {query.width}×{query.height}, this hit {item.width}×{item.height}"
        hints.append(f"{bigger} has more pixels ({sizes})")
    if query.jpeg_quality and item.jpeg_quality and query.jpeg_quality != item.jpeg_quality:
        better = "this hit" if item.jpeg_quality > query.jpeg_quality else "the query"
        hints.append(f"{better} has the higher JPEG quality (query {query.jpeg_quality}, this hit {item.jpeg_quality})")
    if query.taken and item.taken and query.taken != item.taken:
        earlier = "this hit" if item.taken < query.taken else "the query"
        hints.append(f"{earlier} has the earlier capture date (query {query.taken}, this hit {item.taken})")
    for who, software in (("this hit", item.software), ("the query", query.software)):
        if software:
            hints.append(f"{who} records the software {software!r} (editors and apps write this tag)")
    return hints
