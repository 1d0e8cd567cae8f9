-- Clean crossings per port, kind and direction, each event once (FINAL collapses redeliveries).
SELECT port_code, kind, direction, count() AS crossings
FROM crossings FINAL
GROUP BY port_code, kind, direction
