"""The app's modal screens: help, what could not be read, and asking before `verify` changes the host."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.i18n import N_, _, word
from tui.model import HostState
from tui.ui.render import wrapped
from tui.ui.words import translate_bindings


class WarningsScreen(ModalScreen[None]):
    """Everything the collectors could not read (and why, and how to get it), and host findings."""

    BINDINGS = [Binding("escape,q,w", "dismiss", N_("Close"))]

    def __init__(self, state: HostState | None) -> None:
        super().__init__()
        translate_bindings(self)
        self.state = state

    def compose(self) -> ComposeResult:
        from tui.paths.findings import host_findings

        st = self.state
        if st is None:
            lines = [_("Nothing collected yet.")]
        else:
            missing = ", ".join(sorted(st.missing)) or _("nothing")
            lines = [_("Not captured: {missing}").format(missing=missing), ""]
            for w in st.warnings:
                lines.append(f"⚠ [{w.source}] {w.message}")
                if w.hint:
                    lines.append(f"    → {w.hint}")
            for f in host_findings(st):
                lines.append(f"{word(f.severity)}: {f.reason}")
                if f.evidence:
                    lines.append(_("    evidence: {evidence}").format(evidence=f.evidence))
            if not st.warnings and not st.missing:
                lines.append(_("Everything was read."))
        yield Static(wrapped("\n".join(lines)), id="help-body")


HELP_KEYS = (
    ("Enter", N_("trace the selected port")),
    ("o / O", N_("next / previous origin (external, host, localhost, each container)")),
    ("n / p", N_("step to the next / previous hop (focus follows the hop)")),
    ("f2", N_("presenter mode: the journey of the selected path (without one: path and explanation)")),
    ("/", N_("filter containers and rules; Esc clears")),
    ("r", N_("re-collect now")),
    ("ctrl+s", N_("save the screen as SVG (for slides)")),
    ("w", N_("what could not be read, why, and how to get it (warnings)")),
    ("v", N_("verify: one real connection, traced by the kernel, beside the path (root, live)")),
    ("j", N_("the packet's journey: hook by hook, its header at each stage (n/p move, Esc back)")),
    ("t", N_("the talk's tour: its five experiments and four open questions, answered here")),
    ("m", N_("who reaches this port: every origin's verdict and deciding rule (Enter: use that origin)")),
    ("l", N_("lab view: the talk's experiments, measured vs predicted (after `lab up`)")),
    ("ctrl+p", N_("command palette")),
    ("?", N_("this help;  q  quit")),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", N_("Close"))]

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)

    def compose(self) -> ComposeResult:
        lines = [_("dockport-tui — where does a packet to this port go?"), ""]
        lines += [f"{key:<10} {_(what)}" for key, what in HELP_KEYS]
        lines += ["", _("Port kinds: published (host ip:port → container port), loopback (bound to 127.0.0.1), "
                        "ephemeral (host port chosen by Docker: -p C or -P), expose-only (EXPOSE/--expose, not "
                        "published)."),
                  _("Rules: highlighted rules matched, numbered by hop; ◆ marks the deciding one; dim = not "
                    "Docker's.")]
        yield Static(wrapped("\n".join(lines)), id="help-body")


VERIFY_CHANGES = N_(
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

    BINDINGS = [Binding("y", "answer(True)", N_("Yes")), Binding("n,escape,q", "answer(False)", N_("No"))]

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)

    def compose(self) -> ComposeResult:
        yield Static(wrapped(_(VERIFY_CHANGES)), id="help-body")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
