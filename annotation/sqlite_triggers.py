"""SQLite only (the embedded default): the trigger that keeps a published dataset version unchanged.

Migration 0002 creates it, but SQLite alters a table by rebuilding it, which drops the table's triggers: every
later migration of ``annotation_datasetversion`` would silently lift the guard (PostgreSQL's trigger compares
whole rows and survives ALTER TABLE). So after every ``migrate`` it is created again over the columns the table
has then.
"""

from django.db import connections

TABLE = "annotation_datasetversion"
MAY_CHANGE = {"created_by_id"}  # Django sets it to NULL when that user is deleted


def dataset_version_trigger(sender, *, using: str, **kwargs) -> None:
    """post_migrate receiver."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        if TABLE not in connection.introspection.table_names(cursor):
            return
        columns = [c.name for c in connection.introspection.get_table_description(cursor, TABLE)]
        changed = " OR ".join(f'NEW."{c}" IS NOT OLD."{c}"' for c in columns if c not in MAY_CHANGE)
        cursor.execute("DROP TRIGGER IF EXISTS dataset_version_immutable")
        cursor.execute(
            f"CREATE TRIGGER dataset_version_immutable BEFORE UPDATE ON {TABLE} "
            f"FOR EACH ROW WHEN OLD.status = 'succeeded' AND ({changed}) "
            "BEGIN SELECT RAISE(ABORT, 'dataset version is published and cannot change; create a new version'); END"
        )
