-- The analyst role reads every table of the crossings database.
GRANT SELECT ON crossings.* TO crossings_analyst;
