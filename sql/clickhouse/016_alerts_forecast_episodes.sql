-- crossings.alerts also carries the forecast job's early warnings (issue 21): the episode's
-- type ('clearance': a spike of the measured p90; 'forecast': the 30-minute forecast above the
-- threshold) and, for a forecast episode at a port with peers for its kind, the diversion
-- advice: the peer port with the lowest forecast, that forecast (s) and how many minutes less
-- it is. Rows loaded before this, and messages that predate the fields, are clearance episodes.
ALTER TABLE alerts
    ADD COLUMN IF NOT EXISTS episode_type LowCardinality(String) DEFAULT 'clearance',
    ADD COLUMN IF NOT EXISTS advice_port_code Nullable(String),
    ADD COLUMN IF NOT EXISTS advice_forecast_s Nullable(Float64),
    ADD COLUMN IF NOT EXISTS advice_difference_min Nullable(Float64)
