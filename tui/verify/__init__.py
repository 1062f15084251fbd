"""Ask the kernel: one real connection, traced, beside the prediction (`dockport-tui verify`)."""
