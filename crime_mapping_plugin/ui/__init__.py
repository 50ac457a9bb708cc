"""The Crime Mapping dock widget."""
