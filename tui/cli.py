"""Command line: the TUI (live, --demo, --bundle) and the headless subcommands (trace, capture)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tui.i18n import LANGUAGES, _, set_language, word

EXIT_DELIVERED, EXIT_NOT_DELIVERED, EXIT_USAGE, EXIT_UNCERTAIN = 0, 1, 2, 3


def demo_bundle_path() -> Path:
    # The package is a directory, in a checkout and in the wheel alike (importlib.resources would
    # say the same and cost 20 ms of imports on every start).
    return Path(__file__).resolve().parent / "data" / "demo"


def _parser() -> argparse.ArgumentParser:
    # --lang is accepted before the subcommand and after it (`trace --lang zh`).
    lang = argparse.ArgumentParser(add_help=False)
    lang.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS,
                      help=_("language of the sentences (default: from LC_ALL/LANG; English otherwise)"))
    ap = argparse.ArgumentParser(prog="dockport-tui", parents=[lang], description=_(
        "Where does a packet to a Docker port go, and why does it (not) arrive?"))
    ap.add_argument("--demo", action="store_true", help=_("explore the bundled demo host (no Docker needed)"))
    ap.add_argument("--bundle", metavar="DIR", help=_("explore a capture bundle"))
    sub = ap.add_subparsers(dest="command")
    sv = sub.add_parser("serve", parents=[lang],
                         help=_("the app in a browser tab (textual-serve), on 127.0.0.1:8000 by default"))
    sv.add_argument("--demo", dest="serve_demo", action="store_true")
    sv.add_argument("--bundle", dest="serve_bundle", metavar="DIR")
    sv.add_argument("--host", default="127.0.0.1", help=_("address to listen on (default 127.0.0.1; see the README "
                    "for ssh -L)"))
    sv.add_argument("--port", type=int, default=8000)
    cap = sub.add_parser("capture", parents=[lang],
                         help=_("write a capture bundle of this host"))
    cap.add_argument("dir")
    lab = sub.add_parser("lab", parents=[lang],
                         help=_("the talk's five experiments on this engine, measured and predicted"))
    lab.add_argument("action", choices=["up", "status", "down"])
    lab.add_argument("--image", help=_("image serving HTTP on :80 (default: a tiny one built from busybox)"))
    lab.add_argument("--json", action="store_true")
    tr = sub.add_parser("trace", parents=[lang],
                         help=_("print the path of one port"))
    tr.add_argument("port", help=_("PORT or PORT/PROTO"))
    tr.add_argument("--bundle", dest="trace_bundle", metavar="DIR")
    tr.add_argument("--demo", dest="trace_demo", action="store_true")
    tr.add_argument("--from", dest="origin", default="external",
                    help=_("external (default), external:IP, host, localhost, container:NAME"))
    tr.add_argument("--to", dest="to", help=_("destination address (default: the host's address)"))
    tr.add_argument("-6", dest="ipv6", action="store_true",
                    help=_("the client speaks IPv6 (implied by an IPv6 address in --from or --to)"))
    tr.add_argument("--json", action="store_true")
    re_ = sub.add_parser("reach", parents=[lang],
                         help=_("every origin at once for one port: who reaches it, and which rule decides"))
    re_.add_argument("port", help=_("PORT or PORT/PROTO"))
    re_.add_argument("--bundle", dest="trace_bundle", metavar="DIR")
    re_.add_argument("--demo", dest="trace_demo", action="store_true")
    re_.add_argument("-6", dest="ipv6", action="store_true", help=_("the clients speak IPv6"))
    re_.add_argument("--json", action="store_true")
    to = sub.add_parser("tour", parents=[lang],
                         help=_("the talk's five experiments and four open questions, answered on this host"))
    to.add_argument("--bundle", dest="trace_bundle", metavar="DIR")
    to.add_argument("--demo", dest="trace_demo", action="store_true")
    ve = sub.add_parser("verify", parents=[lang],
                         help=_("make one real connection and put the kernel's trace beside the prediction "
                        "(root; adds a client namespace and trace rules for that connection, and removes them)"))
    ve.add_argument("port", help=_("PORT or PORT/PROTO"))
    ve.add_argument("--from", dest="origin", default="external",
                    help=_("external (default: a client namespace verify makes), host, localhost, container:NAME"))
    ve.add_argument("--to", dest="to", help=_("destination address (default: the host's address)"))
    ve.add_argument("-6", dest="ipv6", action="store_true", help=_("connect over IPv6 (traced with nft monitor)"))
    ve.add_argument("--json", action="store_true")
    return ap


def _usage_error(message: str) -> int:
    print(f"dockport-tui: {message}", file=sys.stderr)
    return EXIT_USAGE


def _load_state(bundle: str | None, demo: bool):
    from tui.collect.bundle import BundleError, load_bundle

    if demo:
        return load_bundle(demo_bundle_path(), source="demo")
    if bundle:
        try:
            return load_bundle(bundle)
        except BundleError as exc:
            raise SystemExit(_usage_error(str(exc))) from None
    from tui.collect.live import collect_live

    return collect_live()


def _parse_port(text: str) -> tuple[int, str]:
    port, _sep, proto = text.partition("/")
    proto = (proto or "tcp").lower()
    if not port.isdigit() or not 0 < int(port) < 65536 or proto not in ("tcp", "udp"):
        raise ValueError(f"bad port {text!r}: use PORT or PORT/tcp or PORT/udp")
    return int(port), proto


def _port_and_state(args: argparse.Namespace):
    """(port, proto, state) of a `trace`/`reach` question, or the exit status of a usage error."""
    try:
        port, proto = _parse_port(args.port)
    except ValueError as exc:
        return _usage_error(str(exc))
    try:
        return port, proto, _load_state(args.trace_bundle, args.trace_demo)
    except SystemExit as exc:
        return int(exc.code or EXIT_USAGE)


def run_trace(args: argparse.Namespace) -> int:
    from tui.paths.types import Query, QueryError
    from tui.session import Session

    asked = _port_and_state(args)
    if isinstance(asked, int):
        return asked
    port, proto, state = asked
    try:
        path, findings = Session(state, "", retrace=False).ask(Query(port, proto, args.origin, args.to,
                                                      family=6 if args.ipv6 else 4))
    except QueryError as exc:
        return _usage_error(str(exc))
    for w in state.warnings:
        if w.source != "firewall" or w.unread:
            print(f"dockport-tui: {w.message}" + (f" — {w.hint}" if w.hint else ""), file=sys.stderr)
    if args.json:
        print(json.dumps(path.as_json() | {"findings": [f.as_json() for f in findings]}, indent=2))
    else:
        print(format_path(path, findings))
    if path.verdict == "delivered":
        return EXIT_DELIVERED
    if path.verdict == "uncertain":
        return EXIT_UNCERTAIN
    return EXIT_NOT_DELIVERED


def run_tour(args: argparse.Namespace) -> int:
    """Every stop of the tour, in order. On the live host with the lab up (as root), the five
    experiments are measured by real connections beside the prediction."""
    import os

    from tui.lab.tour import tour

    try:
        state = _load_state(args.trace_bundle, args.trace_demo)
    except SystemExit as exc:
        return int(exc.code or EXIT_USAGE)
    measured = None
    if not (args.trace_bundle or args.trace_demo) and os.geteuid() == 0:
        from tui.lab.lab import LabError, status

        try:
            measured = {key: cell.measured for key, cell in status().cells.items()}
        except LabError:
            measured = None  # the lab is not up: predicted answers only
    for n, stop in enumerate(tour(state, measured), 1):
        print(f"{n}. {stop.title}\n   {stop.question}\n   {stop.answer}")
        if stop.source:
            print(f"   ({stop.source})")
        if stop.path is not None:
            print("   " + _("path: {summary}").format(summary=stop.path.summary))
        print()
    return 0


def run_reach(args: argparse.Namespace) -> int:
    """Exit 0 when the answer could be computed, 2 on bad usage."""
    from tui.paths.reach import reach

    asked = _port_and_state(args)
    if isinstance(asked, int):
        return asked
    port, proto, state = asked
    answer = reach(state, port, proto, 6 if args.ipv6 else 4)
    print(json.dumps(answer.as_json(), indent=2) if args.json else format_reach(answer))
    return 0


def format_reach(answer) -> str:
    from tui.cells import cell_len, ljust
    from tui.paths.reach import what_decided

    m = answer.mapping
    q = answer.query
    head = f"{q.proto}/{q.port} (IPv{q.family})" + (f": {m.container.name}, {m.binding.key}" if m else
                                                    _(": no container publishes it"))
    rows = []
    for r in answer.rows:
        who = f"{r.origin} → {r.to}" if r.to else r.origin
        if r.path is None:
            rows.append((who, "—", "", r.error))
            continue
        rows.append((who, word(r.path.verdict), word(r.path.via or ""), what_decided(r.path)))
    heads = (_("origin"), _("verdict"), _("via"))
    # Padded by terminal cells, not characters: a Chinese word is two cells wide.
    widths = [max(cell_len(row[i]) for row in [*rows, heads]) for i in range(3)]
    lines = [head, "", "  ".join(ljust(h, w) for h, w in zip(heads, widths, strict=True))
             + "  " + _("deciding rule (or what decided)")]
    for row in rows:
        lines.append("  ".join(ljust(cell, w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    return "\n".join(lines)


def format_path(path, findings=()) -> str:

    lines = [path.summary, ""]
    leg = 1
    for i, hop in enumerate(path.hops, 1):
        if hop.leg != leg:
            leg = hop.leg
            lines.append("  -- " + _("leg 2: docker-proxy's own connection to the container") + " --")
        where = hop.rule or (f"{hop.table}/{hop.chain} policy {hop.policy}" if hop.kind == "policy" else hop.name)
        lines.append(f"{i:3d}. [{word(hop.kind)}] {where}")
        lines.append(f"       {hop.explanation}")
        if hop.uncertain:
            lines.append("       " + _("uncertain: {why}").format(why=hop.uncertain))
    lines.append("")
    lines.append(_("verdict: {verdict}").format(verdict=word(path.verdict))
                 + (_(" (via {via})").format(via=word(path.via)) if path.via else ""))
    for d in path.doubts:
        lines.append("  " + _("uncertain because: {why}").format(why=d))
    if findings:
        lines.append("")
        lines.append(_("findings:"))
    for f in findings:
        lines.append(f"  [{word(f.severity)}] {f.reason}")
        if f.evidence:
            lines.append("         " + _("evidence: {evidence}").format(evidence=f.evidence))
    return "\n".join(lines)


def run_lab(args: argparse.Namespace) -> int:
    import signal

    from tui.lab import lab

    def interrupted(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # `up` undoes its work on SIGTERM as on Ctrl-C
    try:
        lab.require_root()
        if args.action == "up":
            lab.up(args.image)
        elif args.action == "down":
            lab.down()
        else:
            matrix = lab.status()
            if args.json:
                print(json.dumps({"icc": matrix.icc, "userland_proxy": matrix.userland_proxy, "cells": [
                    {"experiment": n, "client": c, "measured": cell.measured, "predicted": cell.predicted,
                     "verdict": cell.verdict, "reason": cell.reason, "target": cell.target}
                    for (n, c), cell in sorted(matrix.cells.items())]}, indent=2))
            else:
                print(lab.format_matrix(matrix))
            return 0 if not matrix.disagreements() else EXIT_NOT_DELIVERED
    except lab.LabError as exc:
        return _usage_error(str(exc))
    except KeyboardInterrupt:
        print("dockport-tui: " + _("lab interrupted"), file=sys.stderr)
        return 130
    return 0


def run_capture(args: argparse.Namespace) -> int:
    from tui.collect.bundle import capture

    problems = capture(args.dir)
    for p in problems:
        print("dockport-tui: " + _("not captured: {what}").format(what=p), file=sys.stderr)
    print(_("bundle written to {path}").format(path=args.dir)
          + (_(" ({count} parts missing)").format(count=len(problems)) if problems else ""))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the kernel agrees with the prediction, 1 when it does not, 2 when it cannot run."""
    import json

    from tui.verify.verify import VerifyError, report, verify

    port, _sep, proto = args.port.partition("/")
    proto = proto or "tcp"
    if not port.isdigit() or proto not in ("tcp", "udp"):
        return _usage_error(_("{port}: expected PORT or PORT/PROTO (tcp or udp)").format(port=args.port))
    try:
        result = verify(int(port), proto, args.origin, args.to, family=6 if args.ipv6 else 4)
    except VerifyError as exc:
        return _usage_error(f"verify: {exc}")
    except KeyboardInterrupt:
        print("dockport-tui: " + _("verify interrupted; what it added is removed"), file=sys.stderr)
        return 130
    print(json.dumps(result.as_json(), indent=2) if args.json else report(result))
    return 0 if result.agree else 1


# The commands that print one answer and end: nothing of theirs needs to be freed or cleaned up.
ONE_SHOT = frozenset({"trace", "reach", "tour"})
_command = ""
_whole_process = False  # set by `entry`: this process ends when the command does


def entry() -> None:
    """The `dockport-tui` command. After a one-shot answer is printed, the process ends without
    freeing a large host's objects one by one (about 100 ms at 20,000 rules); the TUI, `serve`,
    `lab`, `verify` and `capture` end the normal way, their cleanup included."""
    global _whole_process
    _whole_process = True
    import gc

    # Off from the start: the modules a command imports make thousands of objects, and the
    # collector's passes over them were 30 ms of a `trace` (of ~90 ms of imports). A one-shot
    # command frees nothing before it ends; `_main` turns it back on for every other command.
    gc.disable()
    code = main()
    if _command in ONE_SHOT:
        import os

        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:
            pass
        os._exit(code)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`| head`): no traceback; stdout is pointed at /dev/null so that
        # Python's own flush at exit does not fail again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _lang_in(argv: list[str]) -> str | None:
    """--lang before argparse runs: its help is written in that language too."""
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv) and argv[i + 1] in LANGUAGES:
            return argv[i + 1]
        if arg.startswith("--lang=") and arg[7:] in LANGUAGES:
            return arg[7:]
    return None


def _main(argv: list[str] | None) -> int:
    global _command
    set_language(_lang_in(sys.argv[1:] if argv is None else argv))
    args = _parser().parse_args(argv)
    _command = args.command or ""
    if _whole_process and _command not in ONE_SHOT and args.command is not None:
        # `entry` turned the cyclic collector off. A one-shot answer builds a host's objects once
        # and frees none of them before the process ends (its passes over 20,000 rules only cost
        # time); `serve`, `lab`, `verify` and `capture` run long enough to need it. The TUI turns
        # it on itself once its first frame is drawn.
        import gc

        gc.enable()
    if args.command == "serve":
        return run_serve(args)
    if args.command == "trace":
        return run_trace(args)
    if args.command == "capture":
        return run_capture(args)
    if args.command == "lab":
        return run_lab(args)
    if args.command == "verify":
        return run_verify(args)
    if args.command == "reach":
        return run_reach(args)
    if args.command == "tour":
        return run_tour(args)
    from tui.ui.app import DockportApp

    if args.demo:
        source = ("demo", str(demo_bundle_path()))
    elif args.bundle:
        if not Path(args.bundle).is_dir():
            return _usage_error(_("{path}: not a directory").format(path=args.bundle))
        source = ("bundle", args.bundle)
    else:
        source = ("live", "")
    state = None
    if source[0] != "live":
        # A bundle loads in milliseconds: before the first frame, not in a worker after it.
        from tui.collect.bundle import BundleError, load_bundle

        try:
            state = load_bundle(source[1], source=source[0])
        except BundleError as exc:
            return _usage_error(str(exc))
    return run_app(DockportApp(source=source, state=state))


def run_serve(args: argparse.Namespace) -> int:
    from tui import serve

    if args.serve_bundle and not Path(args.serve_bundle).is_dir():
        return _usage_error(_("{path}: not a directory").format(path=args.serve_bundle))
    if not args.serve_demo and not args.serve_bundle:
        why = serve.live_allowed()
        if why:
            return _usage_error(f"serve: {why}")
    if not serve.is_loopback(args.host):
        print(serve.exposure_warning(args.host), file=sys.stderr)
    command = serve.app_command(args.serve_demo, args.serve_bundle, getattr(args, "lang", None))
    serve.serve(command, args.host, args.port)
    return 0


def run_app(app, **run_options: object) -> int:
    """Run the TUI; 0 when the user (q, Ctrl-C), SIGTERM or SIGHUP ended it, else 1 with the
    reason on the terminal after the app has given it back."""
    app.run(**run_options)
    code = app.return_code or 0
    if code:
        print("dockport-tui: " + _("stopped by an error: {error}").format(error=app.failure or _("unknown error")),
              file=sys.stderr)
    return code
