"""The studies and the one runner they share: `runner` (config fields, unit records, the
claim -> train -> finish loop, a study's command), `queue` (a study's units in an Optuna storage),
`storage` (journal files, SQLAlchemy URLs), `workers` (a process per core or device); one package
per study (a source of units, a trainer, a report)."""
