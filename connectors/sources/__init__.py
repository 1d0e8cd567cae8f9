"""Event sources: each yields crossing events in `released_at` order (see `base.Source`)."""
