"""The app's modal screens: help, what could not be read, and asking before `verify` changes the host."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.model import HostState
from tui.ui.render import wrapped


class WarningsScreen(ModalScreen[None]):
    """Everything the collectors could not read (and why, and how to get it), and host findings."""

    BINDINGS = [Binding("escape,q,w", "dismiss", "Close")]

    def __init__(self, state: HostState | None) -> None:
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        from tui.paths.findings import host_findings

        st = self.state
        if st is None:
            lines = ["Nothing collected yet."]
        else:
            missing = ", ".join(sorted(st.missing)) or "nothing"
            lines = [f"Not captured: {missing}", ""]
            for w in st.warnings:
                lines.append(f"⚠ [{w.source}] {w.message}")
                if w.hint:
                    lines.append(f"    → {w.hint}")
            for f in host_findings(st):
                lines.append(f"{f.severity}: {f.reason}")
                if f.evidence:
                    lines.append(f"    evidence: {f.evidence}")
            if not st.warnings and not st.missing:
                lines.append("Everything was read.")
        yield Static(wrapped("\n".join(lines)), id="help-body")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        lines = [
            "dockport-tui — where does a packet to this port go?",
            "",
            "Enter      trace the selected port",
            "o / O      next / previous origin (external, host, localhost, each container)",
            "n / p      step to the next / previous hop (focus follows the hop)",
            "f2         presenter mode: the journey of the selected path (without one: path and explanation)",
            "/          filter containers and rules; Esc clears",
            "r          re-collect now",
            "ctrl+s     save the screen as SVG (for slides)",
            "w          what could not be read, why, and how to get it (warnings)",
            "v          verify: one real connection, traced by the kernel, beside the path (root, live)",
            "j          the packet's journey: hook by hook, its header at each stage (n/p move, Esc back)",
            "t          the talk's tour: its five experiments and four open questions, answered here",
            "m          who reaches this port: every origin's verdict and deciding rule (Enter: use that origin)",
            "l          lab view: the talk's experiments, measured vs predicted (after `lab up`)",
            "ctrl+p     command palette",
            "?          this help;  q  quit",
            "",
            "Port kinds: published (host ip:port → container port), loopback (bound to 127.0.0.1),",
            "ephemeral (host port chosen by Docker: -p C or -P), expose-only (EXPOSE/--expose, not published).",
            "Rules: highlighted rules matched, numbered by hop; ◆ marks the deciding one; dim = not Docker's.",
        ]
        yield Static(wrapped("\n".join(lines)), id="help-body")


VERIFY_CHANGES = (
    "verify makes one real connection from the selected origin and asks the kernel how it went.\n\n"
    "For that connection only it adds, and removes again when done (also on error or interrupt):\n"
    "  • for the external origin, a network namespace and veth pair named dockport-verify-PID;\n"
    "  • TRACE rules in raw PREROUTING/OUTPUT that match only the probe's address and port\n"
    "    (and docker-proxy's own connection), tagged with that name;\n"
    "  • on hosts with native nftables tables, an nft table of that name setting nftrace;\n"
    "  • xtables-monitor / nft monitor processes reading the trace.\n\n"
    "It touches no rule it did not add. Go on?  y = yes (not asked again this session), n = no"
)


class ConfirmVerify(ModalScreen[bool]):
    """Asked once per session: the app is read-only until the user says yes."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape,q", "answer(False)", "No")]

    def compose(self) -> ComposeResult:
        yield Static(wrapped(VERIFY_CHANGES), id="help-body")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
