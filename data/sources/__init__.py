"""Market data sources: sim (offline default), files (CSV/Parquet) and akshare."""
