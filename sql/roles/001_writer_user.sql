-- The loader's user: writes the crossings database and applies its migrations
-- (grants in 002). The password comes from CROSSINGS_WRITER_PASSWORD when the file is applied
-- (see sql/README.md); it is never written here.
CREATE USER IF NOT EXISTS crossings_writer
    IDENTIFIED WITH sha256_password BY '${CROSSINGS_WRITER_PASSWORD}'
    DEFAULT DATABASE crossings;
