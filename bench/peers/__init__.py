"""Peers of the crossings job for `make bench`, each in a virtualenv of its own."""
