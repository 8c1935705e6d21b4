"""Everything that runs a model: loading, the embedded default, the generation engine, the answer
cache and the measured CPU speed-ups. Shared by the stages; imports nothing from them."""
