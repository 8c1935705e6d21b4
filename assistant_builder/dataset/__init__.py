"""Stage 2, Dataset: chat conversations from the sources: questions for prose, paraphrases,
dedup, the leak-free split, human review and dataset exports."""
