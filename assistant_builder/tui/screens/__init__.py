"""One screen per stage, plus home and help. Each is imported only when first shown."""
