"""Deployment: the local service runner, the JVM artifacts pom, compose and Kubernetes files."""
