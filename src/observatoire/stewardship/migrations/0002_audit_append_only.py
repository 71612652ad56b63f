"""The database itself refuses to change or delete a row of the audit trail."""

from __future__ import annotations

from typing import Any

from django.db import migrations

SQLITE = [
    """CREATE TRIGGER stewardship_auditevent_no_update BEFORE UPDATE ON stewardship_auditevent
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    """CREATE TRIGGER stewardship_auditevent_no_delete BEFORE DELETE ON stewardship_auditevent
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
]
POSTGRESQL = [
    """CREATE FUNCTION stewardship_auditevent_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER stewardship_auditevent_append_only
       BEFORE UPDATE OR DELETE ON stewardship_auditevent
       FOR EACH ROW EXECUTE FUNCTION stewardship_auditevent_append_only()""",
]


def forwards(apps: Any, schema_editor: Any) -> None:
    statements = {"sqlite": SQLITE, "postgresql": POSTGRESQL}.get(schema_editor.connection.vendor)
    for sql in statements or []:
        schema_editor.execute(sql)


def backwards(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS stewardship_auditevent_no_update")
        schema_editor.execute("DROP TRIGGER IF EXISTS stewardship_auditevent_no_delete")
    elif vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS stewardship_auditevent_append_only ON stewardship_auditevent")
        schema_editor.execute("DROP FUNCTION IF EXISTS stewardship_auditevent_append_only()")


class Migration(migrations.Migration):
    dependencies = [("stewardship", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
