"""The activation factorial (issue #25): every conv x FC activation of document 001's search space
at one learning rate, over seeds: `study` (the table of units, the config, the trainer the runner
calls) and `report` (main effects, cells, the documents' HPO claims and their sparsity
explanations decided from 95 % intervals, heat map, scatter, forest plot), built from the storage."""
