"""Date formats of the project (FORMAT_MODULE_PATH), over Django's for the locale."""
