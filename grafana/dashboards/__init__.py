"""One package per dashboard, one module per row; `crossings grafana build` writes each
dashboard's JSON next to them, as `<name>.json` (the folder Grafana's file provider reads)."""
