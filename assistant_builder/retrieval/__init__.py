"""Retrieval over the workspace's own material: a BM25 index of its Q/A pairs and prose sections
(built with the dataset), the prompt that puts retrieved passages before a question, the
retrieval-aware (RAFT) training rows, and answering a question with its sources."""
