"""specs/ against a checkout of the public API repository (``yandex-cloud/cloudapi``).

:func:`diff` compiles the proto files specs/ holds from both trees and
compares them with :mod:`codegen.protodiff`. Each difference is either one the
project keeps on purpose (listed in ``specs/upstream-differences.yaml``, such
as the 500-character prompt limit) or one to bring in.

:func:`apply` brings them in, file by file: a file with a difference to bring
in is replaced by upstream's file; in it, each element (message, field, enum,
value, service, rpc) whose own structure did not change gets our leading
comment back (our comments document sources and limits and become the SDK's
docstrings), while new or changed elements keep upstream's comment. Then the
project's listed differences are put back (options re-added or removed) and
the OpenAPI document is updated with what follows from the protos' JSON
mapping (:mod:`codegen.openapi_derive`). A file with no difference to bring in
is left untouched. Files that upstream's files newly import are copied in too.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

from . import openapi_derive, protodiff, tools
from .tools import CodegenError

DIFFERENCES_FILE = "upstream-differences.yaml"


@dataclass(frozen=True)
class ProjectDifference:
    """An entry of ``specs/upstream-differences.yaml``: a difference the project wants.

    ``ours`` is the option's value in .proto syntax as specs/ has it, or
    ``None`` when specs/ leaves upstream's option out; ``apply`` needs it
    (``has_ours``) to put the difference back after taking upstream's file.
    """

    where: str
    reason: str
    ours: str | None = None
    has_ours: bool = False


def project_differences(specs: Path) -> dict[str, ProjectDifference]:
    path = specs / DIFFERENCES_FILE
    if not path.exists():
        return {}
    data = tools.load_yaml(path.read_text()) or {}
    out: dict[str, ProjectDifference] = {}
    for entry in data.get("differences") or []:
        unknown = set(entry) - {"where", "reason", "ours"}
        if unknown or "where" not in entry or not str(entry.get("reason") or "").strip():
            raise CodegenError(f"{path}: bad entry (needs where, reason; may have ours): {entry}")
        ours = entry.get("ours")
        out[entry["where"]] = ProjectDifference(
            where=entry["where"],
            reason=str(entry["reason"]),
            ours=None if ours is None else str(ours),
            has_ours="ours" in entry,
        )
    return out


def spec_protos(specs: Path) -> list[str]:
    return sorted(p.relative_to(specs).as_posix() for p in specs.rglob("*.proto"))


def upstream_roots(upstream: Path) -> list[Path]:
    """The checkout, its bundled googleapis, then the installed googleapis as a fallback."""
    roots = [upstream]
    if (upstream / "third_party" / "googleapis").is_dir():
        roots.append(upstream / "third_party" / "googleapis")
    roots.extend(tools.include_roots(upstream)[:-1])
    return roots


def _spec_roots(specs: Path) -> list[Path]:
    return tools.include_roots(specs)


@dataclass
class Report:
    """What :func:`diff` found."""

    files: list[str]  # compared (specs/ files that upstream has, plus new imports)
    not_upstream: list[str]  # specs/ files upstream does not have (left alone)
    new_files: list[str]  # files upstream's files import that specs/ lacks
    to_apply: list[protodiff.Difference] = field(default_factory=list)
    kept: list[tuple[protodiff.Difference, ProjectDifference]] = field(default_factory=list)
    unmatched: list[ProjectDifference] = field(default_factory=list)  # listed, not found
    ours: descriptor_pb2.FileDescriptorSet = field(default_factory=descriptor_pb2.FileDescriptorSet)
    theirs: descriptor_pb2.FileDescriptorSet = field(
        default_factory=descriptor_pb2.FileDescriptorSet
    )

    @property
    def identical(self) -> bool:
        """Nothing to bring in (the project's own differences aside)."""
        return not self.to_apply

    def lines(self) -> list[str]:
        out: list[str] = []
        by_file: dict[str, list[protodiff.Difference]] = {}
        for d in self.to_apply:
            by_file.setdefault(d.file, []).append(d)
        for name in sorted(by_file):
            out.append(f"{name}:")
            out.extend(f"  {_sign(d)} {d}" for d in by_file[name])
        if self.kept:
            out.append(f"kept, as listed in specs/{DIFFERENCES_FILE}:")
            out.extend(f"  = {d}" for d, _ in self.kept)
        for entry in self.unmatched:
            out.append(f"listed in specs/{DIFFERENCES_FILE} but not a difference: {entry.where}")
        for name in self.not_upstream:
            out.append(f"not upstream (left as it is): specs/{name}")
        return out


def _sign(d: protodiff.Difference) -> str:
    if d.ours is None:
        return "+"
    if d.upstream is None:
        return "-"
    return "~"


def _external(roots: list[Path], name: str) -> bool:
    """Whether ``name`` is supplied by an installed package rather than by specs/."""
    try:
        tools.find_proto(name, roots)
    except FileNotFoundError:
        return False
    return True


def diff(specs: Path, upstream: Path) -> Report:
    """The semantic difference between ``specs`` and the ``upstream`` checkout."""
    specs, upstream = specs.resolve(), upstream.resolve()
    if not (upstream / "yandex").is_dir():
        raise CodegenError(f"{upstream} is not a cloudapi checkout (no yandex/ folder)")
    ours_names = spec_protos(specs)
    present = [n for n in ours_names if (upstream / n).is_file()]
    if not present:
        raise CodegenError(f"{upstream} has none of the proto files of {specs}")
    theirs = protodiff.compile_files(upstream_roots(upstream), present)
    installed = _spec_roots(specs)[:-1]
    new_files = sorted(
        f.name
        for f in theirs.file
        if f.name not in ours_names
        and (upstream / f.name).is_file()
        and not _external(installed, f.name)
    )
    ours = protodiff.compile_files(_spec_roots(specs), ours_names)
    compared = sorted([*present, *new_files])
    listed = project_differences(specs)
    report = Report(
        files=compared,
        not_upstream=[n for n in ours_names if n not in present],
        new_files=new_files,
        ours=ours,
        theirs=theirs,
    )
    for d in protodiff.compare(ours, theirs, compared):
        if d.where in listed:
            report.kept.append((d, listed[d.where]))
        else:
            report.to_apply.append(d)
    found = {d.where for d, _ in report.kept}
    report.unmatched = [e for w, e in sorted(listed.items()) if w not in found]
    return report


# -- apply ----------------------------------------------------------------------------------


@dataclass
class Applied:
    """What :func:`apply` changed (paths relative to specs/)."""

    report: Report
    written: list[str] = field(default_factory=list)
    reapplied: list[str] = field(default_factory=list)  # project differences put back
    openapi: list[str] = field(default_factory=list)  # OpenAPI changes, one line each


def apply(specs: Path, upstream: Path) -> Applied:
    """Brings upstream's structural changes into ``specs`` (see the module doc)."""
    specs, upstream = specs.resolve(), upstream.resolve()
    report = diff(specs, upstream)
    done = Applied(report)
    if report.identical:
        return done
    take = sorted({d.file for d in report.to_apply} | set(report.new_files))
    roots = upstream_roots(upstream)
    for name in take:
        target = specs / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tools.find_proto(name, roots), target)
        done.written.append(name)
    ours_files = {f.name: f for f in report.ours.file}
    theirs_files = {f.name: f for f in report.theirs.file}
    changed = [d.where for d in report.to_apply]
    for name in take:
        if name in ours_files:
            _keep_comments(specs / name, ours_files[name], theirs_files[name], changed)
    # put the project's differences back into the files just taken from upstream
    for d, entry in report.kept:
        if d.file in take:
            _reapply(specs, d.file, entry)
            done.reapplied.append(entry.where)
    after = diff(specs, upstream)
    if not after.identical:
        raise CodegenError(
            "apply left differences it could not bring in:\n  "
            + "\n  ".join(str(d) for d in after.to_apply)
        )
    missing = {e.where for _, e in report.kept} - {e.where for _, e in after.kept}
    if missing:
        raise CodegenError(f"apply lost project differences: {sorted(missing)}")
    for doc in sorted((specs / "openapi").glob("*.yaml")):
        changes = openapi_derive.update(doc, report.ours, after.ours)
        if changes:
            done.written.append(doc.relative_to(specs).as_posix())
            done.openapi.extend(changes)
    return done


# -- keeping our comments on what did not change -------------------------------------------

_COMMENTED = ("message", "field", "oneof", "enum", "enum_value", "service", "method")


def _changed_itself(name: str, changed: list[str]) -> bool:
    """Whether a difference concerns the element ``name`` itself (not only its children)."""
    return any(w == name or w.startswith(f"{name} ") for w in changed)


def _comment_lines(lines: list[str], start: int) -> tuple[int, bool]:
    """The first line of the ``//`` comment block right above line ``start``, and whether
    every line above the element up to it is a plain ``//`` comment (no ``/* */``)."""
    first = start
    while first > 0 and lines[first - 1].lstrip().startswith("//"):
        first -= 1
    plain = first == 0 or "*/" not in lines[first - 1]
    return first, plain


def _keep_comments(
    path: Path,
    ours: descriptor_pb2.FileDescriptorProto,
    theirs: descriptor_pb2.FileDescriptorProto,
    changed: list[str],
) -> None:
    """In upstream's file at ``path``, puts back our leading comment of each element whose
    own structure did not change (our documented comments, with their sources, stay)."""

    def located(file: descriptor_pb2.FileDescriptorProto) -> dict[str, tuple[int, str]]:
        spans = {tuple(loc.path): loc for loc in file.source_code_info.location}
        out: dict[str, tuple[int, str]] = {}
        for el in protodiff.elements(file):
            loc = spans.get(el.path)
            if el.kind in _COMMENTED and loc is not None:
                out[el.full_name] = (loc.span[0], loc.leading_comments)
        return out

    mine, upstream_at = located(ours), located(theirs)
    lines = path.read_text().splitlines(keepends=True)
    edits: list[tuple[int, int, list[str]]] = []
    for name, (line, their_comment) in upstream_at.items():
        if name not in mine or _changed_itself(name, changed):
            continue
        our_comment = mine[name][1]
        if our_comment == their_comment or not our_comment.strip():
            continue
        first, plain = _comment_lines(lines, line)
        if not plain or (first == line and their_comment):
            continue  # a block comment or one protoc placed elsewhere: leave upstream's
        indent = lines[line][: len(lines[line]) - len(lines[line].lstrip())]
        text = our_comment[:-1] if our_comment.endswith("\n") else our_comment
        edits.append((first, line, [f"{indent}//{x}".rstrip() + "\n" for x in text.split("\n")]))
    for first, line, new in sorted(edits, reverse=True):
        lines[first:line] = new
    path.write_text("".join(lines))


# -- putting a project difference back into a .proto file ----------------------------------

_OPTION_WHERE = re.compile(r"^(?P<element>\S+) option (?P<option>\S+)$")


def _offset(text: str, line: int, col: int) -> int:
    lines = text.splitlines(keepends=True)
    return sum(len(x) for x in lines[:line]) + col


def _span(
    file: descriptor_pb2.FileDescriptorProto, path: tuple[int, ...], text: str
) -> tuple[int, int] | None:
    for loc in file.source_code_info.location:
        if tuple(loc.path) == path:
            s = list(loc.span)
            start_line, start_col = s[0], s[1]
            end_line, end_col = (s[0], s[2]) if len(s) == 3 else (s[2], s[3])
            return _offset(text, start_line, start_col), _offset(text, end_line, end_col)
    return None


def _option_number(options: Any, name: str, fds: descriptor_pb2.FileDescriptorSet) -> int:
    if name.startswith("["):
        ext = name.strip("[]")
        for f in fds.file:
            for e in f.extension:
                if f"{f.package}.{e.name}" == ext:
                    return int(e.number)
        raise CodegenError(f"unknown option {name}")
    return int(options.DESCRIPTOR.fields_by_name[name].number)


def _reapply(specs: Path, file_name: str, entry: ProjectDifference) -> None:
    """Makes ``entry`` (an option difference) true again in ``specs/file_name``."""
    match = _OPTION_WHERE.match(entry.where)
    if match is None or not entry.has_ours:
        raise CodegenError(
            f"cannot put back {entry.where!r} (specs/{DIFFERENCES_FILE}): only options with an "
            "'ours' value are re-applied; edit the spec by hand"
        )
    fds = protodiff.compile_files(_spec_roots(specs), spec_protos(specs))
    (file,) = [f for f in fds.file if f.name == file_name]
    by_name = {el.full_name: el for el in protodiff.elements(file)}
    element = by_name.get(match["element"])
    if element is None:
        raise CodegenError(f"cannot put back {entry.where!r}: no {match['element']} upstream")
    option = match["option"]
    path = specs / file_name
    text = path.read_text()
    number = _option_number(element.proto.options, option, fds)
    opt_path = (*element.path, protodiff.OPTIONS_FIELD[element.kind], number)
    existing = _span(file, opt_path, text)
    inline = element.kind in ("field", "enum_value")
    if existing is not None:
        text = _remove_option(text, existing, inline)
    if entry.ours is not None:
        written = option.replace("[", "(").replace("]", ")")
        text = _add_option(file, element, text, f"{written} = {entry.ours}", inline)
        if option.startswith("["):
            text = _ensure_import(text, file, fds, option.strip("[]"))
    path.write_text(text)


def _remove_option(text: str, span: tuple[int, int], inline: bool) -> str:
    start, end = span
    if inline:
        # `a = 1, (x) = 2` inside [ ]: drop the option with one neighbouring comma
        after = re.match(r"\s*,\s*", text[end:])
        if after:
            return text[:start] + text[end + after.end() :]
        before = re.search(r",\s*$", text[:start])
        if before:
            return text[: before.start()] + text[end:]
        # the only option: drop the brackets too
        open_at = text.rindex("[", 0, start)
        close_at = text.index("]", end)
        return text[:open_at].rstrip(" ") + text[close_at + 1 :]
    # a statement `option (x) = {...};` on its own lines
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    if text[line_start:start].strip() == "" and text[end:line_end].strip() == "":
        return text[:line_start] + text[line_end + 1 :]
    return text[:start] + text[end:]


def _add_option(
    file: descriptor_pb2.FileDescriptorProto,
    element: protodiff.Element,
    text: str,
    option: str,
    inline: bool,
) -> str:
    span = _span(file, element.path, text)
    if span is None:
        raise CodegenError(f"cannot locate {element.full_name} in {file.name}")
    start, end = span
    body = text[start:end]
    if inline:  # a field or enum value: `type name = 1 [a = b];`
        if body.rstrip(";").rstrip().endswith("]"):
            close = start + body.rindex("]")
            return text[:close] + f", {option}" + text[close:]
        semi = start + body.rindex(";")
        return text[:semi] + f" [{option}]" + text[semi:]
    line_start = text.rfind("\n", 0, start) + 1
    indent = text[line_start:start]
    indent = indent if indent.strip() == "" else ""
    statement = f"{indent}  option {option};\n"
    stripped = body.rstrip(";").rstrip()
    if stripped.endswith("}"):
        close = start + body.rindex("}")
        close_line = text.rfind("\n", 0, close) + 1
        if text[close_line:close].strip() == "":  # `}` on its own line
            return text[:close_line] + statement + text[close_line:]
        return text[:close] + "\n" + statement + indent + text[close:]
    # `rpc X(...) returns (...);` has no body yet
    return text[: start + len(stripped)] + " {\n" + statement + indent + "}" + text[end:]


def _ensure_import(
    text: str,
    file: descriptor_pb2.FileDescriptorProto,
    fds: descriptor_pb2.FileDescriptorSet,
    ext: str,
) -> str:
    """Adds the import of the file that declares the option ``ext``, when missing."""
    where = protodiff.defined_in(fds).get(ext)
    if where is None or where == file.name or where in file.dependency:
        return text
    imports = list(re.finditer(r"^import [^\n]*\n", text, re.MULTILINE))
    if imports:
        pos = imports[-1].end()
        return text[:pos] + f'import "{where}";\n' + text[pos:]
    package = re.search(r"^package [^\n]*\n", text, re.MULTILINE)
    pos = package.end() if package else 0
    return text[:pos] + f'\nimport "{where}";\n' + text[pos:]
