"""Input pipeline: tokenized examples to fixed-shape, checkpointable batches (built on Grain)."""
