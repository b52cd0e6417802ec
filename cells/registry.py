"""The cell variants: one declaration each, from which every list of them is derived.

A `CellVariant` says what an `Architecture.variant` (a spec's `cell`) becomes: its cell class,
how an `Architecture` makes it, which variant-specific options it reads and whether the default
search space includes it. From the declarations come `VARIANTS` and `CONV_VARIANTS`, the
`Architecture` check and the spec's `cell` domain, `cells.recurrent.make_cell` and
`recurrent_layer`, the lazy names of `cells`, the modules `cells.register_all` imports so that
saved models reload, the default space's `cell` list and the cells an option applies to (the
`when: {cell: [...]}` of a spec that searches it).

Adding a variant is one declaration: a built-in one in `_BUILT_IN` below, a user's (or a
test's) through `register_variant(CellVariant(...))` before the spec is parsed. A registered
variant exists in the process that registered it: a search's trials run in Ray workers, so the
module that registers it must be imported there too.

No Keras here: a declaration names its cell class as "module:Class", imported on first use,
so `import cells` and the spec stay Keras-free.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cells.architecture import Architecture

# Architecture fields that only the variants declaring them read (`CellVariant.options`).
VARIANT_OPTIONS = ("reset_after", "conv_kernel")


def conv_filters(units: int, length: int) -> int:
    """Filters per position that give a conv cell a state of about `units` values per step.

    A conv cell's state is (length, filters), so `units` filters per position would make it
    `length` times wider than every other variant's at the same `units`:
    filters = max(1, ceil(units / length)), a state of length * filters >= units values.
    """
    return max(1, math.ceil(units / length))


def units_cell(cell_class: type, arch: Architecture, features: int | None) -> Any:
    """The default `CellVariant.make`: `cell_class(arch.units)`."""
    return cell_class(arch.units)


def _gru_cell(cell_class: type, arch: Architecture, features: int | None) -> Any:
    return cell_class(arch.units, reset_after=arch.reset_after)


def _layernorm_cell(cell_class: type, arch: Architecture, features: int | None) -> Any:
    return cell_class(arch.units, layer_norm=True)


def _conv_cell(
    cell_class: type, arch: Architecture, features: int, *, separable: bool = False
) -> Any:
    return cell_class(
        conv_filters(arch.units, features), kernel_size=arch.conv_kernel, separable=separable
    )


@dataclass(frozen=True)
class CellVariant:
    """One cell variant: its spec name, its cell and how an `Architecture` makes it."""

    # The spec's `cell` value and `Architecture.variant`.
    name: str
    # The cell class, or "module:Class" to import it on first use (keeps `import cells` light).
    cell: str | type
    # (cell class, architecture, features) -> the cell. `features` is the length of the input's
    # feature axis, always a positive integer for a convolutional variant.
    make: Callable[[type, Architecture, int | None], Any] = units_cell
    # The VARIANT_OPTIONS this variant reads (reset_after: gru; conv_kernel: the conv cells).
    options: tuple[str, ...] = ()
    # The whole-sequence layer is `keras.layers.GRU` (the fused/cuDNN kernel, with `units` and
    # `reset_after`) instead of `HoistedRNN` around the cell; the cell serves attention.
    fused: bool = False
    # The cell convolves along the feature axis: the builder feeds it (features, channels) maps
    # and keeps `features` channels in the convolutions in front of it.
    convolutional: bool = False
    # Place in the default space's `cell` list, lowest first, ties in registration order (a
    # seeded search draws by index, so the order is part of its results); None: only a spec's
    # own space searches it.
    default_rank: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.name, str) or not self.name.isidentifier():
            problems.append(f"name must be an identifier such as 'toy', but got {self.name!r}.")
        if isinstance(self.cell, str):
            module, _, class_name = self.cell.partition(":")
            if not (module and class_name):
                problems.append(
                    f"cell must be a class or 'module:Class' (e.g. 'cells.mgu:MGUCell'), "
                    f"but got {self.cell!r}."
                )
        elif not isinstance(self.cell, type):
            problems.append(f"cell must be a class or 'module:Class', but got {self.cell!r}.")
        if not callable(self.make):
            problems.append(f"make must be callable, but got {self.make!r}.")
        options = self.options
        if not isinstance(options, tuple) or any(o not in VARIANT_OPTIONS for o in options):
            problems.append(
                f"options must be a tuple of {VARIANT_OPTIONS}, but got {self.options!r}."
            )
        rank = self.default_rank
        if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool)):
            problems.append(f"default_rank must be an integer or None, but got {rank!r}.")
        if problems:
            raise ValueError(f"CellVariant {self.name!r}: " + " ".join(problems))

    @property
    def module(self) -> str:
        """The module that defines (and registers for serialisation) the cell class."""
        if isinstance(self.cell, type):
            return self.cell.__module__
        return self.cell.partition(":")[0]

    @property
    def class_name(self) -> str:
        if isinstance(self.cell, type):
            return self.cell.__qualname__
        return self.cell.partition(":")[2]

    def cell_class(self) -> type:
        if isinstance(self.cell, type):
            return self.cell
        return getattr(importlib.import_module(self.module), self.class_name)

    def make_cell(self, arch: Architecture, features: int | None = None) -> Any:
        """This variant's cell for `arch`; `features` as for `cells.recurrent.make_cell`."""
        if self.convolutional and (
            not isinstance(features, int) or isinstance(features, bool) or features < 1
        ):
            raise ValueError(
                f"Variant {self.name!r} needs the number of features (the length of its "
                f"convolution axis) as a positive integer `features`, but got {features!r}."
            )
        return self.make(self.cell_class(), arch, features)


_BUILT_IN = (
    CellVariant(
        "gru",
        "keras.layers:GRUCell",
        make=_gru_cell,
        options=("reset_after",),
        fused=True,
        default_rank=0,
    ),
    CellVariant("minimal", "cells.minimal:MinimalRNNCell", default_rank=2),
    CellVariant("mgu", "cells.mgu:MGUCell", default_rank=1),
    CellVariant(
        "layernorm", "cells.layernorm_gru:LayerNormGRUCell", make=_layernorm_cell, default_rank=3
    ),
    # Left out of the default space: they convolve along the feature axis, which the univariate
    # series the default space is sized for do not have (search.spec.space_section).
    CellVariant(
        "convgru",
        "cells.conv_gru:ConvGRU1DCell",
        make=_conv_cell,
        options=("conv_kernel",),
        convolutional=True,
    ),
    CellVariant(
        "sepconvgru",
        "cells.conv_gru:ConvGRU1DCell",
        make=functools.partial(_conv_cell, separable=True),
        options=("conv_kernel",),
        convolutional=True,
    ),
)
# name -> declaration, in registration order: the built-ins, then `register_variant`'s.
_REGISTRY: dict[str, CellVariant] = {variant.name: variant for variant in _BUILT_IN}

# The built-in variants (`register_variant` adds to `variant_names()`, not to these).
VARIANTS = tuple(variant.name for variant in _BUILT_IN)
CONV_VARIANTS = tuple(variant.name for variant in _BUILT_IN if variant.convolutional)
# `cells`' lazy names for the built-in cell classes: class name -> module.
LAZY_CELL_NAMES = {
    variant.class_name: variant.module
    for variant in _BUILT_IN
    if variant.module.startswith("cells.")
}


def register_variant(variant: CellVariant) -> CellVariant:
    """Add a variant: `Architecture(variant=name)`, a spec's `cell: [name]`, `make_cell`,
    `build_model` and `cells.load_model` know it from now on (in this process). Returns it."""
    if not isinstance(variant, CellVariant):
        raise TypeError(f"register_variant takes a CellVariant, but got {variant!r}.")
    if variant.name in _REGISTRY:
        raise ValueError(
            f"A cell variant named {variant.name!r} is already registered; pick another name "
            f"(registered: {', '.join(_REGISTRY)})."
        )
    _REGISTRY[variant.name] = variant
    return variant


def unregister_variant(name: str) -> None:
    """Remove a variant `register_variant` added (the built-in ones stay)."""
    if name in VARIANTS:
        raise ValueError(f"{name!r} is a built-in cell variant; only registered ones can go.")
    if name not in _REGISTRY:
        raise ValueError(f"No registered cell variant is named {name!r}.")
    del _REGISTRY[name]


def variant_names() -> tuple[str, ...]:
    """Every variant's name: the built-ins (`VARIANTS`), then the registered ones."""
    return tuple(_REGISTRY)


def get_variant(name: str) -> CellVariant:
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown cell variant {name!r}; expected one of {', '.join(_REGISTRY)} "
            "(cells.registry.register_variant adds one)."
        )
    return _REGISTRY[name]


def default_cells() -> list[str]:
    """The default search space's `cell` list: the variants with a `default_rank`, in its order."""
    ranked = [v for v in _REGISTRY.values() if v.default_rank is not None]
    return [v.name for v in sorted(ranked, key=lambda v: v.default_rank)]


def variants_with(option: str) -> tuple[str, ...]:
    """The variants that read `option` (one of VARIANT_OPTIONS): a spec that searches it
    conditions it on them, `when: {cell: [...]}`."""
    if option not in VARIANT_OPTIONS:
        raise ValueError(f"option must be one of {VARIANT_OPTIONS}, but got {option!r}.")
    return tuple(name for name, v in _REGISTRY.items() if option in v.options)


def cell_modules() -> tuple[str, ...]:
    """The modules that define the variants' cells (Keras' own excepted), once each: importing
    them registers the cells for `keras.saving.load_model`."""
    modules = (v.module for v in _REGISTRY.values())
    return tuple(dict.fromkeys(m for m in modules if m.partition(".")[0] != "keras"))
