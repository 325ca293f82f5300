"""Rendering the jinja2 templates from the API model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2

from . import schema, surface

TEMPLATES = Path(__file__).parent / "templates"


def _pydoc(text: str, indent: str = "") -> str:
    """A proto comment as docstring text: escaped, continuation lines indented."""
    text = (text or "").replace("\\", "\\\\").replace('"""', '\\"\\"\\"').strip()
    if text.endswith('"'):
        text += " "
    lines = text.splitlines()
    return ("\n" + indent).join(lines).replace("\n" + indent + "\n", "\n\n")


def _rest_path(path: str) -> str:
    return re.sub(r"{([a-z_][a-z0-9_]*)}", r"{quote(request.\1, safe='')}", path)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["pydoc"] = _pydoc
    env.filters["snake"] = surface.snake
    env.filters["rest_path"] = _rest_path
    env.filters["pyrepr"] = repr
    return env


def outputs(api: schema.Api) -> list[tuple[str, str, dict[str, Any], list[str]]]:
    """(output path under _gen/, template, context, source proto files) for every file."""
    views = surface.model_services(api)
    out: list[tuple[str, str, dict[str, Any], list[str]]] = [
        ("__init__.py", "package_init.py.j2", {"root": True}, []),
    ]
    for view in views:
        common = {"view": view, "prefix": view.prefix}
        for name in ("__init__", "config", "message", "result", "model", "factory"):
            out.append(
                (f"{view.module}/{name}.py", f"image_generation/{name}.py.j2", common, view.sources)
            )
        out.append(
            (f"{view.module}_rules.py", "image_generation_rules.py.j2", common, view.sources)
        )
    names = [view.service.full_name for view in views] + [surface.OPERATION_SERVICE]
    for sv in surface.services(api, names):
        out.append(
            (
                f"transports/{sv.module}.py",
                "transports/service.py.j2",
                {"sv": sv},
                [sv.service.file],
            )
        )
    out.append(("transports/__init__.py", "package_init.py.j2", {"root": False}, []))
    op = api.message("yandex.cloud.operation.Operation")
    op_service = api.services[surface.OPERATION_SERVICE]
    out.append(
        ("operations.py", "operations.py.j2", {"operation": op}, sorted({op.file, op_service.file}))
    )
    return out


def render(api: schema.Api, header: Any) -> dict[str, str]:
    """Renders every template; ``header(sources, template)`` gives each file's header."""
    env = environment()
    files: dict[str, str] = {}
    for path, template, context, sources in outputs(api):
        text = env.get_template(template).render(header=header(sources, template), **context)
        files[path] = text
    return files
