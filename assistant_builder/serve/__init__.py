"""The chat backend: an OpenAI-compatible endpoint over a trained run."""
