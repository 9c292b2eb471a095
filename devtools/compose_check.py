"""Static checks of docker-compose.yml, its Dockerfile and .env.example, for machines without Docker (CI).

``python -m devtools.compose_check [--project-dir DIR]`` prints every problem as "where: what" and exits 1
when there is one. ``compose_problems`` is the same as a function. What it checks:

- the file after interpolation against the Compose Specification's JSON schema (a vendored copy,
  devtools/schemas/compose-spec.json);
- variables: a ``${VAR}`` without a default (or a required ``${VAR:?}``) is documented in .env.example; one
  variable has one default wherever it appears; a ``Q2C_*`` name set in a service's environment, referenced
  as a variable, or documented in .env.example is a field of ``q2c.config.Settings``;
- q2c's services (built from the ``q2c`` target): their command is a ``q2c`` subcommand that the
  production image has (``starter.cli.build_parser``, without the development commands); a health check
  on 127.0.0.1 asks a port the service listens on; the worker's ``stop_grace_period`` outlasts its
  shutdown grace;
- dependencies: every ``depends_on`` target exists; ``service_healthy`` only on a service with a health
  check, ``service_completed_successfully`` only on a one-shot job, never a bare ``service_started``; a
  service outside a profile depends on a profile's service only with ``required: false``;
- every long-running service has a health check and restarts (``unless-stopped``/``always``); every job
  others wait for restarts "no" or ``on-failure``;
- every profile is shown in .env.example (the COMPOSE_PROFILES line that turns it on);
- volumes: named volumes used are declared and declared ones used; a bind mount's source exists in the
  project; the mounted Prometheus configuration's rule files and Grafana's dashboard folder exist, and
  Prometheus scrapes (and Grafana queries) services on ports they listen on; no host port is published
  twice;
- builds: the context and Dockerfile exist, every ``build.target`` is a stage of it, every ``build.args``
  name an ``ARG``, every ``COPY`` source exists in the context and is not excluded by .dockerignore;
- every ``env_file`` exists or is optional.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import json
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"
COMPOSE_FILE = "docker-compose.yml"
ENV_EXAMPLE = ".env.example"
Q2C_TARGET = "q2c"
LONG_RUNNING_RESTARTS = ("unless-stopped", "always")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


@dataclass(frozen=True)
class Problem:
    where: str  # a service's name, or the file or top-level section at fault
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


# --- interpolation (the Compose Specification's rules) ---------------------------------------------


@dataclass(frozen=True)
class Reference:
    """One ``${NAME...}`` in the file: where, and what it says when the variable is unset."""

    name: str
    where: str
    default: str | None  # the text after :- or - (None: no default)
    required: bool  # ${NAME:?message} or ${NAME?message}


class InterpolationError(ValueError):
    pass


def interpolate(
    text: str, env: dict[str, str], where: str = "", found: list[Reference] | None = None, strict: bool = True
) -> str:
    """``text`` with its variables replaced as Compose does (``$$`` is a literal ``$``); every reference
    is appended to ``found``. A required variable that ``env`` lacks raises InterpolationError when
    ``strict``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        following = text[i + 1 : i + 2]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "{":
            end = _closing_brace(text, i + 2)
            out.append(_substitute(text[i + 2 : end], env, where, found, strict))
            i = end + 1
        elif match := _NAME.match(text, i + 1):
            name = match.group()
            if found is not None:
                found.append(Reference(name, where, None, False))
            out.append(env.get(name, ""))
            i = match.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise InterpolationError(f"unclosed ${{ in {text!r}")


def _substitute(
    body: str, env: dict[str, str], where: str, found: list[Reference] | None, strict: bool
) -> str:
    match = _NAME.match(body)
    if match is None:
        raise InterpolationError(f"${{{body}}} does not start with a variable name")
    name, rest = match.group(), body[match.end() :]
    operator = next((op for op in (":-", ":?", ":+", "-", "?", "+") if rest.startswith(op)), None)
    if rest and operator is None:
        raise InterpolationError(f"${{{body}}}: unknown operator after {name}")
    argument = rest[len(operator or "") :]
    value = env.get(name)
    if found is not None:
        found.append(
            Reference(
                name,
                where,
                interpolate(argument, {}, where) if operator in (":-", "-") else None,
                operator in (":?", "?"),
            )
        )
    unset_or_empty = value is None or (value == "" and operator is not None and operator.startswith(":"))
    if operator in (":-", "-"):
        return interpolate(argument, env, where, found, strict) if unset_or_empty else str(value)
    if operator in (":?", "?"):
        if unset_or_empty and strict:
            raise InterpolationError(f"{name} is required: {argument}")
        return value or ""
    if operator in (":+", "+"):
        return "" if unset_or_empty else interpolate(argument, env, where, found, strict)
    return value or ""


def interpolate_document(
    document: Any,
    env: dict[str, str],
    found: list[Reference] | None = None,
    where: str = "",
    strict: bool = True,
) -> Any:
    """Every string value of ``document`` interpolated (mapping keys are not, as in Compose); ``where``
    in the references is the service's name, or the top-level key."""
    if isinstance(document, dict):
        result = {}
        for key, value in document.items():
            inner = str(key) if where in ("", "services") else where
            result[key] = interpolate_document(value, env, found, inner, strict)
        return result
    if isinstance(document, list):
        return [interpolate_document(item, env, found, where, strict) for item in document]
    if isinstance(document, str):
        return interpolate(document, env, where, found, strict)
    return document


def load_compose(project_dir: Path = ROOT, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The project's compose file, interpolated with ``env`` (as docker compose would with that .env)."""
    document = yaml.safe_load((project_dir / COMPOSE_FILE).read_text())
    result: dict[str, Any] = interpolate_document(document, env or {})
    return result


# --- .env.example -------------------------------------------------------------------------------------


def env_example_blocks(project_dir: Path = ROOT) -> dict[str, dict[str, str]]:
    """.env.example's variables by block (a block starts at a ``# --- name: ...`` line), commented or not."""
    blocks: dict[str, dict[str, str]] = {}
    current = blocks.setdefault("", {})
    for line in (project_dir / ENV_EXAMPLE).read_text().splitlines():
        if line.startswith("# --- "):
            name = re.split(r"[:(]| ---", line[len("# --- ") :], maxsplit=1)[0].strip()
            current = blocks.setdefault(name, {})
        elif match := _ENV_LINE.match(line):
            current[match.group(1)] = match.group(2).strip()
    return blocks


def documented_variables(project_dir: Path = ROOT) -> set[str]:
    path = project_dir / ENV_EXAMPLE
    if not path.exists():
        return set()
    return {name for block in env_example_blocks(project_dir).values() for name in block}


# --- the Dockerfile --------------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    copies: list[tuple[int, list[str]]] = field(default_factory=list)  # (line, sources from the context)


@dataclass
class Dockerfile:
    args: set[str]
    stages: dict[str, Stage]


def _instructions(text: str) -> Iterator[tuple[int, str, str]]:
    pending: list[str] = []
    first = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            first = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        joined = " ".join(part for part in pending if part and not part.startswith("#"))
        pending = []
        keyword, _, rest = joined.partition(" ")
        yield first, keyword.upper(), rest.strip()


def parse_dockerfile(path: Path) -> Dockerfile:
    args: set[str] = set()
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for line, keyword, rest in _instructions(path.read_text()):
        if keyword == "ARG":
            args.add(rest.split("=", 1)[0].strip())
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            base = words[0]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stage = Stage(name, base, dict(stages[base].env) if base in stages else {})
            stages[name] = stage
        elif stage is None:
            continue
        elif keyword == "ENV":
            words = shlex.split(rest)
            if words and "=" not in words[0]:
                stage.env[words[0]] = " ".join(words[1:])
            else:
                for word in words:
                    key, _, value = word.partition("=")
                    stage.env[key] = value
        elif keyword == "ENTRYPOINT":
            stage.entrypoint = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
        elif keyword in ("COPY", "ADD"):
            words = shlex.split(rest)
            if any(w.startswith("--from=") for w in words):
                continue
            paths = [w for w in words if not w.startswith("--")]
            stage.copies.append((line, paths[:-1]))
    return Dockerfile(args, stages)


def _dockerignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's ``patterns`` keep ``relative`` out of the build context (last match wins)."""
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        candidates = [pattern, pattern.replace("**/", "")] if "**/" in pattern else [pattern]
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, c) for c in candidates for prefix in prefixes):
            excluded = not negated
    return excluded


# --- the checks ------------------------------------------------------------------------------------------


def _settings_fields() -> set[str]:
    from q2c.config import Settings

    return set(Settings.model_fields)


def _is_setting(variable: str, fields: set[str]) -> bool:
    return variable.startswith("Q2C_") and variable[4:].lower() in fields


def _production_commands() -> tuple[argparse.ArgumentParser, set[str]]:
    """q2c's parser and the commands only a development install has (devtools: not in the image)."""
    from devtools.cli import add_dev_commands
    from starter.cli import build_parser

    probe = argparse.ArgumentParser()
    add_dev_commands(probe.add_subparsers())
    dev = {
        name
        for action in probe._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }
    return build_parser(), dev


def _command_problem(command: Any, parser: argparse.ArgumentParser, dev: set[str]) -> str | None:
    if not isinstance(command, list) or not all(isinstance(word, str) for word in command):
        return f"command {command!r} should be a list of arguments to q2c (the image's entrypoint)"
    if command and command[0] in dev:
        return f"command {' '.join(command)!r} is a development command, which the production image lacks"
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(command)
    except SystemExit:
        reason = (errors.getvalue().strip().splitlines() or ["no usage"])[-1]
        reason = re.sub(r" \(choose from .*\)$", "", reason.removeprefix("q2c: error: "))
        return f"command {' '.join(command)!r} is not a q2c command: {reason}"
    return None


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: {"condition": "service_started"} for name in depends}
    return {name: dict(spec or {}) for name, spec in depends.items()}


def _has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    test = check.get("test")
    return bool(test) and not check.get("disable") and test not in (["NONE"], "NONE")


def _restart(service: dict[str, Any]) -> str:
    return str(service.get("restart", "no"))


def _seconds(duration: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration.strip():
        raise ValueError(f"{duration!r} is not a duration")
    return sum(float(number) * units[unit] for number, unit in parts)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


def listen_ports(service: dict[str, Any]) -> set[int]:
    """The ports a service's environment says it listens on (``*_PORT``, ``0.0.0.0:PORT``)."""
    ports: set[int] = set()
    for name, value in _environment(service).items():
        if name.endswith("_PORT") and value.isdigit():
            ports.add(int(value))
        ports.update(int(port) for port in re.findall(r"(?:^|\b)0\.0\.0\.0:(\d+)", value))
    command = service.get("command")
    if isinstance(command, list):
        ports.update(int(word) for word in command if word.isdigit())
    return ports


def _mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, source, target) of a service's volumes: kind is "volume" or "bind"."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            source, target = str(volume.get("source", "")), str(volume.get("target", ""))
            kind = "bind" if volume.get("type") == "bind" else "volume"
        else:
            source, _, rest = str(volume).partition(":")
            target = rest.split(":")[0] if rest else source
            if not rest:
                source = ""  # an anonymous volume
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        mounts.append((kind, source, target))
    return mounts


def _published(service: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(host ip, host port, container port) the service publishes."""
    published = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            published.append(
                (str(port.get("host_ip", "")), str(port.get("published", "")), int(port.get("target", 0)))
            )
            continue
        parts = str(port).split(":")
        container = int(parts[-1].split("/")[0].split("-")[0])
        host = parts[-2] if len(parts) >= 2 else ""
        ip = ":".join(parts[:-2]) if len(parts) >= 3 else ""
        published.append((ip, host, container))
    return published


def _host_file(services: dict[str, Any], name: str, container_path: str, project_dir: Path) -> Path | None:
    """The project file a service sees at ``container_path`` through a bind mount, if one covers it."""
    for kind, source, target in sorted(_mounts(services[name]), key=lambda m: -len(m[2])):
        if kind == "bind" and (
            container_path == target or container_path.startswith(target.rstrip("/") + "/")
        ):
            return (project_dir / source / container_path[len(target) :].lstrip("/")).resolve()
    return None


def _check_variables(
    references: list[Reference], documented: set[str], fields: set[str], project_dir: Path
) -> list[Problem]:
    problems = []
    defaults: dict[str, set[str]] = {}
    for ref in references:
        if ref.default is not None:
            defaults.setdefault(ref.name, set()).add(ref.default)
        elif ref.name not in documented:
            kind = "is required" if ref.required else "has no default"
            problems.append(
                Problem(ref.where, f"${{{ref.name}}} {kind} and {ENV_EXAMPLE} does not document it")
            )
        if ref.name.startswith("Q2C_") and not _is_setting(ref.name, fields):
            problems.append(Problem(ref.where, f"${{{ref.name}}} is not a q2c setting (q2c/config.py)"))
    for name, values in sorted(defaults.items()):
        if len(values) > 1:
            problems.append(
                Problem(COMPOSE_FILE, f"${{{name}}} has different defaults: {', '.join(sorted(values))}")
            )
    referenced = {ref.name for ref in references}
    for name in sorted(documented):
        if name.startswith("Q2C_") and not _is_setting(name, fields) and name not in referenced:
            problems.append(Problem(ENV_EXAMPLE, f"{name} is not a q2c setting (q2c/config.py)"))
    return problems


def _check_service(
    name: str, service: dict[str, Any], services: dict[str, Any], fields: set[str], jobs: set[str]
) -> list[Problem]:
    problems = []
    for variable in _environment(service):
        if variable.startswith("Q2C_") and not _is_setting(variable, fields):
            problems.append(Problem(name, f"environment {variable} is not a q2c setting (q2c/config.py)"))
    for target, spec in _depends_on(service).items():
        condition = spec.get("condition", "service_started")
        if target not in services:
            problems.append(Problem(name, f"depends_on {target}: no such service"))
            continue
        other = services[target]
        if condition == "service_healthy" and not _has_healthcheck(other):
            problems.append(
                Problem(name, f"depends_on {target} being healthy, but {target} has no healthcheck")
            )
        if condition == "service_completed_successfully" and _restart(other) in LONG_RUNNING_RESTARTS:
            problems.append(
                Problem(
                    name,
                    f"waits for {target} to complete, but {target} restarts ({_restart(other)}): a service",
                )
            )
        if condition == "service_started":
            problems.append(
                Problem(
                    name,
                    f"depends_on {target} only being started: wait for service_healthy (with a healthcheck) "
                    "or service_completed_successfully (a job)",
                )
            )
        mine, theirs = set(service.get("profiles") or []), set(other.get("profiles") or [])
        if theirs and not mine & theirs and spec.get("required", True) is not False:
            problems.append(
                Problem(
                    name,
                    f"depends_on {target}, which runs only with profile {', '.join(sorted(theirs))}: "
                    "add required: false",
                )
            )
    if name in jobs:
        if _restart(service) != "no" and not _restart(service).startswith("on-failure"):
            problems.append(Problem(name, f'a job others wait for restarts {_restart(service)!r}: use "no"'))
    else:
        if _restart(service) not in LONG_RUNNING_RESTARTS:
            problems.append(
                Problem(name, f"long-running, but restart is {_restart(service)!r}: use unless-stopped")
            )
        if not _has_healthcheck(service):
            problems.append(Problem(name, "long-running, but has no healthcheck"))
    return problems


def _check_q2c_service(
    name: str, service: dict[str, Any], parser: argparse.ArgumentParser, dev: set[str]
) -> list[Problem]:
    problems = []
    if (problem := _command_problem(service.get("command"), parser, dev)) is not None:
        problems.append(Problem(name, problem))
    test = " ".join((service.get("healthcheck") or {}).get("test") or [])
    listening = listen_ports(service)
    for port in (int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", test)):
        if port not in listening:
            problems.append(
                Problem(name, f"the healthcheck asks port {port}, where the service does not listen")
            )
    for _, _, container in _published(service):
        if container not in listening:
            problems.append(Problem(name, f"publishes port {container}, where the service does not listen"))
    environment = _environment(service)
    if service.get("command") == ["worker"]:
        from q2c.config import Settings

        grace_text = environment.get("Q2C_WORKER_SHUTDOWN_GRACE_SECONDS", "")
        grace = (
            float(grace_text)
            if grace_text
            else Settings.model_fields["worker_shutdown_grace_seconds"].default
        )
        try:
            stop = _seconds(str(service.get("stop_grace_period", "10s")))
        except ValueError as exc:
            return [*problems, Problem(name, f"stop_grace_period: {exc}")]
        if stop <= grace:
            problems.append(
                Problem(
                    name, f"stop_grace_period {stop:g}s does not outlast the shutdown grace of {grace:g}s"
                )
            )
    return problems


def _check_profiles(services: dict[str, Any], project_dir: Path) -> list[Problem]:
    """Every profile is shown in .env.example, as the COMPOSE_PROFILES value that turns it on."""
    shown: set[str] = set()
    if (project_dir / ENV_EXAMPLE).exists():
        for block in env_example_blocks(project_dir).values():
            shown.update(part.strip() for part in block.get("COMPOSE_PROFILES", "").split(","))
    return [
        Problem(name, f"profile {profile} is not shown in {ENV_EXAMPLE} (a COMPOSE_PROFILES line)")
        for name, service in services.items()
        for profile in service.get("profiles") or []
        if profile not in shown
    ]


def _check_mounts(services: dict[str, Any], volumes: dict[str, Any], project_dir: Path) -> list[Problem]:
    problems = []
    used: set[str] = set()
    for name, service in services.items():
        for kind, source, target in _mounts(service):
            if kind == "volume" and source:
                used.add(source)
                if source not in volumes:
                    problems.append(Problem(name, f"volume {source} is not declared under volumes"))
            elif kind == "bind" and not (project_dir / source).exists():
                problems.append(
                    Problem(name, f"mounts {source} at {target}, which does not exist in the project")
                )
    for volume in sorted(set(volumes) - used):
        problems.append(Problem("volumes", f"{volume} is declared but no service mounts it"))
    seen: dict[tuple[str, str], str] = {}
    for name, service in services.items():
        for ip, host, _ in _published(service):
            if host and (ip, host) in seen:
                problems.append(
                    Problem(name, f"publishes host port {host}, which {seen[(ip, host)]} publishes too")
                )
            seen.setdefault((ip, host), name)
    return problems


def _check_observability(services: dict[str, Any], project_dir: Path) -> list[Problem]:
    """Prometheus's and Grafana's mounted configuration: its files exist, its targets listen."""
    problems = []
    for name in services:
        config = _host_file(services, name, "/etc/prometheus/prometheus.yml", project_dir)
        if config is None or not config.exists():
            continue
        prometheus = yaml.safe_load(config.read_text()) or {}
        for rule_file in prometheus.get("rule_files") or []:
            host = _host_file(services, name, rule_file, project_dir)
            if host is None or not host.exists():
                problems.append(
                    Problem(name, f"{config.relative_to(project_dir)} loads {rule_file}, which is not there")
                )
        for job in prometheus.get("scrape_configs") or []:
            for static in job.get("static_configs") or []:
                for target in static.get("targets") or []:
                    problems += _target_problems(name, f"scrapes {target}", target, services)
    for name in services:
        provisioning = _host_file(services, name, "/etc/grafana/provisioning", project_dir)
        if provisioning is None or not provisioning.is_dir():
            continue
        for path in sorted(provisioning.glob("datasources/*.y*ml")):
            for source in (yaml.safe_load(path.read_text()) or {}).get("datasources") or []:
                url = re.sub(r"^\w+://", "", str(source.get("url", ""))).split("/")[0]
                problems += _target_problems(name, f"queries {source.get('url')}", url, services)
        for path in sorted(provisioning.glob("dashboards/*.y*ml")):
            for provider in (yaml.safe_load(path.read_text()) or {}).get("providers") or []:
                folder = str((provider.get("options") or {}).get("path", ""))
                host = _host_file(services, name, folder, project_dir)
                if host is None:
                    problems.append(
                        Problem(name, f"dashboards are read from {folder}, which no bind mount provides")
                    )
                elif host.is_dir() and not any(host.glob("*.json")):
                    problems.append(Problem(name, f"no dashboard JSON in {host.relative_to(project_dir)}"))
    return problems


def _target_problems(name: str, what: str, target: str, services: dict[str, Any]) -> list[Problem]:
    host, _, port = target.rpartition(":")
    if host not in services:
        return [Problem(name, f"{what}: {host} is not a service")]
    service = services[host]
    health = " ".join((service.get("healthcheck") or {}).get("test") or [])
    known = listen_ports(service) | {container for _, _, container in _published(service)}
    known |= {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", health)}
    if port.isdigit() and int(port) not in known:
        return [Problem(name, f"{what}, where {host} does not listen")]
    return []


def _check_builds(services: dict[str, Any], project_dir: Path) -> list[Problem]:
    problems = []
    parsed: dict[Path, Dockerfile] = {}
    for name, service in services.items():
        build = service.get("build")
        if build is None:
            continue
        build = {"context": build} if isinstance(build, str) else build
        context = (project_dir / str(build.get("context", "."))).resolve()
        dockerfile_path = context / str(build.get("dockerfile", "Dockerfile"))
        if not dockerfile_path.exists():
            problems.append(Problem(name, f"builds with {dockerfile_path}, which does not exist"))
            continue
        if dockerfile_path not in parsed:
            parsed[dockerfile_path] = dockerfile = parse_dockerfile(dockerfile_path)
            problems += _check_dockerfile(dockerfile, dockerfile_path, context)
        dockerfile = parsed[dockerfile_path]
        target = build.get("target")
        if target is not None and target not in dockerfile.stages:
            problems.append(
                Problem(
                    name,
                    f"build target {target!r} is not a stage of {dockerfile_path.name} ({', '.join(dockerfile.stages)})",
                )
            )
        for arg in build.get("args") or {}:
            if arg not in dockerfile.args:
                problems.append(Problem(name, f"build arg {arg} is not an ARG of {dockerfile_path.name}"))
    return problems


def _check_dockerfile(dockerfile: Dockerfile, path: Path, context: Path) -> list[Problem]:
    ignore_file = context / ".dockerignore"
    patterns = []
    if ignore_file.exists():
        lines = (line.strip() for line in ignore_file.read_text().splitlines())
        patterns = [line for line in lines if line and not line.startswith("#")]
    problems = []
    for stage in dockerfile.stages.values():
        for line, sources in stage.copies:
            for source in sources:
                relative = source.removeprefix("./").rstrip("/") or "."
                if not (context / source).exists():
                    problems.append(
                        Problem(f"{path.name}:{line}", f"COPY {source}: not in the build context")
                    )
                elif _dockerignored(relative, patterns):
                    problems.append(
                        Problem(f"{path.name}:{line}", f"COPY {source}: excluded by .dockerignore")
                    )
    return problems


def compose_problems(project_dir: Path = ROOT, compose_text: str | None = None) -> list[Problem]:
    """Every problem of the project's compose file (or of ``compose_text`` in its place), Dockerfile and
    .env.example; empty when there is none."""
    text = compose_text if compose_text is not None else (project_dir / COMPOSE_FILE).read_text()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [Problem(COMPOSE_FILE, f"not YAML: {exc}")]
    if not isinstance(raw, dict):
        return [Problem(COMPOSE_FILE, "not a mapping of services, volumes, ...")]
    documented = documented_variables(project_dir)
    fields = _settings_fields()
    references: list[Reference] = []
    interpolate_document(raw, {}, references, strict=False)  # collects every reference
    # As docker compose would with an .env that sets exactly the required variables.
    env = {ref.name: f"<{ref.name}>" for ref in references if ref.required}
    try:
        document = interpolate_document(raw, env)
    except InterpolationError as exc:
        return [Problem(COMPOSE_FILE, str(exc))]
    problems = _check_variables(references, documented, fields, project_dir)

    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    for error in sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=str):
        path = [str(part) for part in error.absolute_path]
        where = path[1] if len(path) > 1 and path[0] == "services" else COMPOSE_FILE
        problems.append(Problem(where, f"schema: {'/'.join(path) or '(top)'}: {error.message}"))

    services: dict[str, Any] = document.get("services") or {}
    if not all(isinstance(service, dict) for service in services.values()):
        return problems  # the schema said why
    volumes = document.get("volumes") or {}
    jobs = {
        target
        for service in services.values()
        for target, spec in _depends_on(service).items()
        if spec.get("condition") == "service_completed_successfully"
    }
    parser, dev = _production_commands()
    for name, service in services.items():
        problems += _check_service(name, service, services, fields, jobs)
        build = service.get("build")
        if isinstance(build, dict) and build.get("target") == Q2C_TARGET:
            problems += _check_q2c_service(name, service, parser, dev)
        for env_file in service.get("env_file") or []:
            entry = {"path": env_file} if isinstance(env_file, str) else env_file
            if entry.get("required", True) and not (project_dir / str(entry["path"])).exists():
                problems.append(
                    Problem(name, f"env_file {entry['path']} does not exist (or mark it required: false)")
                )
    problems += _check_profiles(services, project_dir)
    problems += _check_mounts(services, volumes, project_dir)
    problems += _check_observability(services, project_dir)
    problems += _check_builds(services, project_dir)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.compose_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--project-dir", type=Path, default=ROOT, help="where docker-compose.yml is")
    args = parser.parse_args(argv)
    problems = compose_problems(args.project_dir)
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {args.project_dir / COMPOSE_FILE}"
        )
        return 1
    print(f"{args.project_dir / COMPOSE_FILE}: no problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
