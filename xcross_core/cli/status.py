"""The `xcross` command's exit statuses."""

#: Success; a result that could not be written or an unexpected failure; bad input or usage; cancelled (Ctrl-C).
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130
