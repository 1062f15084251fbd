"""dockport-tui: where does a packet to a Docker port actually go?"""

__version__ = "0.1.0"
