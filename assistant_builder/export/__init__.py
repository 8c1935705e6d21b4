"""Stage 5, Export: the registry of verified exports (adapter, merged, GGUF, Ollama, dataset)."""
