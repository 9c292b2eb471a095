"""devtools/compose_check.py on the real docker-compose.yml, and on broken copies of it: each kind of
mistake it exists for is named, with the service it is in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devtools.compose_check import (
    ROOT,
    InterpolationError,
    Reference,
    compose_problems,
    interpolate,
    main,
    parse_dockerfile,
)

COMPOSE = (ROOT / "docker-compose.yml").read_text()


def broken(old: str, new: str) -> str:
    assert COMPOSE.count(old) == 1, f"{old!r} is not once in docker-compose.yml"
    return COMPOSE.replace(old, new)


def test_the_compose_file_has_no_problems(capsys: pytest.CaptureFixture[str]) -> None:
    assert [str(problem) for problem in compose_problems()] == []
    assert main([]) == 0
    assert "no problems" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("compose_text", "expected"),
    [
        pytest.param(
            broken('command: ["worker"]', 'command: ["wrker"]'),
            "worker: command 'wrker' is not a q2c command: argument command: invalid choice: 'wrker'",
            id="unknown command",
        ),
        pytest.param(
            broken('command: ["worker"]', 'command: ["demo"]'),
            "worker: command 'demo' is a development command, which the production image lacks",
            id="command the image lacks",
        ),
        pytest.param(
            broken("OTEL_SERVICE_NAME: q2c-worker", "OTEL_SERVICE_NAME: ${WORKER_NAME}"),
            "worker: ${WORKER_NAME} has no default and .env.example does not document it",
            id="undeclared variable",
        ),
        pytest.param(
            broken("Q2C_METRICS_ADDRESS: 0.0.0.0:9464", "Q2C_METRIC_ADDRESS: 0.0.0.0:9464"),
            "worker: environment Q2C_METRIC_ADDRESS is not a q2c setting (q2c/config.py)",
            id="not a setting",
        ),
        pytest.param(
            broken('test: ["CMD-SHELL", "pg_isready -U q2c -d q2c"]', "disable: true"),
            "worker: depends_on q2c-db being healthy, but q2c-db has no healthcheck",
            id="service_healthy on a service without healthcheck",
        ),
        pytest.param(
            broken("    stop_grace_period: 90s", "    stop_grace_perod: 90s"),
            "worker: schema: services/worker: 'stop_grace_perod' does not match any of the regexes: '^x-'",
            id="schema violation",
        ),
        pytest.param(
            broken("    stop_grace_period: 90s", "    stop_grace_period: 30s"),
            "worker: stop_grace_period 30s does not outlast the shutdown grace of 60s",
            id="grace period",
        ),
        pytest.param(
            broken("        required: false  # only with the sandboxes profile\n", ""),
            "worker: depends_on sandboxes, which runs only with profile sandboxes: add required: false",
            id="profile dependency",
        ),
        pytest.param(
            broken("  q2c-data: {}\n", ""),
            "worker: volume q2c-data is not declared under volumes",
            id="undeclared volume",
        ),
        pytest.param(
            broken("./deploy/prometheus:/etc/prometheus:ro", "./deploy/prometheus-config:/etc/prometheus:ro"),
            "prometheus: mounts ./deploy/prometheus-config at /etc/prometheus, which does not exist in the project",
            id="missing bind mount",
        ),
        pytest.param(
            broken("Q2C_METRICS_ADDRESS: 0.0.0.0:9464", "Q2C_METRICS_ADDRESS: 0.0.0.0:9465"),
            "worker: the healthcheck asks port 9464, where the service does not listen",
            id="healthcheck port",
        ),
        pytest.param(
            broken("      target: sandbox\n", "      target: sandboxes\n"),
            "sandboxes: build target 'sandboxes' is not a stage of Dockerfile",
            id="build target",
        ),
        pytest.param(
            broken('      - "127.0.0.1:9090:9090"', '      - "127.0.0.1:8080:9090"'),
            "prometheus: publishes host port 8080, which temporal-ui publishes too",
            id="port published twice",
        ),
        pytest.param(
            broken(
                "      temporal-namespace:\n        condition: service_completed_successfully\n    environment:\n"
                "      <<: *q2c-environment\n      OTEL_SERVICE_NAME: q2c-setup",
                "      temporal-namespace:\n        condition: service_started\n    environment:\n"
                "      <<: *q2c-environment\n      OTEL_SERVICE_NAME: q2c-setup",
            ),
            "setup: depends_on temporal-namespace only being started",
            id="service_started",
        ),
    ],
)
def test_a_broken_copy_is_caught(compose_text: str, expected: str) -> None:
    problems = [str(problem) for problem in compose_problems(ROOT, compose_text)]
    assert any(problem.startswith(expected) for problem in problems), problems


def test_interpolation_follows_compose() -> None:
    found: list[Reference] = []
    env = {"SET": "yes", "EMPTY": ""}
    assert interpolate("$$HOME ${SET} $SET ${UNSET:-a${SET}} ${EMPTY:-d} ${EMPTY-d}", env, "s", found) == (
        "$HOME yes yes ayes d "
    )
    assert interpolate("${SET:+on}${UNSET:+on}", env) == "on"
    assert [(r.name, r.default, r.required) for r in found] == [
        ("SET", None, False),
        ("SET", None, False),
        ("UNSET", "a", False),
        ("SET", None, False),
        ("EMPTY", "d", False),
        ("EMPTY", "d", False),
    ]
    with pytest.raises(InterpolationError, match="NEEDED is required: set it"):
        interpolate("${NEEDED:?set it}", env)


def test_the_dockerfile_stages_the_compose_builds() -> None:
    dockerfile = parse_dockerfile(ROOT / "Dockerfile")
    assert {"q2c", "sandbox", "temporal-server"} <= set(dockerfile.stages)
    assert dockerfile.stages["q2c"].entrypoint == ["q2c"]
    # The production image leaves the sandboxes out; only the sandbox stage copies them.
    copied = {
        source for stage in dockerfile.stages.values() for _, sources in stage.copies for source in sources
    }
    assert "sandbox" in copied
    assert all(sources != ["sandbox"] for _, sources in dockerfile.stages["q2c"].copies)


def test_a_copy_the_build_context_leaves_out_is_caught(tmp_path: Path) -> None:
    """The project as it is but for .dockerignore, which here keeps worker.py out of the build context."""
    for entry in ROOT.iterdir():
        if entry.name not in (".git", ".venv", ".dockerignore"):
            (tmp_path / entry.name).symlink_to(entry)
    dockerignore = (ROOT / ".dockerignore").read_text()
    (tmp_path / ".dockerignore").write_text(dockerignore.replace("!worker.py\n", ""))
    problems = [str(problem) for problem in compose_problems(tmp_path)]
    assert len(problems) == 1 and re.fullmatch(
        r"Dockerfile:\d+: COPY worker.py: excluded by .dockerignore", problems[0]
    )
