"""One module per search-parameter type, each owning index extraction and query compilation."""
