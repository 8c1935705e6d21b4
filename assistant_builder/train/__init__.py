"""Stage 3, Train: recipes, and a TRL SFT run in a child process (``launch`` is the parent side,
``worker`` the child). Kept free of imports so that ``--help`` and the app start without torch."""
