"""The foundation every flyer package may import: errors, progress, statistics conventions,
atomic writes, safe names, locks and the config base. It imports nothing of the libraries
(``flyer.data``, ``flyer.factors``, ``flyer.models``, ``flyer.risk``, ``flyer.backtest``) nor of
the application (CLI, nightly, workflow); ``tests/flyer/test_layers.py`` checks it."""
