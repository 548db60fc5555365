"""The configuration of one training run: every setting declared once, with its flag, help and allowed values.

:class:`RunConfig`'s fields carry a :class:`Setting` each. From those declarations come the ``satbench run`` options
(:func:`add_run_arguments`), the workflow schema's per-model settings (:func:`model_settings_schema`, which a test
holds against ``config/schema.yaml``), the checks of bounds and choices (:meth:`RunConfig.check`), the command
line that reproduces a configuration (:meth:`RunConfig.to_argv`), and from each setting's role (:data:`ROLES`) what a
checkpoint must share with a run to be resumed, which settings are columns of ``runs.parquet`` and which of those are
integers. Adding a setting is one field here (docs/development.md shows one).

Two steps turn what a user gave into what runs, each its own function: :meth:`RunConfig.resolved` fills in what the
user left to the method or to the dataset's registry (canonical names, the method's options with their defaults, its
weight sync and local steps), and :meth:`RunConfig.check` refuses anything that cannot run, with one readable line.
:meth:`RunConfig.validate` does both, once: the configuration it returns knows it is validated
(:attr:`RunConfig.validated`), so the launcher and the trainer, which validate what they are handed, check it no more.
This module imports no torch, so the command line's help needs none.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .choices import DEVICES, HALO_MODES, LAUNCHERS, MODELS, NORMS, PARTITIONERS, WEIGHT_SYNCS
from .bounds import INT64, check_bounds
from .errors import ConfigError

# gloo refuses a collective timeout of 1e13 s (an int64 overflow inside); 1e9 s (31 years) works.
MAX_TIMEOUT_S = 1e9
# Adam divides the learning rate by (1 - beta1) in float32 arithmetic: far beyond any useful rate, it overflows.
MAX_LR = 1e30

GROUPS = {
    "what": "what to train",
    "model": "model and optimiser",
    "distribution": "distribution",
    "measurement": "measurement",
    "io": "input and output",
}

# What a setting is to the rest of the suite. Everything that sorts settings derives from these: the checkpoint's
# identity (satbench.runtime.checkpoint), runs.parquet's setting columns (satbench.report.frames) and their integer
# columns (satbench.report.render); a test holds each of them to the roles.
ROLES = {
    "result": "shapes what the run computes or measures: part of a checkpoint's identity and a column of runs.parquet",
    "runner": "how the workers run, which only the timings depend on: a column of runs.parquet, not part of a "
              "checkpoint's identity (a run checkpointed in-process may resume as processes)",
    "operation": "how the run is watched, bounded and checkpointed: in the record's config, neither of the above",
    "io": "where the run keeps its files and how its record is labelled: in the record's config, neither of the above",
}


@dataclass(frozen=True)
class Setting:
    """How one run setting is given and what it may be.

    ``flag``: its command-line option (default ``--name-with-dashes``; None: not on the command line). ``kind``:
    ``value`` (an option with a value), ``switch`` (present or absent), ``negated`` (``--no-X`` turns it off),
    ``pairs`` (repeatable ``KEY=VALUE``). Bounds: ``minimum``/``maximum`` inclusive, ``above``/``below`` exclusive;
    ``finite`` refuses NaN and infinities. ``model_setting``: also settable per model in a workflow config.
    ``default_text``: how the help states a default of None. ``role``: one of :data:`ROLES`."""

    help: str
    flag: str | None = ""
    short: str | None = None
    group: str = "what"
    kind: str = "value"
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    finite: bool = False
    model_setting: bool = False
    required: bool = False
    metavar: str | None = None
    default_text: str | None = None
    role: str = "result"

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r} is none of {', '.join(ROLES)}")


def setting(default: Any, help: str, **declaration: Any) -> Any:
    """A dataclass field whose metadata is its :class:`Setting`."""
    if callable(default):
        return field(default_factory=default, metadata={"setting": Setting(help, **declaration)})
    return field(default=default, metadata={"setting": Setting(help, **declaration)})


@dataclass
class RunConfig:
    # -- what to train
    dataset: str = setting("", "registry name (see `satbench datasets`), e.g. cora or "
                               "amazon-photo:split=random,seed=3, or npz:PATH", required=True)
    model: str = setting("gcn", "GNN architecture", choices=MODELS)
    method: str = setting("exact", "halo method (see `satbench methods`)")
    workers: int = setting(2, "worker processes (W), one part of the graph each", short="-w", minimum=1)
    epochs: int = setting(100, "training epochs", minimum=1, model_setting=True)
    seed: int = setting(0, "model initialisation and dropout seed", minimum=INT64[0], maximum=INT64[1])
    # -- model and optimiser
    hidden: int = setting(64, "hidden width", group="model", minimum=1, model_setting=True)
    layers: int = setting(2, "GNN layers", group="model", minimum=1, model_setting=True)
    lr: float = setting(0.01, "Adam learning rate", group="model", above=0, maximum=MAX_LR, finite=True,
                        model_setting=True)
    weight_decay: float = setting(0.0, "Adam weight decay", group="model", minimum=0, finite=True, model_setting=True)
    dropout: float = setting(0.5, "dropout before every layer (keyed by global node id, so equal on every worker)",
                             group="model", minimum=0, below=1, finite=True, model_setting=True)
    norm: str = setting("none", "normalisation of hidden layers", group="model", choices=NORMS, model_setting=True)
    heads: int = setting(4, "GAT attention heads (hidden layers)", group="model", minimum=1, model_setting=True)
    # -- distribution
    device: str = setting("cpu", "cuda: one GPU per worker (NCCL); cpu: gloo", group="distribution",
                          choices=DEVICES)
    partitioner: str = setting("metis", "how the graph is cut into W parts", group="distribution",
                               choices=PARTITIONERS)
    partition_seed: int = setting(0, "partitioner seed (parts stay fixed across training seeds, as in the papers)",
                                  group="distribution", minimum=INT64[0], maximum=INT64[1])
    weight_sync: str | None = setting(None, "override the method's choice: gradient all-reduce every step, or model "
                                            "averaging every epoch", group="distribution", choices=WEIGHT_SYNCS,
                                      default_text="the method's")
    local_steps: int | None = setting(None, "optimiser steps per epoch", group="distribution", minimum=1,
                                      default_text="the method's")
    method_options: dict[str, Any] = setting(dict, "a method hyperparameter (repeatable; see `satbench methods`)",
                                             flag="--option", short="-o", group="distribution", kind="pairs",
                                             metavar="KEY=VALUE")
    # "method": the rows the method supplies; "fresh": the fresh-halo control (the method's whole protocol, with every
    # halo row it supplies replaced by the exact row of that layer and step)
    halo: str = setting("method", "fresh: the method's fresh-halo control. Its whole protocol runs (weight sync, local "
                                  "steps, sync schedule, its own traffic, halo gradients or not), but every halo row "
                                  "it supplies is replaced by the exact row of that layer and step; the extra exchange "
                                  "is counted apart (control_bytes). Separates what staleness costs from what the "
                                  "protocol costs", group="distribution", choices=HALO_MODES)
    # Layer-1 halo rows computed locally, exactly, from an aggregate their owners send once (GCN and SAGE only)
    exact_first_layer: bool = setting(False, "GCN/SAGE: owners send each halo node's static first-layer aggregate "
                                             "once, at setup (counted); workers then compute exact layer-1 halo rows "
                                             "with their current weights at every step, and the method supplies only "
                                             "layers >= 2. Needs dropout 0, no batch norm", group="distribution",
                                      kind="switch", model_setting=True)
    # Emulated links, "RATE[,DELAY]" in tc's units (satbench.links): every worker's traffic crosses a link of that
    # rate and delay. None: workers talk over the machine's loopback.
    network: str | None = setting(None, "emulated links (one machine, W > 1): each worker runs in its own network "
                                        "namespace with one full-duplex link of RATE (and DELAY on what it sends) to "
                                        "a switch, shaped with tc, in tc's units, e.g. 1gbit,200us or 100mbit. Needs "
                                        "root or CAP_NET_ADMIN and iproute2; DELAY needs the kernel's netem",
                                  group="distribution", metavar="RATE[,DELAY]", default_text="loopback")
    # How the W workers run: OS processes (spawn; torchrun when its variables are set) or threads of one process
    # (inprocess: the accuracy and staleness studies; same records, timings that do not represent a deployment).
    launcher: str = setting("spawn", "spawn: one OS process per worker in a torch.distributed group (gloo on CPU, NCCL "
                                     "on CUDA), as a deployment runs; inprocess: the W workers as threads of this "
                                     "process over an in-process group (the same records, apart from timings, at a "
                                     "fraction of the cost: for accuracy and staleness studies, not for timings; "
                                     "CPU only)", group="distribution", choices=LAUNCHERS, role="runner")
    timeout_s: float = setting(300.0, "seconds a collective may wait for a peer before the run fails",
                               flag="--timeout", group="distribution", above=0, maximum=MAX_TIMEOUT_S, finite=True,
                               role="operation")
    # -- measurement
    eval_every: int = setting(1, "evaluate every K epochs (and at the last)", group="measurement", minimum=1)
    staleness_every: int = setting(10, "measure halo staleness against exact embeddings every K epochs (and at the "
                                       "first and last); 0 disables", group="measurement", minimum=0)
    # -- input and output
    data_root: str = setting("data", "where datasets' files are kept", group="io", role="io")
    mirror: str | None = setting(None, "directory to copy raw dataset files from, or several separated by the path "
                                       "separator (':'), searched in order", group="io",
                                 default_text="$SATBENCH_DATA_MIRROR", role="io")
    cache_dir: str = setting("cache", "where partitions are cached", group="io", role="io")
    save_model: str | None = setting(None, "save the final weights (state dict); with several seeds it must contain "
                                           "{seed}", group="io", metavar="PATH", default_text="not saved", role="io")
    progress: bool = setting(True, "hide the progress bar", flag="--no-progress", group="io", kind="negated",
                             role="operation")
    log_every: int = setting(1, "without a progress bar (--no-progress, or output that is not a terminal): log one "
                                "line every K epochs", group="io", minimum=1, role="operation")
    checkpoint_every: int = setting(0, "save a checkpoint every K epochs beside --out, from which the same command "
                                       "resumes after an interruption; 0: none", group="io", minimum=0,
                                   role="operation")
    strict: bool = setting(False, "refuse, rather than warn about, a run whose parts are tiny or whose estimated "
                                  "memory exceeds the machine's", group="io", kind="switch", role="operation")
    study: str | None = setting(None, "the study this run belongs to (main, control, sweep, bandwidth, or your own), "
                                      "stored in the record for the report", group="io",
                                default_text="main, or control for --halo fresh", role="io")
    labels: dict[str, str] = setting(dict, "a label stored in the record (repeatable), e.g. dataset=cora-w4: the "
                                           "report shows a dataset label instead of the dataset's name",
                                     flag="--label", group="io", kind="pairs", metavar="KEY=VALUE", role="io")

    # -- declarations --------------------------------------------------------------------------------------------
    @classmethod
    def settings(cls) -> dict[str, Setting]:
        """Every field's :class:`Setting`, in declaration order."""
        return {f.name: f.metadata["setting"] for f in dataclasses.fields(cls)}

    @classmethod
    def names(cls, *roles: str) -> tuple[str, ...]:
        """The settings whose role is one of ``roles`` (:data:`ROLES`), in declaration order."""
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"no role {', '.join(sorted(unknown))}")
        return tuple(name for name, declared in cls.settings().items() if declared.role in roles)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each setting's default (a fresh one for a mapping)."""
        return {f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                for f in dataclasses.fields(cls)}

    @classmethod
    def integer_names(cls) -> tuple[str, ...]:
        """The settings that hold whole numbers (a count, a size, a seed)."""
        return tuple(f.name for f in dataclasses.fields(cls) if str(f.type).startswith("int"))

    @classmethod
    def flag_of(cls, name: str) -> str:
        declared = cls.settings()[name].flag
        return declared or f"--{name.replace('_', '-')}"

    # -- resolving and checking ----------------------------------------------------------------------------------
    def resolved(self) -> "RunConfig":
        """A copy with everything left to a registry filled in: the dataset's canonical name, the link as tc spells
        it, the method's options typed and with their defaults, its weight sync and local steps, and
        ``exact_first_layer`` where the method is built on it. Raises :class:`ConfigError` for an unknown name."""
        from .data import validate_dataset_name
        from .links import parse_network
        from .methods import get_method, resolve_options

        method = get_method(self.method)
        return dataclasses.replace(
            self,
            dataset=validate_dataset_name(self.dataset),
            network=parse_network(self.network).text if self.network is not None else None,
            method_options=resolve_options(method, self.method_options),
            weight_sync=self.weight_sync or method.weight_sync,
            local_steps=self.local_steps or method.local_steps,
            exact_first_layer=self.exact_first_layer or method.exact_first_layer,
            labels={str(key): str(value) for key, value in self.labels.items()},
        )

    def check(self) -> "RunConfig":
        """Refuse, with one :class:`ConfigError` line, a configuration that cannot run: a value outside its
        declaration (choices, bounds, finiteness), and settings that do not work together. Returns ``self``."""
        for name, declared in self.settings().items():
            _check_declared(self.flag_of(name), getattr(self, name), declared)
        from .methods import get_method

        method = get_method(self.method)
        if self.model == "gat" and self.layers > 1 and self.hidden % self.heads:
            raise ConfigError(f"GAT hidden size {self.hidden} must be divisible by heads={self.heads}")
        if self.halo == "fresh" and method.train_graph == "inner":
            raise ConfigError(f"--halo fresh: method {self.method!r} uses no halo rows (it drops cut edges), so there "
                              "is nothing to replace")
        if self.exact_first_layer:
            self._check_exact_first_layer(method)
        if self.launcher == "inprocess" and self.device == "cuda":
            raise ConfigError("--launcher inprocess runs the workers as threads on the CPU; on CUDA each worker has a "
                              "GPU and a process of its own: use --launcher spawn (or torchrun)")
        if self.launcher == "inprocess" and self.network is not None:
            raise ConfigError("--network shapes the links between worker processes; --launcher inprocess has none: "
                              "use --launcher spawn")
        method.check_run(self)
        if self.device == "cuda":
            import torch

            if torch.cuda.device_count() == 0:
                raise ConfigError("device cuda requested but torch sees no CUDA device")
        return self

    def validate(self) -> "RunConfig":
        """:meth:`resolved`, then :meth:`check`: the configuration that runs (the declared values are checked
        first, so a bad number is named as the user gave it). A configuration this returned is :attr:`validated`, and
        validating it again returns it unchecked: each boundary a run crosses (the command line, :func:`launch
        <satbench.runtime.launch.launch>`, the workers) validates what it is handed, and the checks run once."""
        if self.validated:
            return self
        for name, declared in self.settings().items():
            _check_declared(self.flag_of(name), getattr(self, name), declared)
        config = self.resolved().check()
        # Not a field: neither compared nor in the record's config (to_dict), and lost by dataclasses.replace.
        config._validated_as = config._values()
        return config

    @property
    def validated(self) -> bool:
        """Whether this is a configuration :meth:`validate` returned, unchanged since (a setting assigned or a
        mapping edited afterwards makes it unvalidated again)."""
        checked = self.__dict__.get("_validated_as")
        return checked is not None and checked == self._values()

    def _values(self) -> tuple:
        """Every setting's value, mappings copied (what :attr:`validated` compares)."""
        return dataclasses.astuple(self)

    def _check_exact_first_layer(self, method) -> None:
        def refuse(why: str) -> None:
            raise ConfigError(f"--exact-first-layer: {why}")

        if self.model not in ("gcn", "sage"):
            refuse(f"{self.model} layers have no static pre-aggregate (GAT's attention depends on the current "
                   "weights of both endpoints); use gcn or sage")
        if self.norm == "batch":
            refuse("batch norm's statistics belong to each step, so a halo row's first layer cannot be computed "
                   "apart; use --norm none or layer")
        if self.dropout != 0:
            refuse("needs --dropout 0: a neighbour's dropout mask cannot be pre-aggregated")
        if self.layers < 2:
            refuse("a one-layer model has no hidden halo rows")
        if method.train_graph == "inner":
            refuse(f"method {self.method!r} uses no halo rows")

    @property
    def effective_study(self) -> str:
        """The study the record states: the one given, else ``control`` for a fresh-halo control, else ``main``."""
        return self.study or ("control" if self.halo == "fresh" else "main")

    # -- conversions ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown run setting(s): {', '.join(unknown)}")
        return cls(**values)

    def to_argv(self, seeds: list[int] | None = None) -> list[str]:
        """The ``satbench run`` arguments (without ``--out``) that give this configuration: the dataset, model,
        method, W, epochs and seeds always, every other setting where it differs from its default. With ``seeds``,
        the same configuration for each (trained one after another in one process)."""
        defaults = RunConfig()
        always = {"dataset", "model", "method", "workers", "epochs"}
        argv: list[str] = []
        for name, declared in self.settings().items():
            value = getattr(self, name)
            if declared.flag is None or name == "seed" or (name not in always and value == getattr(defaults, name)):
                continue
            flag = self.flag_of(name)
            if declared.kind == "switch":
                argv += [flag] if value else []
            elif declared.kind == "negated":
                argv += [] if value else [flag]
            elif declared.kind == "pairs":
                for key, item in value.items():
                    argv += [flag, f"{key}={_argv_text(item)}"]
            else:
                argv += [flag, _argv_text(value)]
        return argv + ["--seed", *(str(seed) for seed in (seeds if seeds is not None else [self.seed]))]


def _argv_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _check_declared(flag: str, value: Any, declared: Setting) -> None:
    """A value against its declaration: one :class:`ConfigError` naming the flag as the user spells it."""
    name = flag.removeprefix("--")
    if value is None or declared.kind in ("pairs", "switch", "negated"):
        return
    if declared.required and value == "":
        raise ConfigError(f"{flag} is required")
    if declared.choices is not None and value not in declared.choices:
        raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(declared.choices)}")
    check_bounds(name, value, minimum=declared.minimum, maximum=declared.maximum, above=declared.above,
                 below=declared.below, finite=declared.finite)


# -- the command line and the workflow schema, derived ---------------------------------------------------------------


def parse_pair(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` (``-o``, ``--label``): the key with dashes as underscores, and the value as given."""
    import argparse

    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.replace("-", "_"), value


def _help(declared: Setting, default: Any) -> str:
    if declared.kind in ("switch", "negated", "pairs"):
        return declared.help
    if declared.required:
        return f"{declared.help} (required)"
    if default is None:
        return f"{declared.help} (default: {declared.default_text})" if declared.default_text else declared.help
    return f"{declared.help} (default: {default})"


def add_run_arguments(parser, extra_groups: dict[str, Any] | None = None,
                      method_shortcuts: list[tuple[str, str, type, str]] = ()) -> dict[str, Any]:
    """Add every :class:`RunConfig` setting with a flag to ``parser`` (``satbench run``), in groups; returns the
    groups by key so the caller can add its own options (``--out``). ``seed`` takes several values (one training
    per seed). ``method_shortcuts``: ``(flag, option, type, help)`` of method options that have a flag of their own
    (declared on the option, ``satbench.methods.Option.flag``); each sets ``-o option=VALUE``."""
    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    defaults = RunConfig()
    for name, declared in RunConfig.settings().items():
        if declared.flag is None:
            continue
        flags = [RunConfig.flag_of(name)] + ([declared.short] if declared.short else [])
        default = getattr(defaults, name)
        options: dict[str, Any] = {"dest": name, "help": _help(declared, default).replace("%", "%%")}
        if declared.kind == "switch":
            options.update(action="store_true", default=default)
        elif declared.kind == "negated":
            options.update(action="store_false", default=default)
        elif declared.kind == "pairs":
            options.update(action="append", type=parse_pair, default=[], metavar=declared.metavar)
        else:
            kind = next(t for t in (int, float, str) if t.__name__ in str(RunConfig.__annotations__[name]))
            options.update(type=kind, default=default, required=declared.required)
            if declared.choices is not None:
                options["choices"] = declared.choices
            if declared.metavar:
                options["metavar"] = declared.metavar
            if name == "seed":
                options.update(nargs="+", default=[default], metavar="SEED",
                               help="model initialisation and dropout seed; several train one after another in this "
                                    "process (torch is imported once), each written to --out with {seed} replaced "
                                    f"(default: {default})")
        groups[declared.group].add_argument(*flags, **options)
    if method_shortcuts:
        shortcuts = parser.add_argument_group("shortcuts for method options (the same as -o KEY=VALUE)")
        for flag, key, kind, meaning in method_shortcuts:
            shortcuts.add_argument(flag, dest=f"option:{key}", type=kind, default=None, metavar=key.upper(),
                                   help=meaning.replace("%", "%%"))
    return groups


def run_configs_from_args(args, seeds: list[int], models: list[str | None]) -> list[RunConfig]:
    """One :class:`RunConfig` per seed from parsed ``satbench run`` arguments, not yet validated."""
    values = {}
    for name, declared in RunConfig.settings().items():
        if declared.flag is None or name == "seed":
            continue
        value = getattr(args, name)
        values[name] = dict(value) if declared.kind == "pairs" else value
    options = dict(values.pop("method_options"))
    options.update({key.removeprefix("option:"): value for key, value in vars(args).items()
                    if key.startswith("option:") and value is not None})
    values.pop("save_model")
    return [RunConfig(**values, seed=seed, save_model=model, method_options=dict(options))
            for seed, model in zip(seeds, models)]


def model_settings_schema() -> dict[str, Any]:
    """The JSON schema of the settings a workflow config may give per model (``definitions.model_settings``'s
    properties in ``config/schema.yaml``, grid keys aside), derived from the declarations."""
    properties = {}
    for name, declared in RunConfig.settings().items():
        if not declared.model_setting:
            continue
        annotation = str(RunConfig.__annotations__[name])
        if declared.kind == "switch":
            schema: dict[str, Any] = {"type": "boolean"}
        elif declared.choices is not None:
            schema = {"enum": list(declared.choices)}
        else:
            schema = {"type": "integer" if annotation.startswith("int") else "number"}
        for key, bound in (("minimum", declared.minimum), ("maximum", declared.maximum),
                           ("exclusiveMinimum", declared.above), ("exclusiveMaximum", declared.below)):
            if bound is not None:
                schema[key] = bound
        properties[name] = schema
    return properties


