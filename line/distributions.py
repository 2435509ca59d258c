"""Processing-time distributions: they validate themselves and carry their analytic mean.

Times are in seconds. Every distribution samples from a ``random.Random`` it is given,
so that each stream of a simulation has its own generator.
"""

from __future__ import annotations

import math
import random
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Distribution(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def variance(self) -> float:
        raise NotImplementedError

    def sample(self, rng: random.Random) -> float:
        raise NotImplementedError


class Deterministic(_Distribution):
    kind: Literal["deterministic"] = "deterministic"
    value: float = Field(gt=0)

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    def sample(self, rng: random.Random) -> float:
        return self.value


class Exponential(_Distribution):
    kind: Literal["exponential"] = "exponential"
    mean_: float = Field(gt=0, alias="mean")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return self.mean_**2

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean_)


class Uniform(_Distribution):
    kind: Literal["uniform"] = "uniform"
    low: float = Field(ge=0)
    high: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high <= self.low:
            raise ValueError(f"high ({self.high}) must be greater than low ({self.low})")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


class Triangular(_Distribution):
    kind: Literal["triangular"] = "triangular"
    low: float = Field(ge=0)
    mode: float = Field(ge=0)
    high: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not (self.low <= self.mode <= self.high and self.low < self.high):
            raise ValueError(
                f"need low <= mode <= high and low < high (got {self.low}, {self.mode}, "
                f"{self.high})"
            )
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3

    @property
    def variance(self) -> float:
        a, c, b = self.low, self.mode, self.high
        return (a * a + b * b + c * c - a * b - a * c - b * c) / 18

    def sample(self, rng: random.Random) -> float:
        return rng.triangular(self.low, self.high, self.mode)


class LogNormal(_Distribution):
    """Log-normal given by the mean and standard deviation of the time itself."""

    kind: Literal["lognormal"] = "lognormal"
    mean_: float = Field(gt=0, alias="mean")
    sd: float = Field(gt=0)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @property
    def _sigma2(self) -> float:
        return math.log1p((self.sd / self.mean_) ** 2)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return self.sd**2

    def sample(self, rng: random.Random) -> float:
        sigma2 = self._sigma2
        mu = math.log(self.mean_) - sigma2 / 2
        return rng.lognormvariate(mu, math.sqrt(sigma2))


Distribution = Annotated[
    Deterministic | Exponential | Uniform | Triangular | LogNormal,
    Field(discriminator="kind"),
]
"""Any processing-time distribution, told apart by its ``kind`` field in YAML."""
