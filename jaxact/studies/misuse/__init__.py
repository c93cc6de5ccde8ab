"""The misuse studies (documents 000 and 002): `table` (the variants, what the documents
reported and claimed), `study` (config, units, the engine glue the scheduler runs) and `report`
(intervals, verdicts, results.json / report.md / PNGs, built from the study's storage)."""
