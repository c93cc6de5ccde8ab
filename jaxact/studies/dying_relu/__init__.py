"""The dying ReLU head (issue #25): document 000's regression with a ReLU output on standardized
labels, over many seeds: `study` (the variant table, the config, the trainer) and `report` (death
rate with a Clopper-Pearson interval, dead at initialization vs during training, the change that
keeps the head alive, and whether the documents' 0.63 MSE is within what one seed gives)."""
