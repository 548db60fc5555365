"""What the command line shows of the registry: ``satbench methods`` (text, ``--json``, ``--markdown``), the option
shortcuts ``satbench run`` offers, and the fidelity table docs/methods.md is rendered from."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .interface import Deviation
from .registry import discover_methods, is_builtin



def option_shortcuts() -> list[tuple[str, str, type, str]]:
    """``(flag, option, type, help)`` of every method option declared with a flag of its own, each flag once (one
    option key per flag, checked)."""
    shortcuts: dict[str, tuple[str, str, type, str]] = {}
    for name, method in sorted(discover_methods().items()):
        for key, option in method.options.items():
            if option.flag is None:
                continue
            known = shortcuts.setdefault(option.flag, (option.flag, key, option.type, option.help))
            if known[1] != key:
                raise ConfigError(f"method {name!r} declares {option.flag} for option {key!r}, but it is taken by "
                                  f"option {known[1]!r}")
    return sorted(shortcuts.values())


def registry_as_json() -> str:
    """``satbench methods --json``: every method's declaration, for scripts."""
    import json

    return json.dumps({name: {"summary": method.summary(), "family": method.family, "base": method.base,
                              "shares_base_control": method.shares_base_control,
                              "weight_sync": method.weight_sync, "local_steps": method.local_steps,
                              "train_graph": method.train_graph, "exact_first_layer": method.exact_first_layer,
                              "options": {key: option.as_json() for key, option in method.options.items()},
                              "metrics": [metric.as_json() for metric in getattr(method, "metrics", ())],
                              **_fidelity_json(method)}
                       for name, method in sorted(discover_methods().items())}, indent=1, default=str)


def _fidelity_json(method) -> dict[str, Any]:
    deviations = getattr(method, "deviations", None)
    return {"paper": getattr(method, "paper", None), "code": getattr(method, "code", None),
            "code_note": getattr(method, "code_note", "") or None,
            "deviations": None if deviations is None else [deviation.as_json() if isinstance(deviation, Deviation)
                                                           else str(deviation) for deviation in deviations]}


def _fidelity_lines(method) -> list[str]:
    """``satbench methods``: the paper, the authors' code and each deviation (what, and the option removing it)."""
    paper, code, note = (getattr(method, key, None) for key in ("paper", "code", "code_note"))
    deviations = getattr(method, "deviations", None)
    lines = [f"    paper: {paper or 'not declared'}"]
    if code:
        lines.append(f"    authors' code: {code}" + (f" ({note})" if note else ""))
    else:
        lines.append("    authors' code: none" + (f": {note}" if note else ""))
    if deviations is None:
        lines.append("    deviations: not declared")
    elif not deviations:
        lines.append("    deviations: none (faithful)")
    else:
        for deviation in deviations:
            removed = f" [-o {deviation.option}]" if getattr(deviation, "option", None) else ""
            lines.append(f"    deviation: {getattr(deviation, 'what', deviation)}{removed}")
    return lines


def describe_methods() -> str:
    """``satbench methods``: one block per method. Options that several methods share (the same key and meaning:
    SAT's, for every SAT variant) are explained once, at the end, with their usual default; each method names the
    groups it has and only the defaults in which it differs."""
    from collections import Counter

    methods = sorted(discover_methods().items())
    holders: dict[tuple[str, str], list[str]] = {}
    for name, method in methods:
        for key, option in method.options.items():
            holders.setdefault((key, option.help), []).append(name)
    groups: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for (key, meaning), names in holders.items():
        if len(names) > 1:
            groups.setdefault(tuple(names), []).append((key, meaning))
    group_of = {key_help: index for index, keys in enumerate(groups.values(), start=1) for key_help in keys}
    usual = {key_help: Counter(repr(dict(methods)[name].options[key_help[0]].default)
                               for name in names).most_common(1)[0][0]
             for names, keys in groups.items() for key_help in keys}
    lines = []
    for name, method in methods:
        lines.append(f"{name}: {method.summary()}")
        base = ""
        if method.base:
            control = "the base's" if method.shares_base_control else "its own"
            base = f", base: {method.base} (fresh-halo control: {control})"
        lines.append(f"    family: {method.family}{base}, weight sync: {method.weight_sync}, local steps: "
                     f"{method.local_steps}")
        lines += _fidelity_lines(method)
        own, shared = [], {}
        for key, option in method.options.items():
            if (key, option.help) in group_of:
                differs = shared.setdefault(group_of[key, option.help], [])
                if repr(option.default) != usual[key, option.help]:
                    differs.append(f"{key}={option.default!r}")
            else:
                own.append(f"    -o {key}={option.default!r}{f' ({option.flag})' if option.flag else ''}  "
                           f"{option.help}")
        lines += own
        for index, differs in sorted(shared.items()):
            lines.append(f"    options [{index}]" + (f", except {', '.join(differs)}" if differs else ""))
    lines += ["", "Why each deviation: satbench methods --json, or docs/methods.md (satbench methods --markdown)."]
    if groups:
        lines += ["", "Shared options [N] (-o KEY=VALUE), with their usual default:"]
        for index, (names, keys) in enumerate(groups.items(), start=1):
            lines.append(f"  [{index}] {', '.join(names)}:")
            for key, meaning in keys:
                flag = next((o.flag for _, m in methods for k, o in m.options.items() if k == key and o.flag), None)
                lines.append(f"    -o {key}={usual[key, meaning]}{f' ({flag})' if flag else ''}  {meaning}")
    return "\n".join(lines)


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ").strip()


def render_fidelity_table() -> str:
    """docs/methods.md: one table of every built-in method's paper, its authors' code and its deviations from that
    code, each with why and the ``-o key=value`` that removes it (``satbench methods --markdown``; a test holds the
    file to it)."""
    lines = [
        "# Methods: faithful to the authors' code, or the difference named",
        "",
        "Each built-in method declares, beside its paper, its authors' public code and every way it deviates from",
        "that code (or, where there is none, from its paper), as data (`paper`, `code`, `deviations` in",
        "`satbench.methods.Method`; `satbench methods`, `satbench methods --json`). This file is what",
        "`satbench methods --markdown` renders from the registry; `tests/test_methods.py` fails when it differs.",
        "\"none (faithful)\" is an explicit claim of fidelity. *Option* is the `-o key=value` that removes the",
        "deviation, where one does. What each option moves (accuracy, drift of the rows used, SAT's claim C1), and",
        "what the fixes of LMC, SANCUS and REST moved, measured on Cora at the paper's budget with 10 seeds:",
        "[options.md](options.md).",
        "",
        "Common to every method, and not repeated below: partition-parallel training, full-batch on one partition per",
        "worker; dropout masks keyed by global node id (a halo row carries its owner's mask, so that `exact` equals",
        "full-graph training); evaluation by an exact full-graph pass.",
        "",
        "| method | paper | authors' code | deviation | why | option |",
        "|---|---|---|---|---|---|",
    ]
    for name, method in sorted(discover_methods().items()):
        if not is_builtin(method):
            continue
        code = f"[{method.code}](https://github.com/{method.code})" if method.code else "none"
        if method.code_note:
            code += f" ({method.code_note})" if method.code else f": {method.code_note}"
        head = [f"`{name}`", _cell(method.paper), _cell(code)]
        deviations = method.deviations
        if deviations is None:
            lines.append("| " + " | ".join(head + ["not declared", "", ""]) + " |")
            continue
        if not deviations:
            lines.append("| " + " | ".join(head + ["none (faithful)", "", ""]) + " |")
        for index, deviation in enumerate(deviations):
            cells = head if index == 0 else ["", "", ""]
            option = f"`-o {deviation.option}`" if deviation.option else ""
            lines.append("| " + " | ".join(cells + [_cell(deviation.what), _cell(deviation.why), option]) + " |")
    return "\n".join(lines) + "\n"
