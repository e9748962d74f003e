"""The piccolo app that owns Polyroute's tables and the migrations folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.db.tables import ALL_TABLES

__all__ = ["APP_CONFIG"]

APP_CONFIG = AppConfig(
    app_name="polyroute",
    migrations_folder_path=str(Path(__file__).resolve().parents[2] / "migrations"),
    table_classes=list(ALL_TABLES),
    migration_dependencies=[],
    commands=[],
)
