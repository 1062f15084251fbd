"""Plain data describing one Docker host. No I/O, no Textual."""

from msgspec.structs import replace

from tui.model.lookups import veth_owner
from tui.model.state import (
    Address,
    Chain,
    Container,
    Endpoint,
    HostFacts,
    HostState,
    IpSet,
    Link,
    Listener,
    Network,
    NftChain,
    NftRule,
    NftSet,
    NftTable,
    PortBinding,
    Proxy,
    Route,
    Rule,
    RuleSet,
    Stopped,
    Warning_,
    stopped_view,
)

__all__ = [
    "Address", "Chain", "Container", "Endpoint", "HostFacts", "HostState", "IpSet", "Link", "Listener",
    "Network", "NftChain", "NftRule", "NftSet", "NftTable", "PortBinding", "Proxy", "Route", "Rule", "RuleSet",
    "Stopped", "Warning_",
    "replace", "stopped_view", "veth_owner",
]
