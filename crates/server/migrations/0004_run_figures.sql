-- Each run's share of the metrics (mandate_report's RunFigures, as JSON) and the run's
-- verification, kept with the number of entries they cover: a report reads one row per
-- run, and a run is read again only when it has grown since.
CREATE TABLE run_figures (
    run_id TEXT PRIMARY KEY,
    entries BIGINT NOT NULL,
    figures TEXT NOT NULL,
    verified BIGINT NOT NULL,
    verify_detail TEXT NOT NULL
);
