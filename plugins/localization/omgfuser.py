"""OMG-Fuser (Karageorgiou, Kordopatis-Zilos, Papadopoulos, CVPRW 2024) with the authors' released
networks: does an object-guided fusion of several forensic signals see a forgery, and where?

Each release fuses a fixed set of inputs that the authors computed with other published methods:

* score fusion (`omgfuser_score_fusion.pth`, 224²): the output maps of five deep localisers
  (SPAN, MVSS-Net++, IFOSN, CAT-Net v2, TruFor), the image, SAM object masks;
* feature fusion (`omgfuser_feature_fusion.pth`, 448²): the Noiseprint++ residual, the CAT-Net
  DCT stream's output, the image, SAM object masks.

The network is only meaningful on exactly those inputs, so the analyzer never substitutes the
workbench's own maps (its classical signals are other methods, and the project's own fusion,
`fusion`, is the default learned fusion). Every input is listed with where to get it; while one
is missing or is not yet computed by the workbench, the result is 'unavailable' naming each one.
The networks themselves (`omgfuser_net`) load the released files strictly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from workbench.api import Analyzer, Media, ModelStore, ModelUnavailable, Result, RunContext

SOURCE_REPO = "https://github.com/mever-team/omgfuser"


@dataclass(frozen=True)
class FusionInput:
    """One input a released network was trained on."""

    title: str
    model: str | None
    """The model-store id of the weights the user installs, or None for a whole published method."""
    source: str
    """Where the method (code and weights) is published."""
    computed: bool
    """Whether this version of the workbench computes the input once its weights are installed."""

    def problem(self, store: ModelStore) -> str | None:
        """Why the input cannot be had now (its file is missing, and/or it is not computed here yet), or None."""
        reasons = [store.unavailable_reason([self.model]) if self.model else None]
        if not self.computed:
            reasons.append(f"the workbench does not compute it yet (method: {self.source})")
        found = [r for r in reasons if r]
        return f"{self.title}: " + ", and ".join(found) if found else None


INSTANCE_MASKS = FusionInput(
    "SAM object masks (ViT-H automatic mask generator)", "sam_vit_h",
    "https://github.com/facebookresearch/segment-anything", computed=False,
)
SCORE_INPUTS = (
    FusionInput("OMG-Fuser score-fusion network", "omgfuser_score_fusion", SOURCE_REPO, computed=True),
    FusionInput("SPAN localisation map", None, "Hu et al., ECCV 2020: https://github.com/ZhiHanZ/IRIS0-SPAN",
                computed=False),
    FusionInput("MVSS-Net++ localisation map", None,
                "Dong et al., TPAMI 2022: https://github.com/dong03/MVSS-Net", computed=False),
    FusionInput("IFOSN localisation map", None,
                "Wu et al., CVPR 2022: https://github.com/HighwayWu/ImageForensicsOSN", computed=False),
    FusionInput("CAT-Net v2 localisation map", None,
                "Kwon et al., IJCV 2022: https://github.com/mjkwon2021/CAT-Net", computed=False),
    FusionInput("TruFor localisation map", None,
                "Guillaro et al., CVPR 2023: https://github.com/grip-unina/TruFor", computed=False),
    INSTANCE_MASKS,
)
"""The score-fusion release's `input_signals` "image,span,mvssnetplus,ifosn,catnetv2,trufor,sam_raw"."""
FEATURE_INPUTS = (
    FusionInput("OMG-Fuser feature-fusion network", "omgfuser_feature_fusion", SOURCE_REPO, computed=True),
    FusionInput("Noiseprint++ residual", "noiseprintplusplus", "TruFor's Noiseprint++ (Guillaro et al., CVPR 2023)",
                computed=False),
    FusionInput("CAT-Net DCT stream output", "catnet_dct_djpeg",
                "CAT-Net's DCT stream (Kwon et al., IJCV 2022), read from the JPEG's quantised DCT coefficients",
                computed=False),
    INSTANCE_MASKS,
)
"""The feature-fusion release's `input_signals` "image,npp,dct,sam_raw"."""


def model_ids(inputs: tuple[FusionInput, ...]) -> tuple[str, ...]:
    """The files the user installs for a release (the model manager offers each)."""
    return tuple(i.model for i in inputs if i.model)


def missing_inputs(inputs: tuple[FusionInput, ...], store: ModelStore) -> list[str]:
    """What keeps a release from running, one line per input."""
    return [problem for problem in (i.problem(store) for i in inputs) if problem]


@dataclass
class OmgFuserParams:
    """No settings: the released networks read fixed sizes and fixed inputs."""


class OmgFuserAnalyzer(Analyzer):
    """Shared behaviour of the two releases; subclasses name their inputs."""

    inputs: ClassVar[tuple[FusionInput, ...]]
    version = "1.0"
    Params = OmgFuserParams
    card_file = Path(__file__).with_name("omgfuser.md")
    on_frames = False
    """A fusion of still-image localisers, trained on photographs."""

    def run(self, media: Media, params: OmgFuserParams, ctx: RunContext) -> Result:
        missing = missing_inputs(self.inputs, ModelStore())
        # every release needs an input this version does not compute (see the card), so it stops here
        raise ModelUnavailable(
            f"{self.title} runs only on the inputs its authors trained it with, and this workbench never feeds it "
            f"other maps; missing ({len(missing)}): " + "; ".join(missing)
        )


class OmgFuserScoreAnalyzer(OmgFuserAnalyzer):
    id = "omgfuser_score_fusion"
    title = "OMG-Fuser score fusion (authors' network)"
    inputs = SCORE_INPUTS
    models = model_ids(SCORE_INPUTS)


class OmgFuserFeatureAnalyzer(OmgFuserAnalyzer):
    id = "omgfuser_feature_fusion"
    title = "OMG-Fuser feature fusion (authors' network)"
    inputs = FEATURE_INPUTS
    models = model_ids(FEATURE_INPUTS)
