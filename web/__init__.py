"""`labeler serve`: a web page and JSON API over the same job store and workers as the CLI."""
