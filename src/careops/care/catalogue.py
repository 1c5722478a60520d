"""The service-package catalogue (`data/packages.yaml`): packages, their entitlements, prices,
validity, SLA tier and the condition whose control measures their outcome. Validated whole."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from careops.care.datafile import Strict, load
from careops.errors import NotFound

Tier = Literal["vip", "standard"]
Condition = Literal["bp", "glucose", "none"]
WHAT = ("服务包目录", "package catalogue")
ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Package(Strict):
    """One service package as sold."""

    name: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    department: str = Field(min_length=1, max_length=50)
    price_cny: float = Field(gt=0, le=1_000_000)
    launch_price_cny: float | None = Field(None, gt=0, le=1_000_000)
    validity_days: int = Field(ge=1, le=3660)
    tier: Tier
    condition: Condition = "none"
    entitlements: dict[str, int] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Package:
        if self.launch_price_cny is not None and self.launch_price_cny > self.price_cny:
            raise ValueError("launch_price_cny 高于 price_cny / launch price above list price")
        for k, n in self.entitlements.items():
            if not 1 <= n <= 10_000:
                raise ValueError(f"entitlements.{k}: 次数须在 1–10000 / count must be 1–10000")
        return self


class Catalogue(Strict):
    """The whole file: SLA seconds per tier, entitlement labels, packages by id."""

    sla: dict[Tier, float]
    entitlements: dict[str, list[str]]
    packages: dict[str, Package] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Catalogue:
        import re

        for k, labels in self.entitlements.items():
            if len(labels) != 2 or not all(labels):
                raise ValueError(f"entitlements.{k}: 须为 [中文, English] / must be [zh, en]")
        for tier in ("vip", "standard"):
            if tier not in self.sla or not 0 < self.sla[tier] <= 86_400:  # type: ignore[index]
                raise ValueError(f"sla.{tier}: 须为 1–86400 秒 / must be 1–86400 seconds")
        for pid, p in self.packages.items():
            if not re.fullmatch(ID, pid):
                raise ValueError(f"packages.{pid[:40]}: 编号不合法 / bad package id")
            for k in p.entitlements:
                if k not in self.entitlements:
                    raise ValueError(
                        f"packages.{pid}.entitlements.{k}: 未定义的权益 / entitlement not "
                        "declared under `entitlements`"
                    )
        return self

    def package(self, package_id: str) -> Package:
        """One package, or `NotFound` naming the ones that exist."""
        if package_id not in self.packages:
            raise NotFound(
                f"没有服务包 / no package {package_id[:64]!r}; known: {', '.join(self.packages)}",
                field="package",
            )
        return self.packages[package_id]

    def sla_seconds(self, package_id: str) -> float:
        """The consult first-reply limit of a package's tier."""
        return self.sla[self.package(package_id).tier]


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """A hospital's catalogue file, or the shipped one (cached)."""
    if path is None:
        return _shipped()
    return load(Catalogue, path, "packages.yaml", WHAT)


@lru_cache(maxsize=1)
def _shipped() -> Catalogue:
    return load(Catalogue, None, "packages.yaml", WHAT)
