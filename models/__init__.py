"""Models: the workload IR (`Layer`, `Workload`...), the zoo (`models.zoo`) and importers
(`models.importers`, which need torch and are not imported here)."""

from lowbit.models.ir import ConvGeometry, Layer, OpKind, Phase, Workload

__all__ = ["ConvGeometry", "Layer", "OpKind", "Phase", "Workload"]
