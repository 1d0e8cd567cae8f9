-- crossings_reader acts as crossings_analyst; a granted role is a default role, so its
-- settings (readonly = 2) apply from login.
GRANT crossings_analyst TO crossings_reader;
