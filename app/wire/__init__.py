"""msgspec structs for each wire dialect; no logic."""
