"""Sources that build a HostState: the live host, or a capture bundle. No Textual here."""
