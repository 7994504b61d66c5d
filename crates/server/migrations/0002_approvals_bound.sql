-- What the reviewer of a held call is shown: the command, or the diff of the write
-- against the file as it was (redacted, as the record is).
ALTER TABLE approvals ADD COLUMN preview TEXT;
