"""What the synthetic generator makes: light, so a dataset can be named without loading awkward."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_CONFIG", "GeneratorConfig"]


@dataclass(frozen=True)
class GeneratorConfig:
    """What the generator makes; equal configs give identical events."""

    seed: int = 2020
    mc_scale: float = 1.0
    """Multiplies the number of generated MC events (statistical precision of the MC)."""
    data_scale: float = 1.0
    """Multiplies the number of data events. 1.0 is the physical 10.064 fb^-1; other values change the data
    statistics without changing the luminosity used for MC weights (so S/B is no longer physical)."""

    def __post_init__(self) -> None:
        if self.mc_scale <= 0 or self.data_scale <= 0:
            msg = f"mc_scale and data_scale must be positive, got {self.mc_scale} and {self.data_scale}"
            raise ValueError(msg)

    def as_dict(self) -> dict[str, float | int]:
        return {"seed": self.seed, "mc_scale": self.mc_scale, "data_scale": self.data_scale}


DEFAULT_CONFIG = GeneratorConfig()
