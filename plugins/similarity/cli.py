"""`workbench index` / `workbench search`: the similar-image search without the GUI, and the search
of each analysed item when an `analyze` preset asks for it (`ItemSearch`, this plugin's
"item_search" service).

`index` also takes videos: they become the reference videos of video copy detection
(`similarity.video_copy`), described once and kept in the collection's `videos/` folder.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.api import CASE_DB, Case, Media, ProgressLine, RunContext, load_preferences, resolve_device, say

COLLECTION_DB = "collection.sqlite"
"""The file that makes a folder a collection."""
K, SHORTLIST = 20, 100
"""Hits listed and global hits re-ranked, by `workbench search` and by `analyze`'s item search."""


def collection_folder(case_root: Path) -> Path:
    """Where a case keeps its searchable collection."""
    return Path(case_root) / "similarity"


def configure_index(index: argparse.ArgumentParser) -> None:
    index.add_argument("paths", nargs="+", help="image or video files, or folders")
    _target(index)
    index.add_argument("--descriptor", choices=["mobilenet", "dinov2"],
                       help="global descriptor of a NEW collection: mobilenet (default, works offline out of the "
                            "box) or dinov2 (needs Meta's installed weights); an existing one keeps its own")
    index.add_argument("--remove", action="store_true",
                       help="remove these files (or everything under these folders) from the collection instead")
    index.add_argument("--ames", action="store_true",
                       help="also store AMES descriptors (needs its three weights files; slow on a CPU)")
    index.add_argument("--locore", action="store_true",
                       help="also store LOCORE descriptors (needs its three weights files; slow on a CPU)")


def configure_search(search: argparse.ArgumentParser) -> None:
    search.add_argument("images", type=Path, nargs="+", metavar="image",
                        help="query images; with several, --json holds one entry per query under \"queries\"")
    _target(search)
    search.add_argument("--k", type=int, default=K, help=f"hits to list (default {K})")
    search.add_argument("--shortlist", type=int, default=SHORTLIST,
                        help=f"global hits re-ranked (default {SHORTLIST})")
    search.add_argument("--rerank", choices=["sift", "sift_compact", "ames", "locore", "none"], default="sift",
                        help="re-rank the shortlist by RANSAC-verified RootSIFT matches (default; on the 1 KB "
                             "compact records where full features are not stored, or always with sift_compact), by the "
                             "learned AMES or LOCORE model (installed weights, collection indexed with --ames "
                             "or --locore; LOCORE's authors re-rank a --shortlist of 400), or not")
    search.add_argument("--roi", help="search with a rectangle of the image (one image only): X,Y,WIDTH,HEIGHT "
                                      "in pixels")
    search.add_argument("--json", type=Path, help="write the hits as JSON here")


def _target(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--case", type=Path, help="a case folder: its collection is CASE/similarity")
    where.add_argument("--collection", type=Path, help="a collection folder of its own")
    parser.add_argument("--index-uri", help="keep the collection's vectors in Milvus: a server or cluster "
                                            "(http://host:19530; token in WORKBENCH_MILVUS_TOKEN) or a Milvus Lite "
                                            "database (a path ending in .db); default: the index_uri preference, "
                                            "else a FAISS index in the collection folder")


def _open_case(args: argparse.Namespace) -> Case | None:
    if args.case is None:
        return None
    return Case.open(args.case) if (args.case / CASE_DB).exists() else Case.create(args.case)


def _folder(args: argparse.Namespace, case: Case | None) -> Path:
    return collection_folder(case.root) if case is not None else args.collection


def _open_collection(args: argparse.Namespace, case: Case | None) -> Any:
    """The collection with its descriptor on the preferred device (`collection.descriptor.device`), its
    vectors where --index-uri, else the preference, says."""
    from plugins.similarity.collection import Collection
    from plugins.similarity.global_descriptor import descriptor_for

    device = resolve_device()[0]
    descriptor = descriptor_for(args.descriptor, device) if getattr(args, "descriptor", None) else None
    index_uri = load_preferences().index_uri if args.index_uri is None else args.index_uri
    return Collection(_folder(args, case), descriptor, device=device, index_uri=index_uri)


def run_index(args: argparse.Namespace) -> int:
    from plugins.similarity.indexing import add_media, video_store

    case = _open_case(args)
    try:
        if args.remove:
            return _remove(args, case)
        collection = _open_collection(args, case)
        device = collection.descriptor.device
        extra: dict[str, Any] = {}
        if args.ames:
            from plugins.similarity.search import ames_extractors

            extra.update(ames_extractors(device))
        if args.locore:
            from plugins.similarity.search import locore_extractors

            extra.update(locore_extractors(device))
        progress = ProgressLine()
        try:
            ctx = RunContext(progress.task("index"), device=device)
            report = add_media(collection, args.paths, ctx, extra_extractors=extra or None)
            progress.end()
            images, videos = report.found
            codes = []
            if images or not videos:
                codes.append(_summary(f"{collection.folder}: {collection.count()} images", report.images, case))
                print(f"vector index: {collection.index.describe()}")
            if videos:
                store = video_store(collection.folder)
                codes.append(_summary(f"{store.folder}: {len(store.references())} reference videos",
                                      report.videos, case))
            return max(codes)
        finally:
            collection.close()
    finally:
        if case is not None:
            case.close()


def _remove(args: argparse.Namespace, case: Case | None) -> int:
    """Files named, or everything under folders named, leave the collection and its reference videos."""
    from plugins.similarity.indexing import VIDEOS_FOLDER, is_video, video_store

    folder = _folder(args, case)
    if (folder / VIDEOS_FOLDER).is_dir():
        store = video_store(folder)
        removed = store.remove_paths(args.paths)
        _say_removed(f"{store.folder}: {len(store.references())} reference videos", removed, "reference video(s)", case)
        if all(is_video(p) for p in args.paths):
            return 0
    collection = _open_collection(args, case)
    try:
        removed = collection.remove_paths(args.paths)
        _say_removed(f"{collection.folder}: {collection.count()} images", removed, "image(s)", case)
        print(f"vector index: {collection.index.describe()}")
    finally:
        collection.close()
    return 0


def _say_removed(what: str, removed: int, things: str, case: Case | None) -> None:
    print(f"index: {what} ({removed} removed)")
    if case is not None:
        case.log("index", f"removed {removed} {things}")


def _summary(what: str, report: Any, case: Case | None) -> int:
    for path, reason in (report.failed or {}).items():
        say(f"skipped: {path}: {reason}")
    summary = f"{report.added} added, {report.skipped} already indexed, {len(report.failed or {})} failed"
    print(f"index: {what} ({summary})")
    if case is not None:
        case.log("index", f"{what}: {summary}")
    return 0 if not report.failed else 1


def run_search(args: argparse.Namespace) -> int:
    """Each query image in turn against one collection opened once (so its model loads once). A query
    that cannot be read is reported and the others go on; the exit status is then 1."""
    from plugins.similarity.search import Rerank, score_meaning

    if args.roi and len(args.images) > 1:
        raise ValueError("--roi is a rectangle of one image: give a single query image with it")
    roi = parse_roi(args.roi) if args.roi else None
    rerank = Rerank(args.rerank)
    meaning = score_meaning(rerank)
    case = _open_case(args)
    collection = _open_collection(args, case)
    docs: list[dict[str, Any]] = []
    try:
        if collection.count() == 0:
            raise ValueError(f"the collection {collection.folder} is empty: add images with `workbench index`")
        print(f"score: {meaning}")
        for image in args.images:
            docs.append(_search_one(collection, image, args, roi, rerank, meaning, len(args.images) > 1))
            if case is not None:
                case.log("search", f"{image} roi={roi} rerank={rerank.value}: "
                                   + docs[-1].get("error", f"{len(docs[-1]['hits'])} hits"))
    finally:
        collection.close()
        if case is not None:
            case.close()
    if args.json:
        doc = docs[0] if len(docs) == 1 else {"rerank": rerank.value, "score_meaning": meaning, "queries": docs}
        args.json.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    return 1 if any("error" in doc for doc in docs) else 0


def _search_one(collection: Any, image: Path, args: argparse.Namespace, roi: tuple[int, int, int, int] | None,
                rerank: Any, meaning: str, several: bool) -> dict[str, Any]:
    """One query's hits printed, and its JSON; a single query that cannot be read raises, one of
    several is reported and answered with its error."""
    from plugins.similarity.search import Rerank, query_from_media, search
    from workbench.api import MediaError, open_media

    try:
        query = query_from_media(open_media(image), roi)
    except (MediaError, ValueError) as exc:
        if not several:
            raise
        say(f"skipped: {image}: {exc}")
        return {"query": str(image), "error": str(exc)}
    progress = ProgressLine()
    hits = search(collection, query, args.k, args.shortlist, rerank,
                  RunContext(progress.task("search"), device=collection.descriptor.device))
    progress.end()
    if several:
        print(f"query: {image}")
    if rerank in (Rerank.AMES, Rerank.LOCORE):
        placed = sum(hit.reranked for hit in hits)
        print(f"re-ranked by {rerank.value.upper()}: {placed} of the {len(hits)} hits listed"
              + ("" if placed == len(hits) else f" (the others have no {rerank.value.upper()} descriptors and "
                                                f"keep their global rank: index them with --{rerank.value})"))
    for hit in hits:
        flags = " near-duplicate" if hit.near_duplicate else ""
        print(f"{hit.rank:>3}  {hit.score:.3f}  global {hit.global_sim:.3f}  inliers {hit.inliers:>4}  "
              f"pHash Δ{hit.phash_bits:>2}{flags}  {hit.item.path}")
        for hint in hit.hints:
            print(f"       hint: {hint}")
    return hits_json(image, roi, meaning, hits, rerank.value)


def parse_roi(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--roi wants X,Y,WIDTH,HEIGHT in pixels, not {text!r}") from None
    return x, y, w, h


def hits_json(image: Path, roi: tuple[int, int, int, int] | None, meaning: str, hits: list[Any],
              rerank: str = "sift") -> dict[str, Any]:
    return {"query": str(image), "roi": roi, "rerank": rerank, "score_meaning": meaning,
            "hits": [hit_json(h) for h in hits]}


def hit_json(h: Any) -> dict[str, Any]:
    return {
        "rank": h.rank, "path": h.item.path, "sha256": h.item.sha256, "score": round(h.score, 4),
        "global_similarity": round(h.global_sim, 4), "inliers": h.inliers, "phash_distance": h.phash_bits,
        "near_duplicate": h.near_duplicate, "reranked": h.reranked, "hints": h.hints,
    }


class ItemSearch:
    """The similar images of each item `analyze` runs on, when its preset searches: one collection
    opened for the whole run, so its model is loaded once for all items. The "item_search" service:
    `check(folder)` refuses a folder named with --collection before the case is touched, then
    `ItemSearch(folder or None for the case's own, case_root)` and `entry(media, progress)` per item."""

    @staticmethod
    def check(folder: Path) -> None:
        """Refuse (ValueError) a folder named with `analyze --collection` that holds no collection."""
        if not (folder / COLLECTION_DB).is_file():
            raise ValueError(f"--collection {folder}: not a collection (no {COLLECTION_DB}); make one with "
                             f"`workbench index FILES --collection {folder}`")

    def __init__(self, folder: Path | None, case_root: Path) -> None:
        folder = folder or collection_folder(case_root)
        self.folder = folder
        self.collection: Any = None
        self.skipped = ""
        """Why nothing is searched (no collection, an empty one); empty when items are searched."""
        if not (folder / COLLECTION_DB).is_file():
            self.skipped = (f"no reference collection in {folder} (add images with `workbench index FILES "
                            f"--case CASE`, or name one with --collection DIR)")
            return
        from plugins.similarity.collection import Collection

        self.collection = Collection(folder, device=resolve_device()[0], index_uri=load_preferences().index_uri)
        if self.collection.count() == 0:
            self.skipped = f"the collection {folder} is empty (add images with `workbench index`)"

    def entry(self, media: Media, progress: Callable[[float, str], None]) -> dict[str, Any]:
        """The JSON of the item's hits, best first (the item's own file is never one of them)."""
        from plugins.similarity.search import SCORE_MEANING, Rerank, query_from_media, search

        ctx = RunContext(progress, device=self.collection.descriptor.device)
        hits = search(self.collection, query_from_media(media), K, SHORTLIST, Rerank.SIFT, ctx)
        return {"collection": str(self.folder.resolve()), "score_meaning": SCORE_MEANING[Rerank.SIFT.value],
                "hits": [hit_json(h) for h in hits]}

    def close(self) -> None:
        if self.collection is not None:
            self.collection.close()
