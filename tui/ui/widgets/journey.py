"""The journey view (`j`): the selected path as the stages a packet passes through the host, with
the packet's header at each stage and what changed in it. n/p move the current stage; the hooks
the packet does not pass are dim; the verdict's reason stays at the bottom."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.i18n import N_, _, word
from tui.paths.journey import Journey, Stage, journey_of
from tui.paths.types import PacketFacts, Path
from tui.ui.render import NOTE, VERDICT_STYLE, join, palette, short_rule, wrapped
from tui.ui.words import translate_bindings

# What each kind of stage is, in a few words (hooks by their netfilter name).
STAGE_WORDS = {
    "client": N_("the sender"),
    "interface": N_("arrives"),
    "PREROUTING": N_("netfilter, before routing (raw, mangle, nat: DNAT happens here)"),
    "routing": N_("routing decision"),
    "INPUT": N_("netfilter, for the host itself"),
    "FORWARD": N_("netfilter, routed through the host (filter: Docker's ACCEPTs and DROPs)"),
    "OUTPUT": N_("netfilter, sent by the host (nat OUTPUT: DNAT for the host's own packets)"),
    "POSTROUTING": N_("netfilter, after routing (nat: MASQUERADE/SNAT happens here)"),
    "bridge": N_("the Linux bridge"),
    "veth": N_("the veth pair into the container"),
    "container": N_("the container's socket"),
    "socket": N_("a local socket"),
}
CHANGE_WORDS = {("dst",): "DNAT", ("dport",): "DNAT", ("dst", "dport"): "DNAT", ("src",): "SNAT/MASQUERADE",
                ("src", "sport"): "SNAT/MASQUERADE"}


class StageBox(Static):
    """One stage; its classes say whether it was passed and whether it is the current one."""


class JourneyScreen(Screen[None]):
    BINDINGS = [Binding("n", "move(1)", N_("Next stage")), Binding("p", "move(-1)", N_("Prev stage")),
                Binding("escape,j,q,f2", "dismiss", N_("Back"))]

    def __init__(self, path: Path, hop_index: int = -1) -> None:
        super().__init__()
        translate_bindings(self)
        self.journey: Journey = journey_of(path)
        lit = [i for i, s in enumerate(self.journey.stages) if s.passed]
        start = self.journey.stage_of_hop(hop_index) if hop_index >= 0 else (lit[0] if lit else 0)
        self.current = start

    def compose(self) -> ComposeResult:
        path = self.journey.path
        q = path.query
        yield Static(wrapped(_("Journey of {proto}/{port} from {origin} ({src} → {dst}) — n/p: stage, "
                               "Esc: back").format(proto=q.proto, port=q.port, origin=q.origin, src=q.src, dst=q.dst)),
                     id="journey-title")
        with VerticalScroll(id="journey"):
            leg = 0
            for i, stage in enumerate(self.journey.stages):
                if stage.leg != leg and leg:
                    yield Static(wrapped(_("── docker-proxy opens its own connection to the container (leg 2) ──")),
                                 classes="leg-break")
                leg = stage.leg
                yield StageBox(id=f"stage-{i}", classes="stage")
        yield Static(id="journey-verdict")
        yield Footer()

    def on_mount(self) -> None:
        self._draw()

    def action_move(self, step: int) -> None:
        lit = [i for i, s in enumerate(self.journey.stages) if s.passed]
        if not lit:
            return
        later = [i for i in lit if (i - self.current) * step > 0]
        self.current = (min(later) if step > 0 else max(later)) if later else self.current
        self._draw()

    def _draw(self) -> None:
        pal = palette(self)
        path = self.journey.path
        for i, stage in enumerate(self.journey.stages):
            box = self.query_one(f"#stage-{i}", StageBox)
            box.set_class(stage.passed, "passed")
            box.set_class(not stage.passed, "dim")
            box.set_class(i == self.current, "current")
            box.update(self._stage_text(stage, i == self.current, pal))
        self.query_one(f"#stage-{self.current}", StageBox).scroll_visible(animate=False)
        self.query_one("#journey-verdict", Static).update(
            wrapped(path.summary, pal(VERDICT_STYLE.get(path.verdict, ""))))

    def _stage_text(self, stage: Stage, current: bool, pal) -> Text:
        path = self.journey.path
        marker = "▶ " if current else "  "
        out = join((marker, "bold"), (word(stage.name), "bold"),
                   (f"  {stage.label}" if stage.label else "", pal(NOTE)),
                   (f"   {_(STAGE_WORDS[stage.name])}" if stage.name in STAGE_WORDS else "", "dim"))
        if not stage.passed:
            out.append("\n   " + _("not passed"), style="dim italic")
            return out
        if stage.packet is not None:
            out.append("\n   ")
            out.append_text(_header(stage.packet, stage.changed, pal))
            if stage.changed and stage.before is not None:
                what = CHANGE_WORDS.get(stage.changed) or _("rewritten")
                was = _endpoint(stage.before, stage.changed)
                out.append("   ← " + _("{what}: was {endpoint}").format(what=what, endpoint=was), style=pal("$warning"))
        for i in stage.hops:
            h = path.hops[i]
            if h.kind == "rule":
                deciding = stage.deciding and h is path.deciding_hop()
                where = f"{h.family + ' ' if h.family else ''}{h.table}/{h.chain}"
                text = h.rule if (deciding or h.family) else short_rule(h.rule)
                out.append("\n   ")
                out.append_text(join((f"{where}: ", "dim"), (text, "bold" if deciding else ""),
                                     ("   ◆ " + _("deciding") if deciding else "", pal("$accent"))))
            elif h.kind == "policy":
                out.append("\n   ")
                out.append_text(join((f"{h.table}/{h.chain} " + _("policy {policy}").format(policy=h.policy), "dim")))
        if current:
            for i in stage.hops:
                out.append("\n   ")
                out.append_text(wrapped(path.hops[i].explanation, "italic"))
        return out


def _endpoint(p: PacketFacts, changed: tuple[str, ...]) -> str:
    if "dst" in changed or "dport" in changed:
        return _addr(p.dst, p.dport)
    return _addr(p.src, p.sport)


def _addr(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _header(p: PacketFacts, changed: tuple[str, ...], pal) -> Text:
    """proto src:sport → dst:dport, the fields this stage rewrote marked."""
    mark = pal("bold $warning")

    def part(value: str, fields: tuple[str, ...]) -> tuple[str, str]:
        return value, mark if any(f in changed for f in fields) else ""

    return join((f"{p.proto} ", "bold"), part(_addr(p.src, p.sport), ("src", "sport")), " → ",
                part(_addr(p.dst, p.dport), ("dst", "dport")))
