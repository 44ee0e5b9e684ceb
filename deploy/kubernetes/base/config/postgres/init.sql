-- One database and one role per service. Idempotent: safe to run on every start.
-- Run by psql as the cluster's superuser, with these psql variables set:
--   user_password, ticket_password, communication_password, file_password
-- Natively hdms_tools.stack feeds them on stdin; in compose, config/postgres/initdb.sh does.
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY['hdms_user','hdms_ticket','hdms_communication','hdms_file']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)\gexec

SET password_encryption = 'scram-sha-256';
ALTER ROLE hdms_user          WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD :'user_password';
ALTER ROLE hdms_ticket        WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD :'ticket_password';
ALTER ROLE hdms_communication WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD :'communication_password';
ALTER ROLE hdms_file          WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD :'file_password';

SELECT format('CREATE DATABASE %I OWNER %I', d, d) FROM unnest(ARRAY['hdms_user','hdms_ticket','hdms_communication','hdms_file']) AS d
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d)\gexec

-- Each role reaches its own database only.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', d) FROM unnest(ARRAY['hdms_user','hdms_ticket','hdms_communication','hdms_file']) AS d\gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', d, d) FROM unnest(ARRAY['hdms_user','hdms_ticket','hdms_communication','hdms_file']) AS d\gexec

-- Per-role limits (PgBouncer 1.18 rejects the `options` startup parameter, so they live here).
-- TimeZone UTC matches Django's, so Django never issues a session-level SET TIME ZONE.
SELECT format('ALTER ROLE %I SET statement_timeout = %L', r, '30s') FROM unnest(ARRAY['hdms_user','hdms_ticket','hdms_communication','hdms_file']) AS r\gexec
SELECT format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', r, '60s') FROM unnest(ARRAY['hdms_user','hdms_ticket','hdms_communication','hdms_file']) AS r\gexec
SELECT format('ALTER ROLE %I SET lock_timeout = %L', r, '10s') FROM unnest(ARRAY['hdms_user','hdms_ticket','hdms_communication','hdms_file']) AS r\gexec
SELECT format('ALTER ROLE %I SET timezone = %L', r, 'UTC') FROM unnest(ARRAY['hdms_user','hdms_ticket','hdms_communication','hdms_file']) AS r\gexec
