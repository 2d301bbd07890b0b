"""flyer: A-share quant research and trading-signal platform (CLI, config, pipeline glue)."""
__version__ = "0.1.0"
