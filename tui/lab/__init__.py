"""The reachability lab: the talk's experiments, measured on the live engine and predicted."""
