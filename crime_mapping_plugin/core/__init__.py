"""Crime statistics and data handling, free of widgets and iface so that it can be tested fast."""
