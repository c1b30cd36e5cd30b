-- The Airflow metadata database for airflow-staging in RDS instance staging-rds.
-- Safe to run again: it creates only what is missing and resets the user's password to the
-- value in SSM. Run it with psql as the admin user:
--
--   psql "host=$(aws rds describe-db-instances --region us-east-1 --db-instance-identifier staging-rds --query 'DBInstances[0].Endpoint.Address' --output text) port=5432 dbname=postgres user=postgres sslmode=require" \
--     -f database.sql
--
-- psql asks for the admin password. The script reads the Airflow user's password from
-- Parameter Store itself, so it is on no command line and in no file.

\set ON_ERROR_STOP on
\set airflow_password `aws ssm get-parameter --with-decryption --region us-east-1 --name dataplatform.staging.airflow.db_password --query Parameter.Value --output text`
SELECT :'airflow_password' = '' AS no_airflow_password \gset
\if :no_airflow_password
\echo 'Could not read the Airflow user password from SSM (see the aws error above).'
\quit
\endif

SELECT format('CREATE USER %I WITH PASSWORD %L', 'airflow', :'airflow_password')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'airflow')
\gexec

SELECT format('ALTER USER %I WITH PASSWORD %L', 'airflow', :'airflow_password')
\gexec

-- CREATE DATABASE has no IF NOT EXISTS and cannot run in a transaction: \gexec runs it alone.
SELECT format('CREATE DATABASE %I ENCODING %L TEMPLATE template0', 'airflow', 'UTF8')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'airflow')
\gexec

SELECT format('GRANT ALL PRIVILEGES ON DATABASE %I TO %I', 'airflow', 'airflow')
\gexec

-- PostgreSQL 15 and newer no longer let every user create in schema public.
\connect airflow
SELECT format('GRANT ALL ON SCHEMA public TO %I', 'airflow')
\gexec
