"""The ``edgegru`` command: a thin layer over the Python API, one module per subcommand."""
