"""Developer tools that live beside the library, not in it (run from the repository root)."""
