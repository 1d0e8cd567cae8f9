"""PyFlink job scripts: `main()` wires sources and sinks around `pipeline.transforms`."""
