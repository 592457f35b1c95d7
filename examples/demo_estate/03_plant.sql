-- heal demo estate, part 3: issues planted after the rows exist (see planted.json).
-- Most planted objects are declared in 01_schema.sql next to their table with a
-- "planted ..." comment; this file holds what can only be done once the data is there.

-- planted orphaned_rows (NOT VALID FK): 50 messages point at tickets that were hard-deleted
-- before the constraint was added. NOT VALID skips the check of the existing rows.
ALTER TABLE support.ticket_messages
    ADD CONSTRAINT ticket_messages_ticket_id_fkey
    FOREIGN KEY (ticket_id) REFERENCES support.tickets (id) NOT VALID;

COMMENT ON TABLE public.legacy_audit_2019 IS 'pre-2020 audit trail, kept "just in case"';
COMMENT ON TABLE public."UserPreferences" IS 'created by the old Rails app, hence the naming';
