"""Event schemas, the port registry and the pseudonymiser shared by every stage of the pipeline."""
