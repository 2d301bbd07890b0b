"""Market data sources behind one protocol (``flyer.data.sources.base``): ``sim`` (the offline
default), ``files`` (CSV/Parquet), ``ashare`` (the staged real data) and ``akshare``.

    from flyer.data.sources import ingest, make_source
    ingest(store, make_source("sim", stocks=800))
"""
from flyer.data.sources.base import (
                                     Batch,
                                     Source,
                                     ingest,
                                     kinds,
                                     make_source,
                                     register,
                                     source_from_dict,
                                     to_dict,
)

__all__ = ["Batch", "Source", "ingest", "kinds", "make_source", "register", "source_from_dict", "to_dict"]
