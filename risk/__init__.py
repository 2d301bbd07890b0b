"""A Barra-style equity risk model for A-shares (``flyer.risk``).

  * ``RiskConfig`` (``flyer.risk.config``): frozen settings, content-hashed;
  * ``build(store, config) -> RiskModel`` (``flyer.risk.model``): exposures, factor returns,
    residuals, factor covariance and specific risk for every date;
  * ``update`` / ``load`` (``flyer.risk.storage``): the model under ``$FLYER_HOME/risk/<key>/``,
    appended date by date;
  * ``benchmark_weights`` (``flyer.risk.benchmark``): point-in-time index weights, from the
    store's snapshots or estimated from free-float caps;
  * ``flyer.risk.validation``: R^2 by year, bias statistics, factor return tables.
Submodules import numpy/numba/polars; import them where they are used (the CLI does).
"""
from __future__ import annotations
