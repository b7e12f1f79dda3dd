"""The GPU path, measured: every learned network of the workbench timed on the CPU and on CUDA with
identical inputs, and the two outputs compared within float tolerance.

    .venv/bin/python -m bench.gpu --out docs/gpu.md     # a few minutes on a GPU machine (a CUDA build of torch)
    .venv/bin/python -m bench.gpu --cpu-only --quick    # the script itself, without a GPU

Each network is built as its manifest describes it (architecture and size of the published file)
with RANDOM weights (seeded): the figures are for timing and CPU/CUDA agreement only, never a
detector's answer. One copy of the weights runs on the CPU, a copy of the same weights on CUDA, on
the same input tensor at the size the analyzer feeds it (pre- and post-processing, which are numpy
on the CPU in every analyzer, are not timed). Per network: median wall time of `--repeat` passes
after warm-up (CUDA synchronised), the speed-up, the largest absolute CPU/CUDA difference relative
to the output's largest magnitude, the tolerance it must meet (TF32 convolutions and fp16 autocast
are what the application runs on CUDA, so they are what is compared), the peak CUDA memory per item
of the batch, and the batch size `workbench.core.device.batch_size` gives the batched steps there.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.report import publish
from workbench.core.models import BUNDLED_DIR

TOLERANCE = 1e-2
"""Relative to the output's largest magnitude: float32 with TF32 convolutions (PyTorch's default for
cuDNN on Ampere and later: 10-bit mantissa products) through dozens of random layers."""
FP16_TOLERANCE = 5e-2
"""S2VS's frame features run under fp16 autocast on CUDA, as in the authors' extraction scripts."""
Inputs = tuple[torch.Tensor | None, ...]


@dataclass(frozen=True)
class Case:
    """One network at the input an analyzer gives it."""

    name: str
    model_id: str
    build: Callable[[], nn.Module]
    inputs: Callable[[torch.Generator], Inputs]
    batch: int = 1
    """Items in one pass (faces, frames, candidate pairs): the peak memory is divided by it."""
    item_mb: float | None = None
    """The application's estimate of CUDA memory per item, where it sizes batches by free memory."""
    fp16: bool = False
    call: Callable[[nn.Module, Inputs], torch.Tensor] | None = None
    """How the analyzer calls the network when it is not `net(*inputs)` → one tensor."""


def manifest(model_id: str) -> dict:
    return json.loads((BUNDLED_DIR / f"{model_id}.json").read_text(encoding="utf-8"))


def images(batch: int, height: int, width: int, channels: int = 3) -> Callable[[torch.Generator], Inputs]:
    return lambda g: (torch.randn(batch, channels, height, width, generator=g),)


def randomised(net: nn.Module) -> nn.Module:
    """Parameters a layer initialises to zero (biases, the S2VS PCA projection) drawn at random too,
    so no output is trivially zero; eval mode."""
    with torch.no_grad():
        for p in net.parameters():
            if not p.any():
                p.normal_(0.0, 0.02)
    return net.eval()


def cases() -> list[Case]:
    from plugins.deepfake import mtcnn
    from plugins.deepfake import nets as deepfake_nets
    from plugins.geolocation import visloc_net
    from plugins.localization import msfusion_net, omgfuser_net
    from plugins.localization.fusion_net import FusionConfig, build, members
    from plugins.localization.trace_net import TraceConfig, TraceNet
    from plugins.similarity import ames_net, dinov2, locore_net, s2vs, s2vs_net, video_copy_features
    from plugins.similarity.ames import PAIR_MB
    from plugins.similarity.global_descriptor import gem
    from plugins.similarity.locore import NUM_DESCRIPTORS, WINDOW
    from plugins.similarity.longformer import LongformerConfig
    from plugins.similarity.mobilenet import MobileNetV2
    from plugins.synthetic import nets as synthetic_nets

    found: list[Case] = []
    for path in sorted(BUNDLED_DIR.glob("deepfake_*.json")):
        doc = manifest(path.stem)
        h, w = doc["input"]["size"]
        found.append(Case(f"deepfake member, 4 faces at {h}×{w}", doc["id"],
                          lambda network=doc["network"]: deepfake_nets.build(network), images(4, h, w), batch=4))
    for net_class, ids, inputs in ((mtcnn.PNet, "face_mtcnn_pnet", images(1, 384, 512)),
                                   (mtcnn.RNet, "face_mtcnn_rnet", images(64, 24, 24)),
                                   (mtcnn.ONet, "face_mtcnn_onet", images(16, 48, 48))):
        batch, _, h, w = inputs(torch.Generator())[0].shape
        found.append(Case(f"face detector MTCNN {net_class.__name__}, {batch} × {w}×{h}", ids, net_class, inputs,
                          batch=batch, call=lambda net, x: torch.cat([o.flatten() for o in net(*x)])))
    for path in sorted(BUNDLED_DIR.glob("synthetic_*.json")):
        doc = manifest(path.stem)
        found.append(Case("AI-generated-image detector, 512×512 (fit 'full')", doc["id"],
                          lambda network=doc["network"]: synthetic_nets.build(network), images(1, 512, 512)))
    found.append(Case("geolocation backbone, 300×400", "visloc_backbone", visloc_net.build_backbone,
                      images(1, 300, 400)))
    found.append(Case("geolocation retrieval head", "visloc_rrm", visloc_net.RetrievalHead,
                      lambda g: (torch.randn(1, 1792, generator=g),)))
    config = FusionConfig(**manifest("fusion_default")["network"])
    found.append(Case(f"fusion localiser, {config.num_signals} signals at 512×384", "fusion_default",
                      lambda: build(config),
                      lambda g: (torch.rand(1, 3, 384, 512, generator=g),
                                 torch.rand(1, config.num_signals, 384, 512, generator=g),
                                 torch.ones(1, config.num_signals, dtype=torch.bool)),
                      call=lambda net, x: torch.stack([member(*x)[0] for member in members(net)])))
    trace = TraceConfig(**manifest("noise_trace_default")["network"])
    found.append(Case("noise trace, one 512-px tile (+ margins) in grey levels", "noise_trace_default",
                      lambda: TraceNet(trace), lambda g: (255 * torch.rand(1, 3, 600, 600, generator=g),)))
    for variant in ("dct", "sb", "dct_sb"):
        streams = 1 + len(msfusion_net.VARIANTS[variant].streams)
        found.append(Case(f"multi-stream localiser, {streams} streams at 512×384", f"msfusion_{variant}",
                          lambda v=variant: msfusion_net.build(v),
                          lambda g, n=streams: tuple(torch.randn(1, 3, 384, 512, generator=g) for _ in range(n))))
    found.append(Case("search descriptor (MobileNetV2 + GeM), 512×384", "mobilenet_v2_imagenet", MobileNetV2,
                      images(1, 384, 512), call=lambda net, x: gem(net(x[0]))))
    found.append(Case("video copy frames (MobileNetV2 + GeM), 16 at 224×168", "mobilenet_v2_imagenet", MobileNetV2,
                      images(16, 168, 224), batch=16, item_mb=video_copy_features.FRAME_MB,
                      call=lambda net, x: gem(net(x[0]))))
    vit = dinov2.VitConfig(**manifest("dinov2_vitb14_reg")["network"])
    found.append(Case("search descriptor (DINOv2 ViT-B/14), 448×336", "dinov2_vitb14_reg",
                      lambda: dinov2.build_backbone(vit, init=True), images(1, 336, 448),
                      call=lambda net, x: net(x[0]).mean(dim=1)))
    found.append(Case("AMES local features (DINOv2 + detector), 1022×770", "ames_detector_dinov2",
                      lambda: nn.ModuleList([dinov2.build_backbone(vit, init=True),
                                             dinov2.SpatialAttention2d(vit.embed_dim)]),
                      images(1, 770, 1022), call=local_features))
    ames = {k: v for k, v in manifest("ames_dinov2")["network"].items() if k != "variant"}
    cfg = ames_net.AmesConfig(**ames)
    found.append(Case("AMES re-ranker, 16 pairs (600 × 50 tokens)", "ames_dinov2", lambda: ames_net.Ames(cfg),
                      lambda g: (torch.randn(16, 600, cfg.local_dim, generator=g), None,
                                 torch.randn(16, 50, cfg.local_dim, generator=g),
                                 torch.zeros(16, 50, dtype=torch.bool)),
                      batch=16, item_mb=PAIR_MB))
    found.append(Case("S2VS frame features (ResNet-50 L3-iMAC + PCA), 32 at 224×224", "s2vs_resnet50",
                      s2vs_net.FeatureExtractor,
                      lambda g: (torch.randint(0, 256, (32, 224, 224, 3), generator=g, dtype=torch.uint8),),
                      batch=32, item_mb=s2vs.FRAME_MB, fp16=True))
    found.append(Case("S2VS similarity, 60 × 60 frames", "s2vs_dns", s2vs_net.S2VSSimilarity,
                      lambda g: tuple(nn.functional.normalize(torch.randn(60, 9, 512, generator=g), dim=-1)
                                      for _ in range(2)),
                      call=lambda net, x: net(*x).reshape(1)))
    longformer = LongformerConfig(**manifest("locore_base")["network"])
    found.append(Case(f"LOCORE re-ranker, query + {WINDOW} images × {NUM_DESCRIPTORS} tokens", "locore_base",
                      lambda: locore_net.build(longformer, init=True),
                      lambda g: (torch.randn(1 + WINDOW, NUM_DESCRIPTORS, longformer.hidden_size, generator=g),
                                 torch.randn(1 + WINDOW, longformer.hidden_size, generator=g)),
                      call=locore_logits))
    for variant, cfg_o in omgfuser_net.VARIANTS.items():
        found.append(Case(f"OMG-Fuser {variant.replace('_', ' ')}, {cfg_o.signals} signals at {cfg_o.size}²",
                          f"omgfuser_{variant}", lambda v=variant: omgfuser_net.build(v),
                          lambda g, c=cfg_o: (torch.rand(1, 3 + c.signals, c.size, c.size, generator=g),
                                              torch.ones(1, c.tokens**2, c.tokens**2, dtype=torch.bool)),
                          call=lambda net, x: net(*x)["localization"]))
    return found


def locore_logits(net: nn.Module, x: Inputs) -> torch.Tensor:
    """LOCORE on one query and its gallery, from stacked local (I×L×C) and global (I×C) descriptors."""
    from plugins.similarity.locore_net import ImageTokens

    local, glob = x
    scales = torch.zeros(local.shape[1], dtype=torch.long, device=local.device)
    valid = torch.ones(local.shape[1], dtype=torch.bool, device=local.device)
    tokens = [ImageTokens(local[i], scales, valid, glob[i]) for i in range(local.shape[0])]
    return net(tokens[0], tokens[1:])


def local_features(net: nn.Module, x: Inputs) -> torch.Tensor:
    """DINOv2 tokens on a grid through the detector, as `dinov2.extract_local` does (before top-k)."""
    backbone, detector = net
    tokens = backbone(x[0])
    rows, cols = x[0].shape[2] // 14, x[0].shape[3] // 14
    desc, weight = detector(tokens.transpose(1, 2).reshape(1, tokens.shape[-1], rows, cols))
    return torch.cat([desc.flatten(), weight.flatten()])


def forward(case: Case, net: nn.Module, inputs: Inputs, device: str) -> torch.Tensor:
    with torch.inference_mode(), torch.autocast("cuda", torch.float16, enabled=case.fp16 and device == "cuda"):
        out = case.call(net, inputs) if case.call else net(*inputs)
    return out.float()


def timed(
    case: Case, net: nn.Module, inputs: Inputs, device: str, warmup: int, repeat: int
) -> tuple[float, torch.Tensor]:
    """(median seconds per pass, the output on the CPU)."""
    for _ in range(warmup):
        out = forward(case, net, inputs, device)
    times = []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = forward(case, net, inputs, device)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out.cpu()


@dataclass
class Row:
    case: Case
    cpu_s: float
    cuda_s: float | None = None
    rel_diff: float | None = None
    peak_mb_per_item: float | None = None
    app_batch: int | None = None
    error: str = ""

    @property
    def tolerance(self) -> float:
        return FP16_TOLERANCE if self.case.fp16 else TOLERANCE

    def cells(self) -> list[str]:
        c = self.case
        if self.error:
            return [c.name, f"`{c.model_id}`", f"{self.cpu_s * 1e3:.0f}" if self.cpu_s else "—", "—", "—",
                    f"failed: {self.error}", "—", "—"]
        if self.cuda_s is None:
            return [c.name, f"`{c.model_id}`", f"{self.cpu_s * 1e3:.0f}", "—", "—", "—", "—", "—"]
        verdict = "agrees" if self.rel_diff is not None and self.rel_diff <= self.tolerance else "**DIFFERS**"
        return [c.name, f"`{c.model_id}`", f"{self.cpu_s * 1e3:.0f}", f"{self.cuda_s * 1e3:.1f}",
                f"× {self.cpu_s / self.cuda_s:.1f}", f"{self.rel_diff:.1e} ≤ {self.tolerance:.0e}: {verdict}",
                f"{self.peak_mb_per_item:.0f}" + (f" (app assumes {c.item_mb:g})" if c.item_mb else ""),
                str(self.app_batch) if self.app_batch else "—"]


def measure(case: Case, cuda: bool, warmup: int, repeat: int, cpu_repeat: int) -> Row:
    from workbench.core.device import batch_size

    torch.manual_seed(0)
    net = randomised(case.build())
    inputs = case.inputs(torch.Generator().manual_seed(1))
    cpu_s, cpu_out = timed(case, net, inputs, "cpu", 1, cpu_repeat)
    row = Row(case, cpu_s)
    if not torch.isfinite(cpu_out).all():
        row.error = "non-finite output on the CPU (random weights)"
        return row
    if not cuda:
        return row
    gpu_net = copy.deepcopy(net).to("cuda")
    gpu_inputs = tuple(x.to("cuda") if x is not None else None for x in inputs)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    row.cuda_s, cuda_out = timed(case, gpu_net, gpu_inputs, "cuda", warmup, repeat)
    row.peak_mb_per_item = (torch.cuda.max_memory_allocated() - before) / 2**20 / case.batch
    scale = float(cpu_out.abs().max()) or 1.0
    row.rel_diff = float((cpu_out - cuda_out).abs().max()) / scale
    if case.item_mb:
        row.app_batch = batch_size("cuda", case.item_mb, case.batch)
    del gpu_net, gpu_inputs
    torch.cuda.empty_cache()
    return row


HEADER = ["network (input as the analyzer gives it)", "model", "CPU ms", "CUDA ms", "speed-up",
          "‖CPU − CUDA‖∞ / ‖CPU‖∞", "peak CUDA MiB per item", "app batch on this card"]


APPLICATION = """The application runs every learned analyzer and the search descriptors on the device the
preference names (Settings ▸ Preferences ▸ Compute device: automatic = CUDA, else Apple MPS, else CPU;
`workbench.core.device.resolve_device`); a device that is asked for but absent gives the CPU, and the
status bar says why. Classical analyzers always run on the CPU. Each result's provenance records the
device it ran on. Batched steps (video copy frames, S2VS frame features, AMES candidate pairs) take as
many items as half the GPU's free memory holds at the per-item estimate in the table (capped at 256);
the table's peak memory per item is the measured figure to check those estimates against. Not in the
table, because they always run on the CPU: the geolocation cell head (a float64 1792 × 31,145 product
that not every accelerator supports) and the YuNet face detector (OpenCV's DNN module)."""


def report(rows: list[Row], cuda: bool, args: argparse.Namespace) -> str:
    device = torch.cuda.get_device_name(0) if cuda else "none"
    free = f" ({torch.cuda.mem_get_info()[0] / 2**30:.1f} GiB free)" if cuda else ""
    usage, _, measures = (__doc__ or "").partition("\n\n    .venv")[2].partition("\n\n")
    lines = [
        "# GPU path: CPU against CUDA",
        "",
        f"Made by `python -m bench.gpu{' --cpu-only' if args.cpu_only else ''}{' --quick' if args.quick else ''}` "
        f"on {time.strftime('%Y-%m-%d')}: {platform.machine()}, {torch.get_num_threads()} CPU threads; GPU: "
        f"{device}{free}; PyTorch {torch.__version__} (CUDA {torch.version.cuda}). Median of {args.cpu_repeat} "
        f"CPU and {args.repeat} CUDA passes after warm-up.",
        "",
    ]
    if not cuda:
        lines += ["**No CUDA device was available to this run**: the CUDA columns are empty and nothing was "
                  "compared; the CPU column only shows that every network builds and runs, at this machine's "
                  "speed. Run the command below on a machine with a GPU to fill them.", ""]
    lines += [
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(row.cells()) + " |" for row in rows),
        "",
    ]
    failed = [r for r in rows if r.error or (r.rel_diff is not None and r.rel_diff > r.tolerance)]
    done = "ran and agree within tolerance" if cuda else "ran on the CPU"
    lines += [f"{len(rows) - len(failed)} of {len(rows)} networks {done}.", "",
              "## How to run it", "", "    .venv" + usage, "", "## What it measures", "",
              " ".join(measures.split()), "", "## The application on a GPU", "", " ".join(APPLICATION.split()), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-only", action="store_true", help="time the CPU only (checks the script without a GPU)")
    parser.add_argument("--quick", action="store_true", help="one CPU and three CUDA passes per network")
    parser.add_argument("--models", help="comma-separated model ids to keep (default: all)")
    parser.add_argument("--repeat", type=int, default=20, help="timed CUDA passes (default 20)")
    parser.add_argument("--cpu-repeat", type=int, default=3, help="timed CPU passes (default 3)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.cpu_repeat = 3, 1
    cuda = torch.cuda.is_available() and not args.cpu_only
    keep = set(args.models.split(",")) if args.models else None
    rows = []
    for case in cases():
        if keep and case.model_id not in keep:
            continue
        print(f"{case.name} ({case.model_id}) …", flush=True)
        try:
            rows.append(measure(case, cuda, warmup=3, repeat=args.repeat, cpu_repeat=args.cpu_repeat))
        except (RuntimeError, ValueError) as exc:  # one network's failure is a row, not the end of the bench
            rows.append(Row(case, 0.0, error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"))
        print("  " + " | ".join(rows[-1].cells()[2:]), flush=True)
    publish(report(rows, cuda, args), args.out)


if __name__ == "__main__":
    main()
