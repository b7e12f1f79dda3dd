"""Manipulated images with exact masks, generated from real photos and reproducible by seed.

Each sample is a random view of a source photo (the host), optionally JPEG-compressed once
(first half of a double compression), then manipulated — a splice from another photo, a
copy-move inside the host, an object removal by inpainting — or left pristine, then
post-processed as a whole (resize, blur, noise, a final JPEG save; or, for a double JPEG, an
optional grid-shifting crop and the second save). The mask follows every geometric step.

Randomness: sample `index` of `seed` draws from four independent streams of
`SeedSequence([seed, index])` — host view, post-processing, region, donor — so changing one
probability of the recipe (or the kind) leaves the rest of the sample as it was: the pristine
and the spliced sample of one (seed, index) share the same host, which the tests rely on.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from workbench.synthetic import photos as photo_source
from workbench.synthetic.regions import blend, blend_weights, random_region

KINDS = ("splice", "copy_move", "removal", "pristine")
GENERATOR_VERSION = 2
"""Bumped whenever a change of this package changes the samples a (seed, recipe) gives, so that
cached datasets keyed by `dataset.header` are regenerated."""
MIN_RESIZED_SIDE = 128


@dataclass(frozen=True)
class Recipe:
    """Every range and probability of the generator (recorded with each dataset).

    A double JPEG (probability `p_double_jpeg`) compresses the host at q1 before the
    manipulation and the result at q2 after it, with no resize/blur/noise in between (they would
    erase the trace being tested); `p_misaligned` of them crop 1–7 px (rows and/or columns) between
    the two saves, so the two 8×8 grids no longer coincide. Otherwise resize, blur, noise and a
    final JPEG are each applied with their own probability, in that order.

    The last fields are off by default, and drawn after every earlier choice of their stream, so
    they leave the samples of the other settings as they were: `p_donor_jpeg` gives a spliced
    donor its own JPEG history (saved at `donor_quality` on its own 8×8 grid, placed off the host's
    grid); `p_generative_fill` fills removals as a generative inpainter would (`generative_fill`);
    `p_edit_jpeg` saves the edited image once (the editor's save) before the post-processing, so a
    later resize and final JPEG act on a decoded JPEG as a platform's do; `p_crop` crops a
    `crop_keep` share of each side after the edit, at a random place (the 8×8 grid moves).
    """

    size_range: tuple[int, int] = (256, 768)
    splice_area: tuple[float, float] = (0.02, 0.25)
    copy_move_area: tuple[float, float] = (0.02, 0.12)
    removal_area: tuple[float, float] = (0.02, 0.12)
    p_soft_edge: float = 0.5
    feather_px: tuple[float, float] = (1.5, 6.0)
    p_colour_match: float = 0.5
    p_rotate_scale: float = 0.5
    rotation_deg: tuple[float, float] = (-30.0, 30.0)
    scale: tuple[float, float] = (0.8, 1.2)
    inpaint_radius: tuple[int, int] = (3, 5)
    p_double_jpeg: float = 0.3
    p_misaligned: float = 0.5
    q1: tuple[int, int] = (60, 95)
    q2: tuple[int, int] = (70, 100)
    p_resize: float = 0.25
    resize: tuple[float, float] = (0.5, 1.0)
    p_blur: float = 0.2
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    p_noise: float = 0.2
    noise_sigma: tuple[float, float] = (1.0, 5.0)
    p_jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (60, 100)
    p_donor_jpeg: float = 0.0
    donor_quality: tuple[int, int] = (50, 70)
    p_generative_fill: float = 0.0
    p_edit_jpeg: float = 0.0
    edit_quality: tuple[int, int] = (75, 95)
    p_crop: float = 0.0
    crop_keep: tuple[float, float] = (0.7, 0.95)

    def describe(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


CLEAN = Recipe(p_double_jpeg=0.0, p_resize=0.0, p_blur=0.0, p_noise=0.0, p_jpeg=0.0)
"""No post-processing at all: the manipulation alone, saved losslessly."""


@dataclass
class Sample:
    """One generated image, its exact ground truth and how it was made.

    `chain` lists the steps in order, e.g. ["jpeg1:q=72", "splice:ellipse,...", "jpeg:q=90"]
    (or "jpeg_edit:q=88" for the editor's save before a platform's resize and re-save);
    `jpeg_bytes` holds the final file when the chain ends with a JPEG save (`image` is then its
    decoding), else None and the image is meant to be stored losslessly.
    """

    image: np.ndarray
    mask: np.ndarray
    kind: str
    chain: list[str]
    jpeg_bytes: bytes | None
    seed: int
    index: int
    sources: list[str] = field(default_factory=list)

    def encoded(self) -> tuple[bytes, str]:
        """The file to store: (bytes, suffix) — the final JPEG as is, else a PNG."""
        if self.jpeg_bytes is not None:
            return self.jpeg_bytes, ".jpg"
        buf = io.BytesIO()
        Image.fromarray(self.image).save(buf, "PNG")
        return buf.getvalue(), ".png"


def generate(
    seed: int,
    n: int,
    kinds: Sequence[str] = KINDS,
    recipe: Recipe = Recipe(),
    photos: Sequence[Path] | None = None,
) -> Iterator[Sample]:
    """`n` samples; sample i is of kind kinds[i % len(kinds)], so the kinds stay balanced."""
    for kind in kinds:
        _check_kind(kind)
    for index in range(n):
        yield make_sample(seed, index, kinds[index % len(kinds)], recipe, photos)


def make_sample(
    seed: int, index: int, kind: str, recipe: Recipe = Recipe(), photos: Sequence[Path] | None = None
) -> Sample:
    """Sample `index` of `seed` (see the module docstring for what stays fixed across settings)."""
    _check_kind(kind)
    paths = tuple(photos) if photos is not None else photo_source.source_photos()
    if len(paths) < 2:
        raise ValueError("at least two source photos are needed (splices come from another photo)")
    view_rng, post_rng, region_rng, donor_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, index]).spawn(4)
    )
    host_id = int(view_rng.integers(len(paths)))
    host = photo_source.random_view(photo_source.load(paths[host_id]), view_rng, recipe.size_range)
    post = _draw_post(post_rng, recipe)
    chain: list[str] = []
    sources = [paths[host_id].name]

    if post.double:
        host = decode_jpeg(encode_jpeg(host, post.q1))
        chain.append(f"jpeg1:q={post.q1}")
    if kind == "splice":
        donor_path = paths[(host_id + 1 + int(donor_rng.integers(len(paths) - 1))) % len(paths)]
        donor = photo_source.random_view(photo_source.load(donor_path), donor_rng, recipe.size_range)
        donor, history = donor_history(donor, donor_rng, recipe)
        image, mask, step = splice(host, donor, region_rng, recipe)
        step += history
        sources.append(donor_path.name)
    elif kind == "copy_move":
        image, mask, step = copy_move(host, region_rng, recipe)
    elif kind == "removal":
        image, mask, step = removal(host, region_rng, recipe)
    else:
        image, mask, step = host, np.zeros(host.shape[:2], bool), None
    if step:
        chain.append(step)

    image, mask, jpeg = _post_process(image, mask, post, chain)
    return Sample(image, mask, kind, chain, jpeg, seed, index, sources)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")


# -- manipulations ------------------------------------------------------------------------------


def splice(
    host: np.ndarray, donor: np.ndarray, rng: np.random.Generator, recipe: Recipe
) -> tuple[np.ndarray, np.ndarray, str]:
    """Paste the donor's content under a random region of the host (the donor view is a random
    crop/scale of another photo, cropped or padded to the host's size), optionally colour-matched
    to what it replaces."""
    mask, shape = random_region(host.shape[:2], recipe.splice_area, rng)
    feather = _draw_feather(rng, recipe)
    matched = rng.random() < recipe.p_colour_match
    donor = _fit(donor, host.shape[:2])
    if matched:
        donor = match_colours(donor, host, mask)
    image = blend(host, donor, blend_weights(mask, feather))
    return image, mask, f"splice:{shape},{_edge(feather)}" + (",colour-matched" if matched else "")


def copy_move(host: np.ndarray, rng: np.random.Generator, recipe: Recipe) -> tuple[np.ndarray, np.ndarray, str]:
    """Copy a region of the host onto another place of the same host, optionally rotated/scaled.

    The target region is drawn first; the source centre is the farthest from it among 16 random
    candidates for which the whole source region lies inside the image.
    """
    h, w = host.shape[:2]
    mask, shape = random_region((h, w), recipe.copy_move_area, rng)
    feather = _draw_feather(rng, recipe)
    transform = rng.random() < recipe.p_rotate_scale
    angle = float(rng.uniform(*recipe.rotation_deg)) if transform else 0.0
    scale = float(rng.uniform(*recipe.scale)) if transform else 1.0
    ys, xs = np.nonzero(mask)
    target = np.array([(xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2])
    corners = np.array([[xs.min(), ys.min()], [xs.max(), ys.min()], [xs.min(), ys.max()], [xs.max(), ys.max()]])
    rot = cv2.getRotationMatrix2D((0.0, 0.0), angle, 1.0)[:, :2]
    while True:  # shrink the source until it fits (with no rotation and scale ≤ 1 it always does)
        offsets = (corners - target) @ (scale * rot).T
        lo, hi = -offsets.min(axis=0), np.array([w - 1, h - 1]) + -offsets.max(axis=0)
        if np.all(hi >= lo):
            break
        scale *= 0.9
    candidates = rng.uniform(lo, hi, size=(16, 2))
    source = candidates[np.argmax(np.linalg.norm(candidates - target, axis=1))]
    # dst(p) = src(M p) with M p = source + scale·R·(p − target)
    linear = scale * rot
    matrix = np.hstack([linear, (source - linear @ target)[:, None]])
    moved = cv2.warpAffine(
        host, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )
    image = blend(host, moved, blend_weights(mask, feather))
    dx, dy = source - target
    step = f"copy_move:{shape},{_edge(feather)},from_dx={dx:.0f},from_dy={dy:.0f}"
    return image, mask, step + (f",rot={angle:.1f},scale={scale:.2f}" if transform else "")


def removal(host: np.ndarray, rng: np.random.Generator, recipe: Recipe) -> tuple[np.ndarray, np.ndarray, str]:
    """Erase a region and fill it by inpainting from its surroundings (OpenCV TELEA or NS).

    Only the region's pixels change, so the mask is exactly the inpainted region.
    """
    mask, shape = random_region(host.shape[:2], recipe.removal_area, rng)
    method = ("telea", cv2.INPAINT_TELEA) if rng.random() < 0.5 else ("ns", cv2.INPAINT_NS)
    radius = int(rng.integers(recipe.inpaint_radius[0], recipe.inpaint_radius[1] + 1))
    if rng.random() < recipe.p_generative_fill:
        image, how = generative_fill(host, mask, rng)
        return image, mask, f"removal:{shape},{how}"
    image = cv2.inpaint(host, mask.astype(np.uint8), radius, method[1])
    return image, mask, f"removal:{shape},{method[0]},r={radius}"


def generative_fill(host: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Fill the region as a generative inpainter leaves it: content continued from the surroundings
    at the coarse grid such models work on (1/4–1/8 of the resolution, as a diffusion model's
    latent), decoded smooth — no camera noise, little fine texture, a faint even grain of its own —
    and blended in over a 2–6 px ramp inside the region (so the mask stays exact)."""
    factor, feather, grain = rng.uniform(4.0, 8.0), rng.uniform(2.0, 6.0), rng.uniform(0.0, 1.5)
    h, w = mask.shape
    size = (max(2, round(w / factor)), max(2, round(h / factor)))
    coarse = cv2.resize(host, size, interpolation=cv2.INTER_AREA)
    hole = (cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    filled = cv2.resize(cv2.inpaint(coarse, hole, 3, cv2.INPAINT_TELEA), (w, h), interpolation=cv2.INTER_CUBIC)
    noisy = filled + rng.normal(0.0, grain, filled.shape)
    content = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    image = blend(host, content, blend_weights(mask, feather))
    return image, f"generative,latent=1/{factor:.1f},feather={feather:.1f},grain={grain:.2f}"


def donor_history(donor: np.ndarray, rng: np.random.Generator, recipe: Recipe) -> tuple[np.ndarray, str]:
    """With probability `p_donor_jpeg`, the donor as a JPEG saved at `donor_quality` on its own grid,
    moved by (dy, dx) ≠ (0, 0) pixels so that grid falls off the host's; returns it and a note
    for the chain ("" when the donor stays as it was)."""
    draw, offset = rng.random(), int(rng.integers(1, 64))
    quality = int(rng.integers(recipe.donor_quality[0], recipe.donor_quality[1] + 1))
    if draw >= recipe.p_donor_jpeg:
        return donor, ""
    dy, dx = divmod(offset, 8)
    return decode_jpeg(encode_jpeg(donor, quality))[dy:, dx:], f",donor-jpeg:q={quality},dy={dy},dx={dx}"


def match_colours(donor: np.ndarray, host: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift/scale the donor's Lab channels so that, under the mask, their mean and spread equal
    the host's there (Reinhard-style colour transfer: a forger's colour match)."""
    lab_d = cv2.cvtColor(donor.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lab_h = cv2.cvtColor(host.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    d, hh = lab_d[mask], lab_h[mask]
    lab = (lab_d - d.mean(0)) / np.maximum(d.std(0), 1e-3) * hh.std(0) + hh.mean(0)
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def _fit(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Crop (top-left) or reflect-pad an image to `shape`."""
    h, w = shape
    image = image[:h, :w]
    pad = ((0, h - image.shape[0]), (0, w - image.shape[1]), (0, 0))
    return np.pad(image, pad, mode="reflect") if any(p[1] for p in pad) else image


def _edge(feather: float) -> str:
    return f"feather={feather:.1f}" if feather > 0 else "hard"


def _draw_feather(rng: np.random.Generator, recipe: Recipe) -> float:
    soft, feather = rng.random() < recipe.p_soft_edge, float(rng.uniform(*recipe.feather_px))
    return feather if soft else 0.0


# -- post-processing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Post:
    double: bool
    q1: int
    shift: tuple[int, int]
    resize: float | None
    blur: float | None
    noise: float | None
    noise_seed: int
    quality: int | None
    edit_quality: int | None = None
    crop: tuple[float, float, float, float] | None = None
    """Share of the height and width kept, and where the kept part starts (0 top/left, 1 bottom/right)."""


def _draw_post(rng: np.random.Generator, r: Recipe) -> _Post:
    """All post-processing choices, drawn in a fixed order whatever the probabilities say."""
    draws = rng.random(6)
    q1, q2, q = (int(rng.integers(lo, hi + 1)) for lo, hi in (r.q1, r.q2, r.jpeg_quality))
    offset = int(rng.integers(1, 64))  # (dy, dx) in 0..7 × 0..7, never (0, 0)
    factor, sigma, noise = rng.uniform(*r.resize), rng.uniform(*r.blur_sigma), rng.uniform(*r.noise_sigma)
    noise_seed = int(rng.integers(2**63))
    later = rng.random(2)  # the choices added since: drawn last, so they change none of the above
    edit_quality = int(rng.integers(r.edit_quality[0], r.edit_quality[1] + 1))
    keep, at = rng.uniform(*r.crop_keep, 2), rng.random(2)
    double = bool(draws[0] < r.p_double_jpeg)
    if double:
        shift = divmod(offset, 8) if draws[1] < r.p_misaligned else (0, 0)
        return _Post(True, q1, shift, None, None, None, noise_seed, q2)
    return _Post(
        False,
        q1,
        (0, 0),
        float(factor) if draws[2] < r.p_resize else None,
        float(sigma) if draws[3] < r.p_blur else None,
        float(noise) if draws[4] < r.p_noise else None,
        noise_seed,
        q if draws[5] < r.p_jpeg else None,
        edit_quality if later[0] < r.p_edit_jpeg else None,
        (*keep, *at) if later[1] < r.p_crop else None,
    )


def _post_process(
    image: np.ndarray, mask: np.ndarray, post: _Post, chain: list[str]
) -> tuple[np.ndarray, np.ndarray, bytes | None]:
    if post.shift != (0, 0):
        dy, dx = post.shift
        image, mask = image[dy:, dx:], mask[dy:, dx:]
        chain.append(f"crop:dy={dy},dx={dx}")
    if post.edit_quality is not None:
        image = decode_jpeg(encode_jpeg(image, post.edit_quality))
        chain.append(f"jpeg_edit:q={post.edit_quality}")
    if post.crop is not None:
        image, mask, box = _crop(image, mask, post.crop)
        chain.append(f"crop:{box}")
    if post.resize is not None:
        image, mask, factor = _resize(image, mask, post.resize)
        chain.append(f"resize:{factor:.2f}")
    if post.blur is not None:
        image = cv2.GaussianBlur(image, (0, 0), post.blur)
        chain.append(f"blur:sigma={post.blur:.2f}")
    if post.noise is not None:
        noise = np.random.default_rng(post.noise_seed).normal(0.0, post.noise, image.shape)
        image = np.clip(np.round(image + noise), 0, 255).astype(np.uint8)
        chain.append(f"noise:sigma={post.noise:.2f}")
    image, mask = np.ascontiguousarray(image), np.ascontiguousarray(mask)
    if post.quality is None:
        return image, mask, None
    data = encode_jpeg(image, post.quality)
    chain.append(f"jpeg:q={post.quality}")
    return decode_jpeg(data), mask, data


def _crop(
    image: np.ndarray, mask: np.ndarray, crop: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray, str]:
    """Keep a share of each side (at least 128 px) at a relative place; returns the box in words."""
    keep_h, keep_w, at_y, at_x = crop
    h, w = mask.shape
    kh, kw = min(h, max(MIN_RESIZED_SIDE, round(h * keep_h))), min(w, max(MIN_RESIZED_SIDE, round(w * keep_w)))
    y0, x0 = round(at_y * (h - kh)), round(at_x * (w - kw))
    box = (slice(y0, y0 + kh), slice(x0, x0 + kw))
    return image[box], mask[box], f"y={y0},x={x0},h={kh},w={kw}"


def _resize(image: np.ndarray, mask: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Shrink by `factor` (area averaging) and the mask by nearest neighbour, so that it stays
    boolean and follows the content. The long side is kept ≥ 128 px; returns the factor used."""
    h, w = image.shape[:2]
    factor = max(factor, MIN_RESIZED_SIDE / max(h, w))
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool), factor


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """Baseline JPEG, 4:2:0, through Pillow (the decoder the app reads evidence with)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, "JPEG", quality=int(quality))
    return buf.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))
