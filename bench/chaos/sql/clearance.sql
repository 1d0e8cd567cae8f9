-- The last value of every 5-minute clearance window.
SELECT toString(window_start) AS window_start, port_code, kind, direction,
       crossings, mean_s, p50_s, p90_s, p99_s, max_s
FROM clearance_windows FINAL
