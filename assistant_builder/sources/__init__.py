"""Stage 1, Sources: files and folders in, documents and question/answer pairs out, with
provenance (``ingest``). ``parsers/`` holds one parser per format."""
