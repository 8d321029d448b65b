-- Staged, credentialed queue connection tests (issue 26). `service` is the protocol the
-- test verifies (NULL: TCP reachability only, as DLI's test); `session` the credentialed
-- stages asked for, as JSON (auth info name, database, privileges; never a secret);
-- `stages` what each stage found, as JSON, once the test has ended.
ALTER TABLE connectivity_tasks ADD COLUMN service TEXT;
ALTER TABLE connectivity_tasks ADD COLUMN session TEXT;
ALTER TABLE connectivity_tasks ADD COLUMN stages TEXT;
