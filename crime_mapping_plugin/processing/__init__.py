"""Processing provider and algorithms of the Crime Mapping plugin."""
