"""Actions that run something: a command in a service container, a one-off container, an HTTP call.

Commands are argument lists handed to compose, never a shell string, and templating renders each
argument separately, so no value (a capture, a secret) can inject a command. Such actions cannot
know beforehand whether they would change anything; an ``unless`` command (run the same way, and
expected to be read-only) that exits 0 says the work is done already, as Ansible's ``creates`` does.
"""

from __future__ import annotations

from typing import Any

from ..backends.compose import Proc
from .base import Action, ActionContext, ActionResult, Inspection


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class _Command(Action):
    def _call(self, ctx: ActionContext, args: dict[str, Any], argv: list[str]) -> Proc:
        raise NotImplementedError

    def _done(self, ctx: ActionContext, args: dict[str, Any]) -> bool:
        return bool(args.get("unless")) and self._call(ctx, args, args["unless"]).ok

    def _inspect(self, ctx: ActionContext, args: dict[str, Any]) -> Inspection:
        shown = " ".join(args["command"])
        if self._done(ctx, args):
            return Inspection(self.name, False, f"not needed ('unless' passed): {shown}")
        return Inspection(self.name, True, f"would run in {args['service']}: {shown}")

    def _apply(self, ctx: ActionContext, args: dict[str, Any]) -> ActionResult:
        if self._done(ctx, args):
            return self.result("ok", "not needed ('unless' passed)")
        proc = self._call(ctx, args, args["command"])
        evidence = {"exit_code": proc.returncode, "output": _tail(proc.stdout + proc.stderr)}
        if proc.returncode != args.get("expect_exit", 0):
            return self.result(
                "failed", f"{args['command'][0]} exited {proc.returncode}: {proc.error_line()}", **evidence
            )
        return self.result("changed", f"ran {args['command'][0]} in {args['service']}", **evidence)


class Exec(_Command):
    """A command in the service's running container."""

    name = "exec"

    def _call(self, ctx: ActionContext, args: dict[str, Any], argv: list[str]) -> Proc:
        return ctx.need_compose().exec(
            args["service"],
            argv,
            env=args.get("env"),
            user=args.get("user"),
            workdir=args.get("workdir"),
            timeout=args.get("timeout", 300),
        )


class Run(_Command):
    """A one-off container of the service (``compose run --rm``), e.g. a database migration."""

    name = "run"

    def _call(self, ctx: ActionContext, args: dict[str, Any], argv: list[str]) -> Proc:
        return ctx.need_compose().run_rm(args["service"], argv, env=args.get("env"), timeout=args.get("timeout", 300))


class Http(Action):
    """Call an endpoint (an admin reload, a cache flush); the expected status says it worked."""

    name = "http"

    def _inspect(self, ctx: ActionContext, args: dict[str, Any]) -> Inspection:
        return Inspection(self.name, True, f"would call {args.get('method', 'GET')} {args['url']}")

    def _apply(self, ctx: ActionContext, args: dict[str, Any]) -> ActionResult:
        from ..backends.http import HttpError, Request, request

        expect = args.get("expect_status", [200])
        expect = expect if isinstance(expect, list) else [expect]
        method, url = args.get("method", "GET"), args["url"]
        req = Request(method, url, args.get("headers") or {}, args.get("json"), timeout=float(args.get("timeout", 10)))
        try:
            response = request(req)
        except HttpError as exc:
            return self.result("failed", f"{method} {url}: {exc}")
        evidence = {"http_status": response.status, "body": response.body[:500]}
        if response.status not in expect:
            want = " or ".join(map(str, expect))
            return self.result("failed", f"{method} {url} answered {response.status}, expected {want}", **evidence)
        return self.result("changed", f"{method} {url} answered {response.status}", **evidence)
