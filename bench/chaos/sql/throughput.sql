-- The last value of every 1-minute throughput window.
SELECT toString(window_start) AS window_start, port_code, kind, direction, channel_type, crossings
FROM throughput_windows FINAL
