-- A user for analysts and Grafana (role granted in 006). The password comes from
-- CROSSINGS_ANALYST_PASSWORD when the file is applied (see sql/README.md).
CREATE USER IF NOT EXISTS crossings_reader
    IDENTIFIED WITH sha256_password BY '${CROSSINGS_ANALYST_PASSWORD}'
    DEFAULT DATABASE crossings;
