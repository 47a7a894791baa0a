-- hubsync's control tables, all in schema `hubsync`. The per-connection schemas
-- (`hubspot_<hub_id>`) hold only views over these tables; they are created at run time
-- from the fields, never by a migration.

CREATE SCHEMA IF NOT EXISTS hubsync;

-- One installed portal.
CREATE TABLE hubsync.connections (
    id uuid PRIMARY KEY,
    hub_id bigint NOT NULL UNIQUE CHECK (hub_id > 0),
    -- Validated by the store's SchemaName parser; the CHECK repeats the rule so no row
    -- can hold a name that would need escaping in generated SQL.
    schema_name text NOT NULL UNIQUE CHECK (schema_name ~ '^[a-z][a-z0-9_]{0,62}$'),
    client_id text NOT NULL,
    -- version byte, key check, nonce, ciphertext and tag; see the store's crypto module.
    refresh_token_sealed bytea NOT NULL,
    refresh_token_updated_at timestamptz NOT NULL DEFAULT now(),
    granted_scopes text[] NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'reconnect_required', 'disabled')),
    status_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The tables of a connection: what the catalog offers, what the admin chose.
CREATE TABLE hubsync.tables (
    connection_id uuid NOT NULL REFERENCES hubsync.connections (id) ON DELETE CASCADE,
    table_name text NOT NULL CHECK (table_name ~ '^[a-z][a-z0-9_]*$'),
    kind text NOT NULL CHECK (kind IN ('standard', 'custom')),
    object_type text NOT NULL,
    object_type_id text NOT NULL,
    label text NOT NULL,
    name_property text NOT NULL,
    currency_property text,
    last_modified_property text NOT NULL,
    created_property text NOT NULL,
    -- The whole core TableSpec (joins, scopes) as last refreshed: the worker reads it.
    spec jsonb NOT NULL,
    -- The granted scopes allow it (and the portal has it).
    available boolean NOT NULL,
    skip_reason text,
    -- Admin settings: kept across metadata refreshes.
    enabled boolean NOT NULL DEFAULT true,
    custom_query jsonb,
    -- Start of the last complete run; null = never synced.
    watermark timestamptz,
    metadata_refreshed_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, table_name)
);

-- Property definitions and their mapped types. A property that vanished from HubSpot
-- keeps its row, marked archived, and loses its view column.
CREATE TABLE hubsync.fields (
    connection_id uuid NOT NULL,
    table_name text NOT NULL,
    property_name text NOT NULL CHECK (property_name ~ '^[A-Za-z0-9_]+$'),
    column_name text NOT NULL CHECK (column_name ~ '^[A-Za-z0-9_]{1,63}$'),
    label text NOT NULL,
    field_type text NOT NULL
        CHECK (field_type IN ('amount', 'number', 'user', 'string', 'picklist', 'bool', 'date')),
    sql_type text NOT NULL
        CHECK (sql_type IN ('numeric', 'text', 'text[]', 'boolean', 'date', 'timestamptz')),
    multi boolean NOT NULL,
    hubspot_type text NOT NULL,
    hubspot_field_type text NOT NULL,
    options jsonb NOT NULL DEFAULT '[]',
    currency_property text,
    calculated boolean NOT NULL,
    hidden boolean NOT NULL,
    -- The core Field as serialized: the source when the field is read back.
    field jsonb NOT NULL,
    -- HubSpot's property definition as received, when the caller had it.
    definition jsonb,
    archived_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, table_name, property_name),
    UNIQUE (connection_id, table_name, column_name),
    FOREIGN KEY (connection_id, table_name)
        REFERENCES hubsync.tables (connection_id, table_name) ON DELETE CASCADE
);

-- Record content: typed values in `values` (only values valid for their field type, so
-- the views' casts hold), raw text of values that did not parse in `unparsed`.
CREATE TABLE hubsync.records (
    connection_id uuid NOT NULL,
    table_name text NOT NULL,
    id bigint NOT NULL,
    name text,
    currency text,
    values jsonb NOT NULL,
    unparsed jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz,
    -- HubSpot's last-modified time: the upsert guard compares it.
    modified_at timestamptz NOT NULL,
    deleted_at timestamptz,
    merged_into bigint,
    synced_at timestamptz NOT NULL DEFAULT now(),
    last_run_id uuid,
    PRIMARY KEY (connection_id, table_name, id),
    FOREIGN KEY (connection_id, table_name)
        REFERENCES hubsync.tables (connection_id, table_name) ON DELETE CASCADE
);

CREATE TABLE hubsync.associations (
    connection_id uuid NOT NULL,
    from_table text NOT NULL,
    from_id bigint NOT NULL,
    to_table text NOT NULL,
    to_id bigint NOT NULL,
    type_id integer NOT NULL,
    -- HUBSPOT_DEFINED, USER_DEFINED or INTEGRATOR_DEFINED.
    category text NOT NULL,
    label text,
    synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, from_table, from_id, to_table, to_id, type_id),
    FOREIGN KEY (connection_id, from_table)
        REFERENCES hubsync.tables (connection_id, table_name) ON DELETE CASCADE
);

-- Joins read from the other side ("which deals point at this company").
CREATE INDEX associations_to ON hubsync.associations (connection_id, to_table, to_id);

-- Owners, refreshed wholesale by the planner.
CREATE TABLE hubsync.owners (
    connection_id uuid NOT NULL REFERENCES hubsync.connections (id) ON DELETE CASCADE,
    id text NOT NULL,
    -- "First Last", else the email, else the id: the label user fields show.
    label text NOT NULL,
    email text,
    first_name text,
    last_name text,
    user_id bigint,
    user_id_including_inactive bigint,
    owner_type text,
    archived boolean NOT NULL,
    teams jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz,
    updated_at timestamptz,
    synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, id)
);

CREATE TABLE hubsync.runs (
    id uuid PRIMARY KEY,
    connection_id uuid NOT NULL,
    table_name text NOT NULL,
    mode text NOT NULL CHECK (mode IN ('full', 'incremental')),
    window_start timestamptz NOT NULL,
    -- The run's start time: the watermark once the run completes.
    window_end timestamptz NOT NULL,
    -- The table's watermark when the run was planned: the committer's compare-and-set
    -- moves the watermark only if it still holds this value.
    previous_watermark timestamptz,
    status text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    records bigint NOT NULL DEFAULT 0,
    pages bigint NOT NULL DEFAULT 0,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    committed_at timestamptz,
    CHECK (window_start < window_end),
    FOREIGN KEY (connection_id, table_name)
        REFERENCES hubsync.tables (connection_id, table_name) ON DELETE CASCADE
);

-- At most one run of a table in flight: a second planner is refused by this index.
CREATE UNIQUE INDEX runs_one_running_per_table
    ON hubsync.runs (connection_id, table_name) WHERE status = 'running';
CREATE INDEX runs_recent ON hubsync.runs (connection_id, table_name, created_at DESC);
CREATE INDEX runs_created ON hubsync.runs (created_at DESC);

-- Chunk states are exactly core's ChunkState names; whether a pending chunk's job was
-- published is `published_at`, so re-publishing keeps the state machine unchanged.
CREATE TABLE hubsync.chunks (
    id uuid PRIMARY KEY,
    run_id uuid NOT NULL REFERENCES hubsync.runs (id) ON DELETE CASCADE,
    parent_id uuid REFERENCES hubsync.chunks (id) ON DELETE CASCADE,
    connection_id uuid NOT NULL,
    table_name text NOT NULL,
    depth integer NOT NULL DEFAULT 0,
    range_start timestamptz NOT NULL,
    range_end timestamptz NOT NULL,
    -- [id_low, id_high) of hs_object_id, only for splits inside one millisecond.
    id_low bigint,
    id_high bigint,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'succeeded', 'split', 'failed')),
    published_at timestamptz,
    -- Last hs_object_id written, so a redelivered chunk resumes after it.
    cursor bigint,
    attempts integer NOT NULL DEFAULT 0,
    records bigint NOT NULL DEFAULT 0,
    pages bigint NOT NULL DEFAULT 0,
    unparsed_values bigint NOT NULL DEFAULT 0,
    error text,
    worker_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    CHECK (range_start < range_end),
    CHECK ((id_low IS NULL) = (id_high IS NULL)),
    CHECK (id_low IS NULL OR id_low < id_high)
);

CREATE INDEX chunks_by_run ON hubsync.chunks (run_id);
CREATE INDEX chunks_by_parent ON hubsync.chunks (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX chunks_failed ON hubsync.chunks (connection_id) WHERE status = 'failed';
