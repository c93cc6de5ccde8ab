"""The misuse studies (documents 000 and 002): `table` (the variants, what the documents
reported and claimed), `study` (config, the grid of units and the trainer the runner calls) and `report`
(intervals, verdicts, results.json / report.md / PNGs, built from the study's storage)."""
