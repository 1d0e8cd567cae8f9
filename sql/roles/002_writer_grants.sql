-- What the loader and `crossings migrate` need: read and insert rows, create the database,
-- its tables and materialized views.
GRANT SELECT, INSERT, CREATE DATABASE, CREATE TABLE, CREATE VIEW ON crossings.* TO crossings_writer;
