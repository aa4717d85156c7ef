"""A published dataset version never changes: the database refuses updates to a succeeded row.

Only ``created_by`` may still change (Django sets it to NULL when that user is deleted). Deleting a version
(with its project) stays possible. PostgreSQL compares whole rows, so new columns are covered without a new
migration; SQLite (local use only) lists the columns.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION annotation_dataset_version_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'succeeded'
       AND (to_jsonb(NEW) - 'created_by_id') IS DISTINCT FROM (to_jsonb(OLD) - 'created_by_id') THEN
        RAISE EXCEPTION 'dataset version % is published and cannot change; create a new version', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER dataset_version_immutable BEFORE UPDATE ON annotation_datasetversion
    FOR EACH ROW EXECUTE FUNCTION annotation_dataset_version_immutable();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS dataset_version_immutable ON annotation_datasetversion;
DROP FUNCTION IF EXISTS annotation_dataset_version_immutable();
"""
_COLUMNS = ("id", "project_id", "number", "name", "filters", "granularity", "splits", "seed", "formats",
            "include_videos", "status", "progress", "row_counts", "sha256", "manifest", "folder", "error",
            "created_at", "finished_at")
SQLITE_FORWARD = f"""
CREATE TRIGGER dataset_version_immutable BEFORE UPDATE ON annotation_datasetversion
FOR EACH ROW WHEN OLD.status = 'succeeded' AND ({" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _COLUMNS)})
BEGIN SELECT RAISE(ABORT, 'dataset version is published and cannot change; create a new version'); END;
"""
SQLITE_REVERSE = "DROP TRIGGER IF EXISTS dataset_version_immutable;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor in ("postgresql", "sqlite"):
        schema_editor.execute(PG_FORWARD if vendor == "postgresql" else SQLITE_FORWARD, params=None)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor in ("postgresql", "sqlite"):
        schema_editor.execute(PG_REVERSE if vendor == "postgresql" else SQLITE_REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, reverse)]
