"""The activation HPO (document 001): `study` (search space, config, the worker on the
scheduler) and `report` (best trial vs the documents, per-activation ranks, the document's
observations checked, Optuna's plots), built from the study's storage."""
