-- What the catalog left out of a connection's sync and why (custom tables without
-- their scope, owners, joins to tables not synced), as core's `LeftOut` list: custom
-- tables left out have no table row to carry a skip reason, and `hubsync status` must
-- still say why they are not synced.
ALTER TABLE hubsync.connections ADD COLUMN left_out jsonb NOT NULL DEFAULT '[]';
