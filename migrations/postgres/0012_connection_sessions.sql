-- Credentialed checks of saved connections (issue 26). `connections.session` is the
-- credentialed stages every check of the connection from its queues runs, as JSON (auth
-- info name, database, privileges; never a secret); NULL: reachability only, as before.
-- A binding keeps what each stage found at its last check (`stages`), when its last
-- login FAILED (`login_failed_at`: re-checks skip the login until the auth info is
-- updated after it), and whether it is FAILED for its credentials (`credentials_failed`:
-- such a binding is still re-checked, so it heals when the auth info is fixed).
-- A queue test's own host entries (`hosts`: names resolved before the queue's hosts file
-- and DNS, to try a route before it is saved), as JSON; NULL: none.
ALTER TABLE connectivity_tasks ADD COLUMN hosts TEXT;
ALTER TABLE connections ADD COLUMN session TEXT;
ALTER TABLE queue_bindings ADD COLUMN stages TEXT;
ALTER TABLE queue_bindings ADD COLUMN login_failed_at BIGINT;
ALTER TABLE queue_bindings ADD COLUMN credentials_failed BIGINT NOT NULL DEFAULT 0;
-- The server's claim finds due credentialed re-checks from these connections' bindings,
-- beside the CREATING bindings' index, instead of scanning every binding (see
-- `select_due_server_bindings`).
CREATE INDEX connections_with_session ON connections (id) WHERE session IS NOT NULL;
