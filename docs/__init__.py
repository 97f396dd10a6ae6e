"""edgegru's documentation, shipped with the package (Markdown files; see README.md)."""
