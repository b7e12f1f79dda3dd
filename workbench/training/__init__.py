"""Training pipeline for the learned detectors: fine-tune a registered backbone on folders of real and
fake images (or self-blended fakes of real faces) and register the result in the model store. The
detector families (networks, input crops, backbones) are contributed by plugins (`Plugin.training`).
`python -m workbench.training --help`; the recipe is in `training/README.md`."""
