-- heal demo estate, part 4: run outside a transaction, one statement at a time.
--
-- planted invalid_index: someone tried to make post slugs globally unique, but slugs repeat
-- across orgs. CREATE UNIQUE INDEX CONCURRENTLY fails with a unique violation and leaves
-- the index behind with indisvalid = false. The build expects (and swallows) that error.
CREATE UNIQUE INDEX CONCURRENTLY posts_slug_key ON content.posts (slug);
