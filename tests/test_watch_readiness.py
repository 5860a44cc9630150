"""``readiness.Changes`` on a real engine: a readiness wait (``wait_healthy``, the watch's heals) ends at
the engine's word that a service's container changed, not at its next poll."""

from __future__ import annotations

from remediator.actions import ActionContext, build_action
from remediator.backends.compose import Compose
from remediator.model import Target
from remediator.readiness import Changes


def test_a_wait_wakes_at_the_engine_s_events_of_its_services_only(engine, compose_project):
    compose = Compose(compose_project)
    assert compose.up(["web", "worker"]).ok
    ctx = ActionContext.for_target(
        Target(name="t", inventory=compose_project.directory / "inventory.yml", compose=compose_project)
    )
    assert build_action({"wait_healthy": {"services": ["web"], "timeout": 120}}).apply(ctx).status in ("ok", "changed")

    with (
        Changes(engine, compose_project.project, ["web"]) as web,
        Changes(engine, compose_project.project, ["nothing-here"]) as other,
    ):
        assert compose.restart(["worker"]).ok  # not web's: no wake
        assert compose.restart(["web"]).ok  # its die and start, then its health turning healthy
        assert web.wait(120)  # False only if no event of web came in two minutes
        assert not other.wait(1.0)  # the same events, none of its service's

        # drain what the restart sent, then health: healthy arrives of itself, seconds later
        state = engine.container(compose_project.project, "web")
        while state is not None and state.health != "healthy" and web.wait(120):
            state = engine.container(compose_project.project, "web")
        assert state is not None and state.health == "healthy"


def test_without_the_engine_s_events_a_wait_is_the_poll_alone() -> None:
    class NoEvents:
        def events(self, project: str, actions: tuple[str, ...]) -> None:
            raise ConnectionError("the engine is gone")

    with Changes(NoEvents(), "p", ["web"]) as changes:  # type: ignore[arg-type]
        assert not changes.wait(0.05)  # slept its poll interval, woken by nothing
