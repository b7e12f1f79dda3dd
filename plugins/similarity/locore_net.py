"""The LOCORE network (Xiao et al., CVPR 2025), laid out so the authors' released
`locore_base.safetensors` loads unchanged with `strict=True`.

LOCORE re-ranks a whole list at once: one sequence holds the query's block and up to 100 gallery
blocks, each [global token, 48 local tokens, SEP], through a Longformer whose SEP tokens and query
block have global attention (every token sees them, they see every token) while the other tokens
see ±256 positions around them. A linear classifier scores every token ("does this token belong
to an image that matches the query?"); an image's score is the raw class-1 logit of its last local
token (the authors' "max-end", used in their sliding-window evaluation).

Module names follow the authors' `ExtractiveLongformerForCache` (`language_model.longformer` with the
loose `sep_embedding` / `pad_embedding` vectors, `language_model.classifier`, `scale_encoder`).
The released DINOv2 model has 768-d descriptors and a 768-d Longformer, so there is no projection
in between (the authors' `local_to_lm` / `global_to_lm` are identities and absent from the file).

Imports torch at module level: only imported when the re-ranker runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from plugins.similarity.longformer import Longformer, LongformerConfig

NUM_SCALES = 3
"""Rows of the scale encoder (CVNet's three scales; DINOv2 descriptors all use row 0)."""


@dataclass(frozen=True)
class ImageTokens:
    """One image's inputs: `local` L×C descriptors, `scales` L scale indices, `valid` L bools
    (False = padding), `global_` the C-d global descriptor."""

    local: torch.Tensor
    scales: torch.Tensor
    valid: torch.Tensor
    global_: torch.Tensor


@dataclass(frozen=True)
class Sequence:
    """The Longformer's input for one query: vectors (N×C), attention (N, False = masked) and
    global attention (N), N = (1 + gallery) × block."""

    embeds: torch.Tensor
    valid: torch.Tensor
    is_global: torch.Tensor
    block: int


class LocoreLongformer(Longformer):
    """The authors' `LongformerModelWithoutEmbedding`: the encoder plus the two word-embedding rows
    they kept when dropping the vocabulary (SEP is a token of every block; PAD only filled their
    padding to the attention window, which is masked, so it never changes an output)."""

    def __init__(self, cfg: LongformerConfig) -> None:
        super().__init__(cfg)
        self.sep_embedding = nn.Parameter(torch.zeros(cfg.hidden_size))
        self.pad_embedding = nn.Parameter(torch.zeros(cfg.hidden_size))


class LanguageModel(nn.Module):
    """The authors' `LongformerForExtrativeRetrieval`: encoder + a per-token 2-way classifier."""

    def __init__(self, cfg: LongformerConfig) -> None:
        super().__init__()
        self.longformer = LocoreLongformer(cfg)
        self.classifier = nn.Linear(cfg.hidden_size, 2)


class Locore(nn.Module):
    """`forward(query, gallery)` → one raw logit per gallery image (G,), see `image_logits`."""

    def __init__(self, cfg: LongformerConfig = LongformerConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.language_model = LanguageModel(cfg)
        self.scale_encoder = nn.Embedding(NUM_SCALES, cfg.hidden_size)

    def max_gallery(self, locals_per_image: int) -> int:
        """Gallery images one sequence can hold (101 for 48 locals and 5120 positions)."""
        return self.cfg.max_tokens // (locals_per_image + 2) - 1

    def forward(self, query: ImageTokens, gallery: list[ImageTokens]) -> torch.Tensor:
        seq = build_sequence(self, query, gallery)
        hidden = self.language_model.longformer(seq.embeds[None], seq.valid[None], seq.is_global[None])[0]
        return image_logits(self.language_model.classifier(hidden), seq.block)


def block_embeds(net: Locore, image: ImageTokens) -> torch.Tensor:
    """[global, local + scale embedding …, SEP]: one image's (L + 2)×C block. No scale embedding on
    the global token, no segment or image-index embedding: blocks differ only by position."""
    local = image.local + net.scale_encoder(image.scales)
    sep = net.language_model.longformer.sep_embedding
    return torch.cat([image.global_[None], local, sep[None]])


def build_sequence(net: Locore, query: ImageTokens, gallery: list[ImageTokens]) -> Sequence:
    """The query block first, then one block per gallery image in shortlist order. Global
    attention on every SEP and on the whole query block; padded descriptors masked."""
    images = [query, *gallery]
    block = len(query.local) + 2
    if any(len(im.local) + 2 != block for im in images):
        raise ValueError("every image needs the same number of local descriptors (pad and mask the short ones)")
    if len(gallery) > net.max_gallery(block - 2):
        raise ValueError(f"{len(gallery)} gallery images: one sequence holds at most {net.max_gallery(block - 2)}")
    device = query.local.device
    yes = torch.ones(1, dtype=torch.bool, device=device)
    embeds = torch.cat([block_embeds(net, im) for im in images])
    valid = torch.cat([torch.cat([yes, im.valid.bool(), yes]) for im in images])
    is_global = torch.zeros_like(valid)
    is_global[block - 1 :: block] = True  # every SEP
    is_global[:block] = True  # the query block
    return Sequence(embeds, valid, is_global & valid, block)


def image_logits(token_logits: torch.Tensor, block: int) -> torch.Tensor:
    """Per gallery image, the class-1 logit of its last local token ("max-end"): token logits
    N×2 → blocks (1 + G)×block → drop the query block and every SEP → the last remaining column."""
    per_block = token_logits[:, 1].reshape(-1, block)
    return per_block[1:, :-1][:, -1]


def build(cfg: LongformerConfig = LongformerConfig(), init: bool = False) -> Locore:
    """The network with uninitialised memory (it is about to receive the checkpoint; random init of
    110 M parameters costs seconds); `init=True` for random weights (tests only)."""
    if init:
        return Locore(cfg)
    with torch.device("meta"):
        net = Locore(cfg)
    return net.to_empty(device="cpu")
