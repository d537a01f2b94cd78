"""XMILE modules: sub-models placed in the main model, flattened at load.

An XMILE file may define several ``<model name="...">`` elements besides the main
(unnamed) one; the main model places them with ``<module name="instance">`` and
wires them with ``<connect to="input" from="source"/>``: the module's variable
``input`` (``instance.input`` in XMILE 1.0) takes the value of ``source``, named
from the main model (``.area`` or ``area``, or ``other_instance.variable``). Stella
shows a module's variables as ``instance.variable``, and so does the flattened model:

- every variable of the sub-model is copied once per instance, renamed
  ``instance.variable``, its references renamed alike, so each instance keeps its
  own stocks;
- a connected input becomes an auxiliary reading its source, whatever it was in the
  sub-model (often a placeholder stock or an equation in braces, there only so the
  sub-model runs alone); its placeholder is never parsed;
- the instance's variables are grouped under the instance's name.

This module reads the XML tree and renames IR variables; parsing each sub-model's
equations stays with `vensim`, the only module that imports pysd. Modules inside
modules are refused, as are connections that write into the main model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ModelSyntaxError, UnsupportedError
from .expressions import Ref, Table, canonical, rename
from .model import Kind, Variable

__all__ = ["Instance", "has_modules", "instantiate", "split"]


@dataclass(frozen=True, slots=True)
class Instance:
    """One ``<module>`` of the main model: which sub-model, and its inputs wired."""

    name: str
    model: str  # canonical name of the sub-model (XMILE names a module after its model)
    inputs: tuple[tuple[str, str], ...]  # (canonical input in the module, canonical source)
    line: int | None = None


def has_modules(root: Any, namespace: str) -> bool:
    """Whether the XMILE tree defines sub-models (more than one ``<model>``)."""
    return len(root.findall(f"{{{namespace}}}model")) > 1


def split(root: Any, namespace: str, path: Path) -> tuple[Any, dict[str, Any], tuple[Instance, ...]]:
    """The main model and each sub-model as a file of its own, and the instances.

    Each returned tree is a copy of the whole file (header, sim_specs, dimensions)
    holding one ``<model>``, as PySD's section parser expects; in a sub-model's copy
    every connected input has the equation ``0`` in place of its placeholder.
    """
    tag = lambda name: f"{{{namespace}}}{name}"  # noqa: E731
    models = root.findall(tag("model"))
    main = [m for m in models if not m.get("name")]
    if len(main) != 1:
        raise ModelSyntaxError(f"expected one main <model> without a name, found {len(main)}", file=path)
    instances = []
    # Views draw modules too: the instances are those among the variables.
    for module in main[0].findall(f"{tag('variables')}/{tag('module')}"):
        name = module.get("name", "")
        inputs = []
        for connect in module.findall(tag("connect")):
            target, source = connect.get("to", ""), connect.get("from", "")
            # XMILE 1.0 names the input with its module (to="hares.area"); drafts did not.
            local = canonical(target).removeprefix(canonical(name) + ".")
            if "." in local or not source:
                raise UnsupportedError(
                    f"the connection to={target!r} from={source!r} of module {module.get('name')!r} "
                    "is not supported yet: expected an input of the module read from the main model",
                    file=path,
                    line=connect.sourceline,
                )
            inputs.append((local, canonical(source.lstrip("."))))
        instances.append(Instance(name, canonical(name), tuple(inputs), module.sourceline))
    submodels = {canonical(m.get("name")): m for m in models if m.get("name")}
    for instance in instances:
        if instance.model not in submodels:
            raise ModelSyntaxError(
                f"module {instance.name!r} places the model {instance.model!r}, "
                "which the file does not define",
                file=path,
                line=instance.line,
            )
    for name, model in submodels.items():
        nested = model.find(f"{tag('variables')}/{tag('module')}")
        if nested is not None:
            raise UnsupportedError(
                f"modules inside modules are not supported yet (model {name!r})",
                file=path,
                line=nested.sourceline,
            )
    connected = {
        model: {t for i in instances if i.model == model for t, _ in i.inputs} for model in submodels
    }
    files = {name: _alone(root, model, connected[name], tag) for name, model in submodels.items()}
    return _alone(root, main[0], set(), tag), files, tuple(instances)


def _alone(root: Any, model: Any, inputs: set[str], tag: Any) -> Any:
    """A copy of the file holding `model` only, with its `inputs` set to 0."""
    tree = copy.deepcopy(root)
    for other in tree.findall(tag("model")):
        tree.remove(other)
    model = copy.deepcopy(model)
    model.attrib.pop("name", None)
    for variables in model.findall(tag("variables")):
        for variable in variables:
            if canonical(_unescaped(variable.get("name", ""))) in inputs:
                for old in variable.findall(tag("eqn")):
                    old.text = "0"
    tree.append(model)
    return tree


def _unescaped(name: str) -> str:
    """An XMILE name as read: ``\\n`` in a name stands for a line break."""
    return name.replace("\\n", " ")


def instantiate(
    submodels: dict[str, tuple[Variable, ...]], instances: tuple[Instance, ...], file: Path
) -> list[Variable]:
    """The variables of every instance, renamed and wired (see the module docstring)."""
    variables: list[Variable] = []
    for instance in instances:
        local = submodels[instance.model]
        names = {v.key: canonical(f"{instance.name}.{v.name}") for v in local}
        inputs = dict(instance.inputs)
        for target in inputs:
            if target not in names:
                raise ModelSyntaxError(
                    f"module {instance.name!r} connects {target!r}, which its model does not define",
                    file=file,
                    line=instance.line,
                )
        for variable in local:
            name = f"{instance.name}.{variable.name}"
            if variable.key in inputs:
                variables.append(
                    Variable(
                        name=name,
                        kind=Kind.AUXILIARY,
                        equation=Ref(inputs[variable.key]),
                        units=variable.units,
                        documentation=variable.documentation,
                        line=instance.line,
                        group=instance.name,
                        dims=variable.dims,
                    )
                )
                continue
            equation = (
                variable.equation
                if variable.kind is Kind.LOOKUP or isinstance(variable.equation, Table)
                else rename(variable.equation, names)
            )
            initial = None if variable.initial is None else rename(variable.initial, names)
            variables.append(
                replace(variable, name=name, equation=equation, initial=initial, group=instance.name)
            )
    return variables
