"""CPU speed-ups of the training and answering paths, each measured in benchmarks/README.md."""
