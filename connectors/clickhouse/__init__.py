"""The warehouse: one small interface over embedded chdb and a ClickHouse server."""

from connectors.clickhouse.base import QueryResult, Warehouse, WarehouseError, open_warehouse

__all__ = ["QueryResult", "Warehouse", "WarehouseError", "open_warehouse"]
