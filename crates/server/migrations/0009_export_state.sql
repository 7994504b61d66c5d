-- What each export destination and webhook is doing (issue 19): `delivering`,
-- `retrying` (the receiver is down or busy) or `stopped` (it refused what was sent,
-- for good, too many times in a row), with the receiver's last answer and when the
-- state changed. `GET /api/v1/exports` shows it.
ALTER TABLE export_sink ADD COLUMN state TEXT NOT NULL DEFAULT 'delivering';
ALTER TABLE export_sink ADD COLUMN detail TEXT NOT NULL DEFAULT '';
ALTER TABLE export_sink ADD COLUMN state_since TEXT NOT NULL DEFAULT '';
