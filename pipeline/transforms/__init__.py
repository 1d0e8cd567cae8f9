"""The streaming job's transforms: functions Table -> Table, free of sources and sinks."""
