"""The activation HPO (document 001): `study` (search space, config, the TPE source of units
and the trainer the runner calls) and `report` (best trial vs the documents, per-activation ranks, the document's
observations checked, Optuna's plots), built from the study's storage."""
